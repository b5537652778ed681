"""A trace estimated over the server's budget is refused up front, naming seq_len and the longest that fits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engine import Config
from server.app import create_app
from server.scheduling import cost
from server.scheduling.budgets import max_trace_seq_len, trace_too_long
from server.settings import Settings
from server.sharing import request_key
from tests.server.ws_helpers import receive_frame, run_config

LONG = {"cell": "lstm", "seq_len": 200, "hidden_size": 16}
# A budget that holds LONG at 100 steps and not at 200: the refusal must name a seq_len in between.
BUDGET = cost.trace_seconds(Config.from_dict({**LONG, "seq_len": 150}))
# The largest settings the table allows: the largest model at its largest batch, and the encoder-decoder's.
LARGEST = [{"cell": "lstm", "seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True,
            "batch_size": 3},
           {"cell": "lstm", "arch": "encoder-decoder", "task": "copy", "seq_len": 2000, "hidden_size": 256,
            "num_layers": 4, "bidirectional": True, "batch_size": 1}]  # fmt: skip


@pytest.fixture(scope="module")
def budgeted():
    with TestClient(create_app(Settings(max_concurrent=2, max_trace_seconds=BUDGET))) as c:
        yield c


def test_the_longest_seq_len_named_is_the_last_one_whose_estimate_fits():
    for lag in (False, True):
        most = max_trace_seq_len(Config.from_dict(LONG), BUDGET, lag)
        assert 1 <= most < 200
        assert cost.trace_seconds(Config.from_dict({**LONG, "seq_len": most}), lag) <= BUDGET
        assert cost.trace_seconds(Config.from_dict({**LONG, "seq_len": most + 1}), lag) > BUDGET


def test_a_run_over_the_budget_is_refused_by_seq_len_and_one_at_the_limit_is_served(budgeted):
    most = max_trace_seq_len(Config.from_dict(LONG), BUDGET)
    with budgeted.websocket_connect("/ws") as ws:
        refused = run_config(ws, LONG, 1)
        assert refused.start is None and refused.end["type"] == "error" and refused.end["field"] == "seq_len"
        assert f"seq_len must be at most {most} " in refused.end["message"]
        served = run_config(ws, {**LONG, "seq_len": most}, 2)
        assert served.end["type"] == "done" and len(served.backward) == most


def test_a_document_over_the_budget_is_refused_as_the_run_is(budgeted):
    r = budgeted.post("/api/trace", json=LONG)
    assert r.status_code == 422 and r.json()["field"] == "seq_len"
    assert f"at most {max_trace_seq_len(Config.from_dict(LONG), BUDGET)} " in r.json()["message"]


def test_a_prefetch_over_the_budget_computes_nothing(budgeted):
    sharing = budgeted.app.state.hub.sharing
    key = request_key("run", Config.from_dict({**LONG, "seed": 99}))
    with budgeted.websocket_connect("/ws") as ws:
        ws.send_json({"type": "prefetch", "configs": [{**LONG, "seed": 99}]})
        assert receive_frame(ws)[0] == {"type": "prefetched", "ready": 0}
    assert key not in sharing.flights and sharing.memory.get(key) is None


@pytest.mark.parametrize("config", LARGEST, ids=["largest batch", "encoder-decoder"])
def test_the_largest_settings_are_refused_by_name_under_the_default_budget(client, config):
    budget = Settings().max_trace_seconds
    message, field = trace_too_long(Config.from_dict(config), budget)
    most = max_trace_seq_len(Config.from_dict(config), budget)
    assert field == "seq_len" and f"seq_len must be at most {most} " in message and f"{budget:g} s" in message
    with client.websocket_connect("/ws") as ws:
        end = run_config(ws, config, 1).end
    assert (end["type"], end["field"], end["message"]) == ("error", "seq_len", message)


def test_a_setting_over_the_budget_at_one_step_names_hidden_size():
    config = Config.from_dict(LARGEST[0])
    tiny = cost.trace_seconds(Config.from_dict({**LARGEST[0], "seq_len": 1})) / 2
    message, field = trace_too_long(config, tiny)
    assert field == "hidden_size" and "even one step" in message
