"""Link text: one reader (Field.parse, read_link) for every link, ASCII numbers only, each key given once."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import FIELD_BY_NAME, ConfigError, RepeatedKey, read_link
from engine.config.fields import MAX_NUMBER_CHARS
from engine.lab import CLIFF_FIELD_BY_NAME

SEQ_LEN, GAIN, LR = FIELD_BY_NAME["seq_len"], FIELD_BY_NAME["gain"], FIELD_BY_NAME["lr"]


@pytest.mark.parametrize("text, value", [
    ("50", 50), ("2000", 2000), ("1", 1), ("50.0", 50), ("5e1", 50), ("5E+1", 50), ("0500", 500),
])  # fmt: skip
def test_an_integer_is_written_in_ascii_digits(text, value):
    assert SEQ_LEN.parse(text) == value and isinstance(SEQ_LEN.parse(text), int)


@pytest.mark.parametrize("text, value", [("0.5", 0.5), (".5", 0.5), ("5.", 5.0), ("1e-06", 1e-6), ("-0", 0.0)])
def test_a_number_is_written_as_json_and_javascript_write_it(text, value):
    assert GAIN.parse(text) == value or LR.parse(text) == value


@pytest.mark.parametrize("text", [
    "５０", "٥٠", "５", "1_0", "1_000", " 50", "50 ", " 50 ", "\t50", "50\n", "+50", "0x10", "0b1", "nan", "inf",
    "Infinity", "-inf", "1e999", "", "-", ".", "e5", "1e", "1e+", "--5", "5-", "1,5", "½", "1" * 40,
])  # fmt: skip
def test_text_that_is_no_ascii_number_is_refused_naming_the_field(text):
    with pytest.raises(ConfigError) as e:
        SEQ_LEN.parse(text)
    assert e.value.field == "seq_len" and e.value.message.startswith("seq_len must be an integer from 1 to 2000")


def test_a_message_quotes_long_text_cut_short():
    with pytest.raises(ConfigError) as e:
        SEQ_LEN.parse("9" * 5000)
    assert len(e.value.message) < 400 and "… (5,000 characters)" in e.value.message


@pytest.mark.parametrize("text, value", [("1", True), ("true", True), ("TRUE", True), ("on", True), ("no", False)])
def test_a_bool_is_a_word(text, value):
    assert FIELD_BY_NAME["bidirectional"].parse(text) is value


@pytest.mark.parametrize("text", [" 1", "true ", "ｔｒｕｅ", "2", ""])
def test_a_bool_with_spaces_or_other_letters_is_refused(text):
    with pytest.raises(ConfigError):
        FIELD_BY_NAME["bidirectional"].parse(text)


def ascii_number(text: str) -> float | None:
    """The reference: JSON's and JavaScript's number text (ASCII digits, optional '-', '.', exponent) as float()."""
    if not text or len(text) > MAX_NUMBER_CHARS or not set(text) <= set("0123456789.-+eE") or text[0] == "+":
        return None
    if "+" in text.replace("e+", "").replace("E+", ""):
        return None
    try:
        return float(text)
    except ValueError:
        return None


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=10), st.from_regex(r"-?[0-9]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?",
                                                     fullmatch=True),
                 st.floats(allow_nan=True).map(repr), st.integers(-5, 3000).map(str)))
def test_every_numeric_field_reads_exactly_the_ascii_numbers_in_its_range(text):
    reference = ascii_number(text)
    for f in (SEQ_LEN, GAIN, LR, CLIFF_FIELD_BY_NAME["b0"]):
        allowed = reference is not None and math.isfinite(reference) and f.low <= reference <= f.high and (
            f.kind == "float" or reference.is_integer()) and not (f.low_open and reference == f.low)
        try:
            value = f.parse(text)
        except ConfigError as e:
            assert not allowed and e.field == f.name, (f.name, text)
            continue
        assert allowed and value == reference and f.check(value) == value, (f.name, text)


def test_read_link_reads_each_key_once_and_names_every_problem():
    items = [("seq_len", "10"), ("v", "1"), ("gain", "1_0"), ("cell", "lstm"), ("colour", "red"), ("cell", "gru"),
             ("cell", "rnn"), ("lr", "0.5")]
    values, problems = read_link(items, FIELD_BY_NAME, ignored=("v",))
    assert values == {"seq_len": 10, "lr": 0.5}
    assert [p.field for p in problems] == ["gain", "cell", "colour"]  # in the order met, each key once
    repeated = problems[1]
    assert isinstance(repeated, RepeatedKey) and repeated.message == "key 'cell' is given 3 times; give each key once"
    assert problems[2].message == "unknown key 'colour'"


def test_read_link_takes_a_mapping_too():
    assert read_link({"seq_len": "10"}, FIELD_BY_NAME) == ({"seq_len": 10}, [])
