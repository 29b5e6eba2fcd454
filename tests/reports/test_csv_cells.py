import csv
import io

import pytest

from reports.csv_cells import safe_cell, safe_row


@pytest.mark.parametrize(
    "text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("x")']
)
def test_text_that_a_spreadsheet_would_run_is_neutralised(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Mass", "00000001_000.png", "", "a=b", "No Finding"])
def test_ordinary_text_is_unchanged(text):
    assert safe_cell(text) == text


def test_numbers_stay_numbers_even_when_negative():
    assert safe_row([-1, -0.5, 3, "-1.0", "-1", "-1e3"]) == [-1, -0.5, 3, "-1.0", "-1", "-1e3"]


def test_a_number_followed_by_a_formula_is_neutralised():
    assert safe_cell("-1+cmd()") == "'-1+cmd()"


def test_a_written_row_reads_back_without_a_leading_formula_character():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(safe_row(["=cmd|' /C calc'!A0", "ok"]))
    first = next(csv.reader(io.StringIO(buffer.getvalue())))[0]
    assert not first.startswith(("=", "+", "-", "@"))
