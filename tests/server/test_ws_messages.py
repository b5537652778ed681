"""Every class of bad client message gets exactly one error frame, and the socket keeps working."""

from __future__ import annotations

import json

import pytest

from server.settings import Settings
from tests.server.ws_helpers import SMALL, read_run, receive_frame, run_config

MAX = Settings().max_message_bytes

# (what the client sends, the field the error must name, whether it is a numbered run request)
BAD = {
    "not json": ("{type: run}", None, False),
    "nan token": ('{"type": "run", "config": {"gain": NaN}}', None, False),
    "array": ('[{"type": "run"}]', None, False),
    "string": ('"run"', None, False),
    "missing type": ('{"config": {}}', "type", False),
    "unknown type": ('{"type": "jump"}', "type", False),
    "type not a string": ('{"type": 1}', "type", False),
    "unknown top-level key": ('{"type": "run", "confg": {}}', "confg", True),
    "key on stop": ('{"type": "stop", "config": {}}', "config", False),
    "config not an object": ('{"type": "run", "config": [1, 2]}', "config", True),
    "out of range": ('{"type": "run", "config": {"seq_len": 0}}', "seq_len", True),
    "above max": ('{"type": "run", "config": {"hidden_size": 257}}', "hidden_size", True),
    "wrong type string": ('{"type": "run", "config": {"seq_len": "abc"}}', "seq_len", True),
    "wrong type bool": ('{"type": "run", "config": {"seq_len": true}}', "seq_len", True),
    "fractional int": ('{"type": "run", "config": {"seq_len": 2.5}}', "seq_len", True),
    "bad choice": ('{"type": "run", "config": {"cell": "transformer"}}', "cell", True),
    "bool as string": ('{"type": "run", "config": {"bidirectional": "yes"}}', "bidirectional", True),
    "unknown config key": ('{"type": "run", "config": {"sequence_length": 5}}', "sequence_length", True),
    "lag not a bool": ('{"type": "run", "lag": 1}', "lag", True),
    "a training's lag not a bool": ('{"type": "train", "lag": "yes"}', "lag", True),
    "lag on stop": ('{"type": "stop", "lag": true}', "lag", False),
    "too big a model": (
        '{"type": "run", "config": {"seq_len": 2000, "hidden_size": 256, "batch_size": 256}}',
        "batch_size",
        True,
    ),
    "too deep in config": ('{"type": "run", "config": {"seq_len": ' + "[" * 20 + "]" * 20 + "}}", "seq_len", True),
    "too deep at the top": ('{"type": "run", "extra": ' + "[" * 100 + "]" * 100 + "}", "extra", True),
    "too deep for the parser": ("[" * 30_000 + "]" * 30_000, None, False),
    "too large": (json.dumps({"type": "run", "config": {}, "pad": "x" * MAX}), None, False),
}


@pytest.mark.parametrize("text, field, numbered", BAD.values(), ids=BAD.keys())
def test_bad_message_gets_one_error_and_the_socket_survives(client, text, field, numbered):
    with client.websocket_connect("/ws") as ws:
        ws.send_text(text)
        error, _ = receive_frame(ws)
        assert error["type"] == "error"
        assert error["field"] == field
        assert isinstance(error["message"], str) and error["message"]
        if field is not None:
            assert field in error["message"] or field in ("type", "config")
        # A run request takes a number even when refused; other messages do not.
        assert error["run"] == (1 if numbered else None)
        # The very next frame belongs to the following valid run: there was exactly one error frame.
        following = 2 if numbered else 1
        run = run_config(ws, SMALL, following)
        assert run.start is not None and run.end["type"] == "done"


def test_binary_message_is_refused(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b'{"type": "run"}')
        error, _ = receive_frame(ws)
        assert error["type"] == "error" and error["run"] is None and "binary" in error["message"]
        assert run_config(ws, SMALL, 1).end["type"] == "done"


def test_stop_when_idle_is_silent(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "stop"})
        run = run_config(ws, SMALL, 1)  # the first frame after the stop is run 1's start
        assert run.end["type"] == "done"


def test_missing_config_means_defaults(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "run"})
        run = read_run(ws, 1)
        assert run.start["config"]["seq_len"] == 50 and run.end["type"] == "done"


def test_a_rooms_repeated_run_text_is_checked_once_and_a_refused_one_every_time():
    """A room's followers send the presenter's setting in the same text at once: the second is the first's checked
    message (no second check); a refused text is refused again, naming its field, and is never kept."""
    from server.wire import messages

    settings = Settings()
    text = json.dumps({"type": "run", "config": {"cell": "lstm", "seq_len": 40, "seed": 77}})
    first = messages.parse_message(text, settings.max_message_bytes, settings.max_depth)
    assert messages.parse_message(text, settings.max_message_bytes, settings.max_depth) is first
    assert first.config.cell == "lstm" and first.config.seq_len == 40 and first.config.seed == 77
    bad = '{"type": "run", "config": {"seq_len": 0}}'
    for _ in range(2):
        with pytest.raises(messages.ProtocolError) as refused:
            messages.parse_message(bad, settings.max_message_bytes, settings.max_depth)
        assert refused.value.field == "seq_len"
    # Bounded: at most RECENT_TEXTS texts are kept, none longer than RECENT_TEXT_CHARS.
    for seed in range(messages.RECENT_TEXTS + 10):
        messages.parse_message(json.dumps({"type": "run", "config": {"seed": seed}}), settings.max_message_bytes,
                               settings.max_depth)
    assert messages._checked_recently.cache_info().currsize <= messages.RECENT_TEXTS
    long = json.dumps({"type": "run", "config": {"seed": 5}}) + " " * messages.RECENT_TEXT_CHARS
    kept = messages._checked_recently.cache_info().currsize
    assert messages.parse_message(long, settings.max_message_bytes, settings.max_depth).config.seed == 5
    assert messages._checked_recently.cache_info().currsize == kept
