"""The config table: every key validated with a clear error, link round trips, lenient link parsing."""

import pytest

from engine.config import FIELD_BY_NAME, FIELDS, LINK_VERSION, MAX_TRACE_CELLS, Config, ConfigError, parse_query

BAD_VALUES = {
    "cell": ["lstmx", 3, None],
    "nonlinearity": ["sigmoid", True],
    "arch": ["many-to-few", ""],
    "task": ["imagenet", 1.5],
    "seq_len": [0, 2001, 10.5, "50", True],
    "tbptt": [-1, 2001, 2.5, "10", True],
    "hidden_size": [0, 257, -1],
    "num_layers": [0, 5],
    "bidirectional": ["yes", 1, None],
    "reverse_source": ["yes", 1, None],
    "init": ["xavier"],
    "gain": [-0.1, 10.01, float("nan"), float("inf"), "1"],
    "forget_bias": [-10.5, 11],
    "clip": ["both"],
    "clip_at": [0, -1, 1e6 + 1, float("nan")],
    "optimizer": ["lbfgs"],
    "lr": [0, 1e-7, 11],
    "batch_size": [0, 257],
    "steps": [0, 5001],
    "seed": [-1, 2**31],
}


def test_every_key_has_bad_values_tested():
    assert set(BAD_VALUES) == {f.name for f in FIELDS}


@pytest.mark.parametrize("key,value", [(k, v) for k, vs in BAD_VALUES.items() for v in vs])
def test_invalid_value_names_key_and_allowed_range(key, value):
    with pytest.raises(ConfigError) as err:
        Config.from_dict({key: value})
    assert err.value.field == key
    msg = str(err.value)
    assert msg.startswith(key + " must be")
    f = FIELD_BY_NAME[key]
    if f.kind == "choice":
        assert all(repr(c) in msg for c in f.choices)
    elif f.kind in ("int", "float"):
        assert "from" in msg or "greater than" in msg


def test_unknown_key():
    with pytest.raises(ConfigError) as err:
        Config.from_dict({"seq_length": 5})
    assert err.value.field == "seq_length" and "unknown config key" in str(err.value)


def test_not_an_object():
    with pytest.raises(ConfigError):
        Config.from_dict([1, 2])


def test_defaults_and_bounds_accepted():
    assert Config.from_dict({}) == Config()
    for f in FIELDS:
        assert Config.from_dict({f.name: f.default}) == Config()
        if f.kind in ("int", "float") and not f.low_open:
            Config.from_dict({f.name: f.low, "seq_len": 2} if f.name != "seq_len" else {f.name: f.low})
    Config.from_dict({"seq_len": 2000, "batch_size": 1})


def test_whole_floats_accepted_for_ints():
    assert Config.from_dict({"seq_len": 20.0}).seq_len == 20


def test_normalisation_rules():
    assert Config.from_dict({"arch": "one-to-one", "seq_len": 80}).seq_len == 1
    assert Config.from_dict({"cell": "lstm", "nonlinearity": "relu"}).nonlinearity == "tanh"
    assert Config.from_dict({"cell": "rnn", "nonlinearity": "relu"}).nonlinearity == "relu"


def test_work_cap():
    big = {"seq_len": 2000, "hidden_size": 256, "num_layers": 4, "bidirectional": True}
    Config.from_dict({**big, "batch_size": 1})
    with pytest.raises(ConfigError) as err:
        Config.from_dict({**big, "batch_size": 4})
    assert err.value.field == "batch_size" and f"{MAX_TRACE_CELLS:,}" in str(err.value)


def test_link_round_trip():
    cfg = Config.from_dict({"cell": "gru", "seq_len": 37, "clip": "norm", "clip_at": 0.5, "bidirectional": True})
    q = cfg.to_query()
    assert q["v"] == str(LINK_VERSION)
    assert set(q) == {"v", "cell", "seq_len", "clip", "clip_at", "bidirectional"}
    back, notices = parse_query(q)
    assert back == cfg and notices == []
    assert Config().to_query() == {"v": str(LINK_VERSION)}


def test_lenient_link_parsing_reports_what_it_ignored():
    cfg, notices = parse_query({"cell": "gru", "seq_len": "abc", "gain": "99", "colour": "red", "bidirectional": "1"})
    assert cfg.cell == "gru" and cfg.bidirectional is True
    assert cfg.seq_len == 50 and cfg.gain == 1.0
    fields = {n["field"] for n in notices}
    assert fields == {"seq_len", "gain", "colour"}
    assert any("using the default" in n["message"] for n in notices)


def test_describe_lists_every_key():
    described = [f.describe() for f in FIELDS]
    assert [d["name"] for d in described] == [f.name for f in FIELDS]
    seq = next(d for d in described if d["name"] == "seq_len")
    assert (seq["min"], seq["max"], seq["default"]) == (1, 2000, 50)


def test_link_over_the_work_cap_keeps_its_keys_and_shrinks_the_batch():
    cfg, notices = parse_query({"seq_len": "2000", "hidden_size": "256", "num_layers": "4", "bidirectional": "1"})
    assert (cfg.seq_len, cfg.hidden_size, cfg.num_layers, cfg.bidirectional) == (2000, 256, 4, True)
    assert cfg.batch_size == 3
    assert [n["field"] for n in notices] == ["batch_size"] and "using batch_size 3" in notices[0]["message"]
