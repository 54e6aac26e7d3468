"""Every export format, parsed back: the cells that went in come out (as formatted text)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from tracking_helpers import parse_latex, parse_markdown, parse_typst

from emotui.core.errors import ConfigError
from emotui.core.export import column_formatter, export_rows, format_value

COLUMNS = ["run_id", "method", "learning_rate", "prompt_tuning_init_text", "test_accuracy",
           "trainable_params", "collapsed"]
ROWS = [
    {"run_id": "250101-lora_a", "method": "lora", "learning_rate": 2e-3,
     "prompt_tuning_init_text": None, "test_accuracy": 0.93285, "trainable_params": 667654,
     "collapsed": False},
    {"run_id": "250101-ptext_b", "method": "prompt_tuning_text", "learning_rate": 2e-2,
     "prompt_tuning_init_text": 'classify {the} emotion: 100% & "more" | #1 $x ~ ^ \\ [b]',
     "test_accuracy": 0.876, "trainable_params": 613638, "collapsed": True},
    {"run_id": "wandb-x", "method": "full", "learning_rate": 2e-5,
     "prompt_tuning_init_text": None, "test_accuracy": None, "trainable_params": 124650246,
     "collapsed": None},
]


def expected_cells() -> list[list[str]]:
    """The typeset formats' cells: one rule per column (core.export.column_formatter)."""
    shown = {c: column_formatter(ROWS, c) for c in COLUMNS}
    return [[shown[c](row.get(c)) for c in COLUMNS] for row in ROWS]


def test_typeset_columns_read_as_papers_print_them():
    cells = expected_cells()
    assert [r[2] for r in cells] == ["2.0e-03", "2.0e-02", "2.0e-05"]  # one rule per column
    assert [r[4] for r in cells] == ["93.28%", "87.60%", ""]
    assert [r[5] for r in cells] == ["667.7k", "613.6k", "124.7M"]
    size = column_formatter([{"checkpoint_bytes": 91_600_000}], "checkpoint_bytes")
    assert size(91_600_000) == "91.6 MB"
    loss = column_formatter([{"loss": 0.5}, {"loss": 0.123}], "loss")
    assert [loss(0.5), loss(0.123)] == ["0.500", "0.123"]  # fixed decimals down the column


def test_csv_reads_back_with_raw_values():
    text = export_rows(ROWS, COLUMNS, "csv")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == COLUMNS
    assert len(parsed) == 1 + len(ROWS)
    assert float(parsed[1][2]) == 2e-3 and float(parsed[1][4]) == 0.93285  # not rounded
    assert parsed[2][3] == ROWS[1]["prompt_tuning_init_text"]
    assert parsed[3][4] == ""  # missing
    assert parsed[2][6] == "true"


def test_json_reads_back_exactly():
    data = json.loads(export_rows(ROWS, COLUMNS, "json"))
    assert data == [{c: r.get(c) for c in COLUMNS} for r in ROWS]
    assert list(data[0]) == COLUMNS


def test_markdown_table_reads_back():
    text = export_rows(ROWS, COLUMNS, "md")
    rows = parse_markdown(text)
    assert rows[0] == COLUMNS
    assert all(re.fullmatch(r"-{3}:?", c) for c in rows[1])
    assert rows[1][2] == "---:" and rows[1][0] == "---"  # numbers right-aligned
    assert rows[2:] == expected_cells()
    assert export_rows(ROWS, COLUMNS, "markdown") == text


def test_latex_tabular_reads_back():
    spec, rows = parse_latex(export_rows(ROWS, COLUMNS, "latex"))
    assert spec == "llrlrrl"
    assert rows[0] == COLUMNS
    assert rows[1:] == expected_cells()


def test_typst_table_reads_back():
    text = export_rows(ROWS, COLUMNS, "typst")
    ncols, rows = parse_typst(text)
    assert ncols == len(COLUMNS)
    assert rows[0] == COLUMNS
    assert rows[1:] == expected_cells()


def test_typst_table_compiles_when_typst_is_installed(tmp_path):
    typst = pytest.importorskip("typst")
    source = tmp_path / "table.typ"
    source.write_text(export_rows(ROWS, COLUMNS, "typst"), encoding="utf-8")
    pdf = typst.compile(str(source))
    assert pdf[:4] == b"%PDF"


def test_unknown_format_is_one_line_error():
    with pytest.raises(ConfigError, match="unknown export format 'docx'"):
        export_rows(ROWS, COLUMNS, "docx")


def test_numbers_read_as_people_read_them():
    assert format_value(2e-5) == "2e-05"
    assert format_value(0.93286) == "0.9329"
    assert format_value(281.234) == "281.2"
    assert format_value(5.0) == "5"
    assert format_value(None) == ""
    assert format_value(["query", "value"]) == "query, value"
    assert format_value("two\nlines") == "two lines"
