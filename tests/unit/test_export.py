"""CSV exports open cleanly in a spreadsheet and never run a formula: the one writer and its one guard."""

import csv
import io

import pandas as pd
import pytest

from dashboard.export import csv_bytes, guard, neutralise_cell, to_csv_bytes, unguard
from tests import hostile


@pytest.mark.parametrize(
    "cell",
    [
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\nx",
        '=HYPERLINK("http://e")',
        "  =1+1",
        " \t@x",
        "\u00a0=1",
        "'=1",
        "''-x",
    ],
)
def test_formula_starts_get_an_apostrophe(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["SDXL 1.0", "", "a=b", " x", "'quoted'", "''", 42, -1.5, None])
def test_everything_else_is_left_alone(cell):
    assert neutralise_cell(cell) == cell


@pytest.mark.parametrize("text", [*hostile.STORABLE, "'", "'''=x", "' =x", "", " "])
def test_unguard_undoes_exactly_the_guard(text):
    assert unguard(guard(text)) == text


def test_json_cells_become_json_text():
    assert neutralise_cell({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'


def test_csv_has_a_bom_and_reads_back():
    frame = pd.DataFrame({"name": ["Café =evil", "=cmd|' /C calc'!A0"], "n": [1, -2]})
    data = to_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["name", "n"], ["Café =evil", "1"], ["'=cmd|' /C calc'!A0", "-2"]]


def test_a_lone_carriage_return_never_starts_a_row():
    data = to_csv_bytes(pd.DataFrame({"name": [hostile.CR_FORMULA], "n": [1]}))
    assert b'"\'Plain name\r=1+1"' in data or b'"Plain name\r=1+1"' in data  # quoted: one cell
    assert hostile.csv_problems(data) == []
    assert data.count(b"\r\n") == 2  # the header and the one row


@pytest.mark.parametrize("writer", ["frame", "rows"])
def test_every_hostile_value_is_inert_and_reads_back_exactly(writer):
    values = [*hostile.STORABLE, hostile.QUOTED_FORMULA]
    if writer == "frame":
        data = to_csv_bytes(pd.DataFrame({"first": values, "n": range(len(values)), "last": values}))
    else:
        data = csv_bytes(["first", "n", "last"], [[v, n, v] for n, v in enumerate(values)])
    assert hostile.csv_problems(data) == []
    rows = hostile.csv_rows(data)
    assert [unguard(r["first"]) for r in rows] == values and [unguard(r["last"]) for r in rows] == values


def test_missing_values_are_empty_cells_and_numbers_stay_numbers():
    frame = pd.DataFrame(
        {"a": [None, "x"], "b": [float("nan"), 2.5], "t": [pd.NaT, pd.Timestamp("2026-01-02", tz="UTC")]}
    )
    assert hostile.csv_rows(to_csv_bytes(frame)) == [
        {"a": "", "b": "", "t": ""},
        {"a": "x", "b": "2.5", "t": "2026-01-02 00:00:00+00:00"},
    ]


def test_flags_are_written_true_and_false_in_every_column():
    import numpy as np

    from dashboard.export import as_text

    frame = pd.DataFrame({"flag": [True, False], "mixed": [True, hostile.FORMULA], "n": [1, 0]})
    rows = hostile.csv_rows(to_csv_bytes(frame))
    assert rows == [{"flag": "true", "mixed": "true", "n": "1"}, {"flag": "false", "mixed": "'=1+1", "n": "0"}]
    assert csv_bytes(["x"], [[np.bool_(False)]]).decode("utf-8-sig") == "x\r\nfalse\r\n"
    assert (as_text(True), as_text(False), as_text(1), as_text(0), as_text("True")) == ("true", "false", 1, 0, "True")
