"""Reading an uploaded CSV series: any line ending, strict cells, every cap checked while reading, short messages
naming the row and column.  The readers are called directly, as a parse worker calls them."""

from __future__ import annotations

import numpy as np
import pytest

from server.settings import Settings
from server.uploads import UploadRefused, read_series
from tests.server.hostile import big_cell_csv, cr_only_csv, huge_values_csv, long_header_csv, rows_csv, wide_csv


def csv_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_one_column_without_header():
    s = read_series(csv_bytes(["1", "2.5", "-3e1", "", "4"]))
    np.testing.assert_array_equal(s.values, [1, 2.5, -30, 4])
    assert s.name == "column 1"
    assert s.mean == pytest.approx(np.mean([1, 2.5, -30, 4])) and s.std == pytest.approx(np.std([1, 2.5, -30, 4]))


def test_a_chosen_column_under_a_header():
    s = read_series(csv_bytes(["date,price,volume", "d1,10,5", "d2,11,6", "d3,9.5,7"]), "price")
    np.testing.assert_array_equal(s.values, [10, 11, 9.5])
    assert s.name == "price"
    assert read_series(csv_bytes(["date,price,volume", "d1,10,5", "d2,11,6", "d3,9.5,7"]), 2).name == "volume"


@pytest.mark.parametrize("lines, column, row, field, words", [
    (["price", "1", "abc", "3"], None, 3, "price", "row 3, column 'price': 'abc' is not a finite number"),
    (["a,b", "1,2", "3", "5,6"], "b", 3, "b", "row 3 has 1 column(s)"),
    (["1", "2", "nan"], None, 3, "column 1", "'nan' is not a finite number"),
    (["a,b", "1,2", "3,4", "5,6"], None, 1, None, "has 2 columns; choose one ('a', 'b')"),
    (["a,b", "1,2", "3,4", "5,6"], "c", 1, None, "no column named 'c'"),
    (["a,b", "1,2", "3,4", "5,6"], 5, 1, None, "column 5 does not exist"),
    (["1", "2"], None, None, "column 1", "at least 3 are needed"),
    (["4", "4", "4"], None, None, "column 1", "constant"),
])  # fmt: skip
def test_malformed_csv_names_row_and_column(lines, column, row, field, words):
    with pytest.raises(UploadRefused) as e:
        read_series(csv_bytes(lines), column)
    assert words in e.value.message
    assert (e.value.row, e.value.column) == (row, field)


def test_size_cap_and_encoding():
    with pytest.raises(UploadRefused, match="at most 10 are allowed") as e:
        read_series(b"1\n2\n3\n4\n5\n6\n", None, Settings(max_series_bytes=10))
    assert e.value.status == 413
    with pytest.raises(UploadRefused, match="not UTF-8"):
        read_series(b"\xff\xfe1\n")


def refusal(data: bytes, column=None, limits: Settings | None = None) -> UploadRefused:
    with pytest.raises(UploadRefused) as e:
        read_series(data, column, limits or Settings())
    assert e.value.kind == "series" and len(e.value.message) < 600, e.value.message
    return e.value


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"])
def test_every_line_ending_reads_the_same_series(ending):
    s = read_series(cr_only_csv().replace(b"\r", ending))
    assert s.name == "price" and len(s.values) == 50
    np.testing.assert_array_equal(s.values[:8], [10, 11, 12, 13, 14, 15, 16, 10])


def test_a_cell_over_the_cap_is_refused_with_its_row():
    e = refusal(big_cell_csv(130_000))
    assert (e.row, e.field) == (3, "series") and "row 3 has a cell over 256 characters" in e.message


def test_a_huge_header_or_a_million_columns_is_refused_in_a_short_message():
    assert "row 1 has a cell over 256" in refusal(long_header_csv(1_900_000)).message
    e = refusal(wide_csv(150_000))
    assert "first row has more than 1,000 columns" in e.message and e.row == 1
    e = refusal(b"a,b\n" + b"1," * 1500 + b"2\n", "a")  # a later row: counted as read
    assert "row 2 has 1,501 columns" in e.message
    header = ",".join(f"name{i}" * 20 for i in range(900)).encode()
    e = refusal(header + b"\n" + b"1," * 899 + b"1\n")  # 900 long names, none chosen: listed, cut
    assert "choose one (" in e.message and "and 892 more" in e.message


def test_values_are_counted_while_reading_not_after():
    e = refusal(rows_csv(1_000_000))
    assert e.row == 100_001 and "more than 100,000 values" in e.message


def test_values_that_overflow_the_normalisation_are_refused_not_zeroed():
    e = refusal(huge_values_csv())
    assert e.column == "x" and "cannot be normalised" in e.message
    assert "'1e999' is not a finite number" in refusal(b"x\n1\n1e999\n3\n").message


def test_a_cell_quoted_into_a_message_is_cut():
    e = refusal(b"x\n1\n" + b"y" * 250 + b"\n3\n")
    assert "row 3, column 'x'" in e.message and "(250 characters)" in e.message and len(e.message) < 300
    e = refusal(b"x\n1\n2\n3\n", "c" * 10_000)
    assert "no column named" in e.message and "(10,000 characters)" in e.message
