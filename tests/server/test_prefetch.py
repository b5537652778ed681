"""A slider's neighbouring settings computed ahead at low priority: into the cache, refused as busy whenever a
computation slot is taken or work waits, at most four a message and one batch a socket."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from tests.server.ws_helpers import SMALL, GatedTracer, read_run, receive_frame, run_config, wait_until


def seeded(seed: int) -> dict:
    return {**SMALL, "seed": seed}


def test_prefetched_settings_are_computed_once_into_the_cache_and_a_run_of_one_is_served_from_it(gated):
    client, tracer, hub = gated
    tracer.gate.set()
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "prefetch", "configs": [seeded(1), seeded(2)]})
        frame, _ = receive_frame(ws)
        assert frame == {"type": "prefetched", "ready": 2}
        assert tracer.finished == 2
        hits = hub.sharing.stats.hits
        run = run_config(ws, seeded(2), 1)
        assert run.end["type"] == "done" and tracer.finished == 2
        assert hub.sharing.stats.hits == hits + 1
        # Asked again, a cached setting costs nothing.
        ws.send_json({"type": "prefetch", "configs": [seeded(1)]})
        assert receive_frame(ws)[0] == {"type": "prefetched", "ready": 1} and tracer.finished == 2


def test_a_prefetch_is_refused_busy_while_every_slot_computes_and_queues_nothing():
    tracer = GatedTracer()
    with TestClient(create_app(Settings(max_concurrent=1), tracer=tracer)) as client:
        hub = client.app.state.hub
        with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
            a.send_json({"type": "run", "config": seeded(1)})
            tracer.wait_entered()
            b.send_json({"type": "prefetch", "configs": [seeded(2), seeded(3)]})
            frame, _ = receive_frame(b)
            assert frame["type"] == "prefetched" and frame["ready"] == 0 and frame["busy"] is True
            assert frame["retry_after_s"] >= 1
            assert hub.scheduler.queue_length == 0 and hub.scheduler.running == 1
            # Work waiting for the slot refuses it too, even once the slot frees.
            b.send_json({"type": "run", "config": seeded(4)})
            wait_until(lambda: hub.scheduler.queue_length == 1)
            b.send_json({"type": "prefetch", "configs": [seeded(5)]})
            assert receive_frame(b)[0]["busy"] is True
            tracer.gate.set()
            assert read_run(a, 1).end["type"] == "done"
            assert read_run(b, 1).end["type"] == "done"
        assert tracer.finished == 2  # a's run and b's: nothing prefetched


def test_a_new_prefetch_replaces_the_socket_batch_in_flight(gated):
    client, tracer, hub = gated
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "prefetch", "configs": [seeded(1), seeded(2), seeded(3)]})
        tracer.wait_entered()  # seed 1 computing
        ws.send_json({"type": "prefetch", "configs": [seeded(4)]})
        wait_until(lambda: tracer.finished == 0 and len(hub.sharing.flights) == 1)
        tracer.gate.set()
        assert receive_frame(ws)[0] == {"type": "prefetched", "ready": 1}
        assert run_config(ws, seeded(9), 1).end["type"] == "done"  # no other prefetched frame came before it
        wait_until(lambda: tracer.finished == 3)  # seeds 1 (its thread ran out, discarded), 4 and 9; never 2 or 3
        assert hub.sharing.stats.hits == 0


def test_a_prefetch_names_one_to_four_valid_settings_and_a_bad_one_leaves_the_socket_usable(client):
    with client.websocket_connect("/ws") as ws:
        for configs, field, words in (
            ([seeded(s) for s in range(5)], "configs", "1 to 4 config objects; got 5 of them"),
            ([], "configs", "got 0 of them"),
            ({"seed": 1}, "configs", "got a JSON object"),
            ([seeded(1), {"seq_len": -3}], "seq_len", "configs[1]: seq_len"),
            ([seeded(1), 7], "configs", "configs[1] must be an object"),
        ):
            ws.send_json({"type": "prefetch", "configs": configs})
            frame, _ = receive_frame(ws)
            assert frame["type"] == "error" and frame["run"] is None and frame["field"] == field, frame
            assert words in frame["message"], frame
        assert run_config(ws, SMALL, 1).end["type"] == "done"
