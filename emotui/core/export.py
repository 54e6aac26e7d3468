"""Table rows -> text: CSV, TSV, Markdown, LaTeX tabular, Typst table, JSON.

Used by `emotui compare` and the TUI's compare screen; pure stdlib so both can call it freely.
Machine formats (csv, tsv, json) keep values as they are (fractions, raw counts, seconds); the typeset formats (md, latex, typst)
show numbers rounded for reading and escape whatever the target language treats as markup.

Spreadsheets run a CSV or TSV cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return) as a formula, and text reaches these cells from places nobody checks (W&B rows,
hand-edited configs). As OWASP recommends ("CSV Injection"), such a *text* cell is written with a
``'`` in front (``neutralised``), which spreadsheets show as text; numbers are written as they
are, so ``-0.5`` stays a number. Every CSV/TSV cell emotui writes (``compare``, the TUI's export,
the piped tables of ``ls``, ``show``, ``sweep status``, ``study status``) goes through
``csv_cell`` / ``tsv_cell``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import operator
from typing import Any, Callable, Iterable

from emotui.core import units
from emotui.core.errors import ConfigError
from emotui.core.progress import format_duration

FORMATS = ("csv", "tsv", "md", "latex", "typst", "json")
FORMAT_ALIASES = {"markdown": "md", "tex": "latex", "typ": "typst"}
FILE_SUFFIXES = {"csv": ".csv", "tsv": ".tsv", "md": ".md", "latex": ".tex", "typst": ".typ", "json": ".json"}


def normalize_format(fmt: str) -> str:
    key = str(fmt).strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ConfigError(
            f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)} (or markdown)"
        )
    return key


def distinct_columns(columns: Iterable[str]) -> list[str]:
    """The columns in order, each once: a column asked for twice (a config's own ``method``
    beside the row's) is shown once, where it first stands."""
    return list(dict.fromkeys(columns))


def export_rows(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    """The rows (only the given columns, in that order) as text in the chosen format."""
    fmt = normalize_format(fmt)
    return _WRITERS[fmt](rows, distinct_columns(columns))


# ---------------------------------------------------------------------------------------------
# Cell formatting
# ---------------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A cell as a person reads it: rounded numbers, empty for missing, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        magnitude = abs(value)
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 0.001:
            return f"{value:.4f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"  # learning rates: 2e-05
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return " ".join(str(value).split())  # one line per cell, whatever the source held


def _decimals(value: float) -> int:
    """The decimals format_value would show of ``value`` (at most 4)."""
    text = f"{value:.4f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def column_formatter(rows: list[dict[str, Any]], column: str) -> Callable[[Any], str]:
    """How a typeset table (Markdown, LaTeX, Typst: tables for papers) shows one column: one
    rule per column, so its numbers line up. Accuracies and F1 as percentages (92.85%),
    parameters as counts (22.7M), bytes as sizes (91.6 MB), seconds as durations (4m12s); any
    other number with the same decimals down the column, or in scientific notation with one
    decimal where one of them is below 0.001 (learning rates: 2.0e-05)."""
    if not is_numeric_column(rows, column):
        return format_value
    if column.endswith(("_accuracy", "_macro_f1", "_f1")):
        return lambda v: "" if v is None else units.percent(v)
    if column.endswith("_params"):
        return lambda v: "" if v is None else units.count(v)
    if column.endswith("_bytes"):
        return lambda v: "" if v is None else units.size(v)
    if column.endswith("_s") and not column.endswith("per_s"):
        return lambda v: "" if v is None else format_duration(v)
    values = [float(r[column]) for r in rows if r.get(column) is not None
              and math.isfinite(float(r[column]))]
    if all(float(v).is_integer() for v in values):
        return format_value
    if any(0 < abs(v) < 0.001 for v in values):
        return lambda v: "" if v is None else f"{float(v):.1e}"
    digits = max((_decimals(v) for v in values if abs(v) < 100), default=1)
    return lambda v: "" if v is None else f"{float(v):.{digits}f}"


def is_numeric_column(rows: Iterable[dict[str, Any]], column: str) -> bool:
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    )


def _raw(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def machine_value(value: Any) -> Any:
    """A cell for CSV/TSV: the value itself (fractions, raw counts), empty for missing."""
    value = _raw(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return value


# What a spreadsheet takes a cell for a formula by, when the cell starts with it (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs: ``'`` before a formula start."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Any) -> Any:
    """A CSV cell: machine_value, text neutralised (numbers stay numbers)."""
    kind = type(value)  # the common kinds first, as in tsv_cell
    if value is None:
        return ""
    if kind is int or (kind is float and math.isfinite(value)):
        return value  # an int is always finite (and may be too large for isfinite)
    if kind is str and not value.startswith(FORMULA_STARTS) and "\r" not in value:
        return value  # most text: nothing to neutralise, no line break to rewrite
    if kind is not str:
        value = machine_value(value)
    if not isinstance(value, str):
        return value
    # The csv module quotes a cell holding "\n" but not one holding a lone "\r", which would
    # then end the row early in a reader: line breaks inside a cell are written as "\n".
    return neutralised(value).replace("\r\n", "\n").replace("\r", "\n")


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    if not columns:
        writer.writerows([] for _ in rows)
    else:  # column by column: see _plain_numbers
        writer.writerows(zip(*map(_csv_column, _columns_of(rows, columns))))
    return out.getvalue()


def _columns_of(rows: list[Any], columns: list[str]) -> list[list[Any]]:
    """The rows' values column by column, None where a row lacks one. A row that has every
    column gives them in one call (itemgetter, in C), a tenth of the time of a get per cell."""
    if len(columns) == 1:  # (itemgetter of one key gives the value, not a 1-tuple)
        return [[row.get(columns[0]) for row in rows]]
    get = operator.itemgetter(*columns)
    table = []
    for row in rows:
        try:
            table.append(get(row))
        except KeyError:
            table.append(tuple(row.get(c) for c in columns))
    return [list(column) for column in zip(*table)] if table else [[] for _ in columns]


def _csv_column(values: list[Any]) -> list[Any]:
    plain = _plain_numbers(values)
    return plain if plain is not None else list(map(csv_cell, values))


_NUMBER_KINDS = {int, float, type(None)}


def _plain_numbers(values: list[Any]) -> list[Any] | None:
    """A column of finite numbers and blanks as machine_value gives it (None -> ""), or None
    when it holds anything else. Most of a listing's cells are such columns (metrics, counts):
    100,000 runs are over a million cells, and a column checked at once in C (the kinds, one
    sum) saves a call per cell."""
    if not set(map(type, values)) <= _NUMBER_KINDS:
        return None  # bool is its own kind: "true"/"false" take the general way
    numbers = [v for v in values if v is not None]
    try:
        if not math.isfinite(math.fsum(numbers)):  # an inf or nan among them (or a sum so
            return None                            # large it overflows: the general way too)
    except OverflowError:  # an int too large for a float
        return None
    return values if len(numbers) == len(values) else ["" if v is None else v for v in values]


def tsv_cell(value: Any) -> str:
    """A TSV cell: machine_value on one line, text neutralised (numbers stay numbers)."""
    # The common kinds first (a listing of 100,000 runs has millions of cells), each as
    # machine_value would give it; the rest takes the general way.
    kind = type(value)
    if value is None:
        return ""
    if kind is int or (kind is float and math.isfinite(value)):
        return str(value)
    if kind is not str:
        value = machine_value(value)
    if not isinstance(value, str):
        return str(value)
    # Tabs and newlines inside a value would break the line into columns: they become spaces
    # (before neutralising: " =1" would otherwise become "=1").
    return neutralised(" ".join(value.split()))


def to_tsv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Tab-separated, one line per row, every value whole: for cut, awk, sort and pandas."""
    lines = ["\t".join(tsv_cell(c) for c in columns)]
    if not columns:
        lines += ["" for _ in rows]
    else:  # column by column: see _plain_numbers
        lines += map("\t".join, zip(*map(_tsv_column, _columns_of(rows, columns))))
    return "\n".join(lines) + "\n"


def _tsv_column(values: list[Any]) -> list[str]:
    plain = _plain_numbers(values)
    if plain is None:
        return list(map(tsv_cell, values))
    return list(map(str, plain))  # "" stays ""


def to_json(rows: list[dict[str, Any]], columns: list[str]) -> str:
    data = [{c: _raw(row.get(c)) for c in columns} for row in rows]
    return json.dumps(data, indent=2, default=str) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(_md_escape(c) for c in columns) + " |"]
    aligns = ["---:" if is_numeric_column(rows, c) else "---" for c in columns]
    lines.append("| " + " | ".join(aligns) + " |")
    shown = {c: column_formatter(rows, c) for c in columns}
    for row in rows:
        cells = (_md_escape(shown[c](row.get(c))) for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(rows: list[dict[str, Any]], columns: list[str]) -> str:
    spec = "".join("r" if is_numeric_column(rows, c) else "l" for c in columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\hline"]
    lines.append(" & ".join(latex_escape(c) for c in columns) + r" \\")
    lines.append("\\hline")
    shown = {c: column_formatter(rows, c) for c in columns}
    for row in rows:
        lines.append(" & ".join(latex_escape(shown[c](row.get(c))) for c in columns) + r" \\")
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def typst_string(text: str) -> str:
    """A Typst string literal: cells as strings need no markup escaping beyond quotes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_typst(rows: list[dict[str, Any]], columns: list[str]) -> str:
    aligns = ", ".join("right" if is_numeric_column(rows, c) else "left" for c in columns)
    lines = [
        "#table(",
        f"  columns: {len(columns)},",
        f"  align: ({aligns},)," if columns else "",
        "  table.header(" + ", ".join(typst_string(c) for c in columns) + "),",
    ]
    shown = {c: column_formatter(rows, c) for c in columns}
    for row in rows:
        cells = (typst_string(shown[c](row.get(c))) for c in columns)
        lines.append("  " + ", ".join(cells) + ",")
    lines.append(")")
    return "\n".join(line for line in lines if line) + "\n"


_WRITERS = {
    "csv": to_csv,
    "tsv": to_tsv,
    "json": to_json,
    "md": to_markdown,
    "latex": to_latex,
    "typst": to_typst,
}
