"""The config table: every key validated with a clear error, link round trips, lenient link parsing."""

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import (
    FIELD_BY_NAME,
    FIELDS,
    LINK_VERSION,
    Config,
    ConfigError,
    check_against,
    describe_rules,
    parse_query,
)
from engine.config.space import MAX_TRACE_CELLS, SEQ2SEQ_TASKS

BAD_VALUES = {
    "cell": ["lstmx", 3, None],
    "nonlinearity": ["sigmoid", True],
    "arch": ["many-to-few", ""],
    "task": ["imagenet", 1.5],
    "seq_len": [0, 2001, 10.5, "50", True],
    "lag": [0, 2000, 2.5, "4", True],
    "tbptt": [-1, 2001, 2.5, "10", True],
    "hidden_size": [0, 257, -1],
    "num_layers": [0, 5],
    "bidirectional": ["yes", 1, None],
    "reverse_source": ["yes", 1, None],
    "attention": ["bahdanau", "Dot", 1, None],
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
    assert "at most 3 fits" in err.value.message  # 16,000,000 // (2000·256·4·2)
    # exactly at the cap is allowed: 1000 · 16 · 250 · 4 = 16,000,000 state values; one more unit is over it
    exact = {"seq_len": 1000, "batch_size": 16, "hidden_size": 250, "num_layers": 4}
    assert Config.from_dict(exact).trace_cells == MAX_TRACE_CELLS
    with pytest.raises(ConfigError):
        Config.from_dict({**exact, "hidden_size": 251})


def test_the_time_axis_is_2T_for_the_encoder_decoder_and_the_work_cap_counts_it():
    assert Config.from_dict({"seq_len": 30}).span == 30
    assert Config.from_dict({"arch": "one-to-one", "seq_len": 30}).span == 1
    assert Config.from_dict({"arch": "encoder-decoder", "task": "copy", "seq_len": 30}).span == 60
    # 1000 steps × 256 sequences × 32 units: 8.2 M cells for a one-module model, 16.4 M for the encoder-decoder.
    Config.from_dict({"arch": "many-to-many", "task": "copy", "seq_len": 1000, "batch_size": 256})
    with pytest.raises(ConfigError) as err:
        Config.from_dict({"arch": "encoder-decoder", "task": "copy", "seq_len": 1000, "batch_size": 256})
    assert err.value.field == "batch_size" and "2·seq_len 2000" in err.value.message
    assert "16,384,000" in err.value.message and "at most 250 fits" in err.value.message


def test_every_model_fits_at_batch_size_1():
    """The link fallback's promise: whatever the other keys, batch_size 1 is within the work cap."""
    top = {f.name: f.high for f in FIELDS if f.kind == "int" and f.name not in ("tbptt", "batch_size")}
    cfg = Config.from_dict({**top, "batch_size": 1, "arch": "encoder-decoder", "task": "copy", "bidirectional": True})
    assert cfg.trace_cells == 2 * 2000 * 256 * 4 * 2 <= MAX_TRACE_CELLS and cfg.largest_batch_size() == 1


def test_the_dataclass_is_checked_against_the_table():
    check_against(Config, FIELDS)  # Config, as written, is the table

    @dataclass(frozen=True)
    class Drifted:
        cell: str = "rnn"
        nonlinearity: str = "relu"  # the table's default is 'tanh'

    with pytest.raises(TypeError, match="nonlinearity"):
        check_against(Drifted, FIELDS[:2])

    @dataclass(frozen=True)
    class Short:
        cell: str = "rnn"
        nonlinearity: str = "tanh"

    check_against(Short, FIELDS[:2])
    with pytest.raises(TypeError, match="arch"):  # a key of the table the class lacks
        check_against(Short, FIELDS[:3])

    @dataclass(frozen=True)
    class Retyped:
        cell: int = 0

    with pytest.raises(TypeError, match="cell"):
        check_against(Retyped, FIELDS[:1])


def test_the_rules_described_are_the_rules_applied():
    rules = describe_rules()
    for rule in (r for r in rules if r["kind"] == "pinned"):
        f = FIELD_BY_NAME[rule["field"]]
        where = {k: vs[0] for k, vs in rule["not_applies"].items()}
        where.update({k: next(c for c in FIELD_BY_NAME[k].choices if c not in vs) for k, vs in rule["applies"].items()})
        if where.get("arch") == "encoder-decoder":
            where["task"] = "copy"
        other = f.high if f.kind == "int" else next(c for c in f.choices if c != rule["value"])
        assert getattr(Config.from_dict({**where, f.name: other}), f.name) == rule["value"]
    (choices,) = [r for r in rules if r["kind"] == "choices"]
    assert choices["when"] == {"arch": ["encoder-decoder"]} and choices["choices"] == list(SEQ2SEQ_TASKS)
    for task in FIELD_BY_NAME["task"].choices:
        try:
            Config.from_dict({"arch": "encoder-decoder", "task": task})
            taken = True
        except ConfigError as e:
            taken = False
            assert e.field == "task"
        assert taken == (task in choices["choices"])
    (cap,) = [r for r in rules if r["kind"] == "work_cap"]
    assert cap["max"] == MAX_TRACE_CELLS and cap["double_span"] == ["encoder-decoder"]


def test_link_round_trip():
    cfg = Config.from_dict({"cell": "gru", "seq_len": 37, "clip": "norm", "clip_at": 0.5, "bidirectional": True})
    q = cfg.to_query()
    assert q["v"] == str(LINK_VERSION)
    assert set(q) == {"v", "cell", "seq_len", "clip", "clip_at", "bidirectional"}
    back, notices = parse_query(q)
    assert back == cfg and notices == []
    assert Config().to_query() == {"v": str(LINK_VERSION)}


@pytest.mark.parametrize("link", ["http://lab.example:8000/?cell=gru&seq_len=37&seq_len=9#views",
                                  "?cell=gru&seq_len=37&seq_len=9", "cell=gru&seq_len=37&seq_len=9"])
def test_a_link_is_read_whole_or_by_its_query_as_its_pairs_are(link):
    pairs = [("cell", "gru"), ("seq_len", "37"), ("seq_len", "9")]  # a repeated key: refused by name either way
    assert parse_query(link) == parse_query(pairs)
    assert parse_query(link)[0].cell == "gru" and [n["field"] for n in parse_query(link)[1]] == ["seq_len"]


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


ENCDEC = {"arch": "encoder-decoder", "task": "copy"}


@pytest.mark.parametrize("link, batch_size", [
    # Issue 23: the fallback counted T once, so these links raised (a 500 on GET /) or gave batch_size 500.
    ({**ENCDEC, "task": "reverse", "seq_len": "2000", "hidden_size": "256", "num_layers": "4",
      "bidirectional": "true", "cell": "lstm"}, 1),
    ({**ENCDEC, "seq_len": "2000", "batch_size": "256"}, 125),  # 16,000,000 // (2·2000·32)
    ({**ENCDEC, "seq_len": "1000", "batch_size": "256"}, 250),
    ({"seq_len": "1000", "hidden_size": "64", "batch_size": "256"}, 250),
    ({"seq_len": "100", "batch_size": "256"}, 256),  # fits: untouched
])  # fmt: skip
def test_link_fallbacks_count_the_span_and_stay_within_bounds(link, batch_size):
    cfg, notices = parse_query(link)
    assert cfg.batch_size == batch_size and cfg.trace_cells <= MAX_TRACE_CELLS
    assert (cfg.arch, cfg.seq_len) == (link.get("arch", "many-to-one"), int(link["seq_len"]))
    if batch_size == int(link.get("batch_size", 16)):
        assert notices == []
    else:
        assert [n["field"] for n in notices] == ["batch_size"]
        assert notices[0]["message"].endswith(f"using batch_size {batch_size}")


def test_an_encoder_decoder_link_with_a_task_it_cannot_learn_keeps_the_task():
    cfg, notices = parse_query({"arch": "encoder-decoder", "task": "adding", "seq_len": "1000", "batch_size": "256"})
    assert (cfg.arch, cfg.task, cfg.batch_size) == ("many-to-one", "adding", 256)
    assert [n["field"] for n in notices] == ["arch"] and "'copy', 'reverse', 'translate'" in notices[0]["message"]


LINK_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["0", "1", "-1", "2001", "1e3", "0.5", "true", "lstm",
                                                              "encoder-decoder", "copy", "256", "2000", "nan"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([f.name for f in FIELDS] + ["v", "colour"]), LINK_TEXT), max_size=12))
def test_any_link_opens_on_a_config_its_own_checks_accept(items):
    cfg, notices = parse_query(items)
    assert Config.from_dict(cfg.to_dict()) == cfg  # every value within its field's bounds, every rule kept
    assert all(n["field"] in n["message"] for n in notices)


def test_attention_is_pinned_to_none_outside_the_encoder_decoder():
    assert Config.from_dict({"attention": "dot"}).attention == "none"
    seq2seq = {"arch": "encoder-decoder", "task": "reverse"}
    assert Config.from_dict({**seq2seq, "attention": "additive"}).attention == "additive"
