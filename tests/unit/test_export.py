"""CSV exports open cleanly in a spreadsheet and never run a formula."""

import csv
import io

import pandas as pd
import pytest

from dashboard.export import neutralise_cell, to_csv_bytes


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", '=HYPERLINK("http://e")'])
def test_formula_starts_get_an_apostrophe(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["SDXL 1.0", "", "a=b", 42, -1.5, None])
def test_everything_else_is_left_alone(cell):
    assert neutralise_cell(cell) == cell


def test_json_cells_become_json_text():
    assert neutralise_cell({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'


def test_csv_has_a_bom_and_reads_back():
    frame = pd.DataFrame({"name": ["Café =evil", "=cmd|' /C calc'!A0"], "n": [1, -2]})
    data = to_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["name", "n"], ["Café =evil", "1"], ["'=cmd|' /C calc'!A0", "-2"]]
