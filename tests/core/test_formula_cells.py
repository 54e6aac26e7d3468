"""CSV/TSV exports never hand a spreadsheet a formula: a text cell starting with =, +, -, @ (or a
tab or carriage return) is written with a ' in front (OWASP); numbers are written as they are."""

from __future__ import annotations

import csv
import io
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from emotui.cli.tables import Column, tsv
from emotui.core.export import FORMULA_STARTS, csv_cell, export_rows, neutralised, tsv_cell

FORMULA_TEXT = st.builds(lambda start, rest: start + rest, st.sampled_from(FORMULA_STARTS),
                         st.text(max_size=30))
NUMBERS = st.one_of(st.integers(min_value=-10**18, max_value=10**18),
                    st.floats(allow_nan=False, allow_infinity=False))


def csv_cells(value) -> list[str]:
    text = export_rows([{"v": value}], ["v"], "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 2  # one header, one row: nothing in a cell breaks the row
    return rows[1]


def one_line(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def tsv_cells(value) -> list[str]:
    text = export_rows([{"v": value}], ["v"], "tsv")
    return text.splitlines()[1].split("\t")


@settings(max_examples=200, deadline=None)
@given(FORMULA_TEXT)
def test_a_text_cell_starting_with_a_formula_character_is_neutralised(text):
    (cell,) = csv_cells(text)
    assert cell == one_line("'" + text)
    (cell,) = tsv_cells(text)
    assert cell == neutralised(" ".join(text.split()))
    assert not cell.startswith(FORMULA_STARTS)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_no_tsv_cell_starts_with_a_formula_character(text):
    # Whitespace is collapsed first: " =1" must not become the formula "=1".
    assert not tsv_cell(text).startswith(FORMULA_STARTS)
    (cell,) = csv_cells(text)
    assert not cell.startswith(FORMULA_STARTS)


@settings(max_examples=200, deadline=None)
@given(NUMBERS)
def test_numbers_round_trip_unchanged(number):
    for cell in (csv_cells(number)[0], tsv_cells(number)[0]):
        parsed = float(cell) if isinstance(number, float) else int(cell)
        assert parsed == number and not cell.startswith("'")


def test_negative_fraction_stays_a_number():
    assert csv_cells(-0.5) == ["-0.5"] and tsv_cells(-0.5) == ["-0.5"]
    assert math.isclose(float(csv_cells(-2e-5)[0]), -2e-5)


def test_text_that_looks_like_a_negative_number_is_still_text():
    # A value that reached the row as text (a W&B config field) is text to a spreadsheet too.
    assert csv_cells("-0.5") == ["'-0.5"]


def test_ordinary_text_is_unchanged():
    assert csv_cells("lora") == ["lora"] and neutralised("a=b") == "a=b"


def test_piped_tables_neutralise_their_cells():
    columns = [Column("reason", "reason", lambda r: r["reason"]),
               Column("value", "value", lambda r: str(r["value"]), numeric=True)]
    text = tsv(columns, [{"reason": '=HYPERLINK("http://x","y")', "value": -0.25}])
    assert text.splitlines()[1] == "'=HYPERLINK(\"http://x\",\"y\")\t-0.25"


# A table is written column by column (a column of plain numbers at once): whatever the mix of
# kinds in a column, each cell is what csv_cell / tsv_cell make of it alone.
CELLS = st.one_of(st.none(), st.booleans(), NUMBERS, st.floats(), FORMULA_TEXT,
                  st.text(max_size=12), st.integers(min_value=10**300, max_value=10**301),
                  st.lists(st.integers(), max_size=2))
ROWS = st.lists(st.dictionaries(st.sampled_from("abcd"), CELLS, max_size=4), max_size=8)


def cell_by_cell(rows, columns, fmt):
    if fmt == "tsv":
        lines = ["\t".join(tsv_cell(c) for c in columns)]
        lines += ["\t".join(tsv_cell(row.get(c)) for c in columns) for row in rows]
        return "\n".join(lines) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(ROWS, st.lists(st.sampled_from("abcde"), max_size=5, unique=True))
def test_a_table_is_written_as_its_cells_one_by_one(rows, columns):
    for fmt in ("csv", "tsv"):
        assert export_rows(rows, columns, fmt) == cell_by_cell(rows, columns, fmt)
