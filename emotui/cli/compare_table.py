"""`emotui compare`'s terminal table: each column's cells in human units, fitted to the terminal.

Accuracies as percentages (with `--by-seed`, "92.15% ± 0.21": the spread in percentage points),
parameters as 22.7M, sizes as 91.6 MB, times as 4m12s, the best accuracy of each column in
bold. Piped, `compare` writes the same columns as TSV in machine units instead
(emotui.cli.tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich.text import Text

from emotui.cli import units
from emotui.cli.follow import STATE_STYLES
from emotui.cli.tables import Column
from emotui.core import methods
from emotui.core.export import format_value, is_numeric_column
from emotui.core.results import shown_state
from emotui.report.seed_rows import std_column
from emotui.report.select import SHORT_NAMES

HEADERS = {
    "run_id": "run", "eval_accuracy": "eval acc", "eval_macro_f1": "eval F1",
    "test_accuracy": "test acc", "test_macro_f1": "test F1", "trainable_params": "trainable",
    "total_params": "params", "checkpoint_bytes": "ckpt", "train_runtime_s": "train time",
    "train_samples_per_second": "samples/s", "peak_gpu_memory_bytes": "GPU mem",
    "status": "state",
}
# Which columns a narrow terminal leaves out first (highest first); unlisted: 4.
DROP = {"run_id": 0, "method": 0, "test_accuracy": 0, "eval_accuracy": 1, "learning_rate": 1,
        "seeds": 1, "status": 2, "test_macro_f1": 3, "eval_macro_f1": 3, "trainable_params": 5,
        "train_runtime_s": 5, "checkpoint_bytes": 6, "train_samples_per_second": 6,
        "total_params": 7, "peak_gpu_memory_bytes": 7, "source": 8}
BEST_MARKED = ("eval_accuracy", "test_accuracy", "eval_macro_f1", "test_macro_f1")


def header(column: str) -> str:
    return HEADERS.get(column) or SHORT_NAMES.get(column) or column.replace("_", " ")


def formatter(column: str) -> Callable[[Any], str]:
    """How a person reads one column's values."""
    if column.endswith(("_accuracy", "_macro_f1")):
        return units.percent
    if column.endswith("_params"):
        return units.count
    if column.endswith("_bytes"):
        return units.size
    if column.endswith("_s") and not column.endswith("per_s"):
        return units.duration
    if column == "train_samples_per_second":
        return lambda v: units.number(v, 0)
    if column == "method":
        return methods.short_label
    if column == "model_name_or_path":
        # A local folder by its name; the whole path is in `compare | cat`.
        return lambda v: Path(v).name if isinstance(v, str) and v.startswith("/") else \
            format_value(v)
    return format_value


def spread(column: str, value: Any) -> str:
    """A metric's seed spread beside its mean: percentage points for accuracies."""
    if column.endswith(("_accuracy", "_macro_f1")):
        return f"{100 * float(value):.2f}"
    return formatter(column)(value)


def compare_columns(rows: list[dict[str, Any]], columns: list[str]) -> list[Column]:
    chosen = set(columns)
    best = {c: max((r[c] for r in rows if isinstance(r.get(c), (int, float))), default=None)
            for c in BEST_MARKED}

    def cell(column: str) -> Callable[[dict[str, Any]], Text]:
        show = formatter(column)
        std = std_column(column)

        def human(row: dict[str, Any]) -> Text:
            value = row.get(column)
            text = show(value) if value is not None else units.MISSING
            if std in chosen and row.get(std) is not None:
                text += f" ± {spread(column, row[std])}"
            style = ""
            if column == "status":
                text = shown_state(row)  # "collapsed" for a run that learned nothing
                style = STATE_STYLES.get(text, STATE_STYLES.get(str(value), ""))
            elif best.get(column) is not None and value == best[column] and len(rows) > 1:
                style = "bold green"
            return Text(text, style=style)
        return human

    out = []
    for column in columns:
        if column.endswith("_std") and column[:-4] in chosen:
            continue  # shares its metric's cell ("0.91 ± 0.01")
        out.append(Column(column, header(column), cell(column),
                          # The state cell says "collapsed"; the column is for files.
                          terminal=column != "collapsed",
                          numeric=is_numeric_column(rows, column),
                          drop=DROP.get(column, 4),
                          free_text=column in ("model_name_or_path", "reason",
                                               "prompt_tuning_init_text", "run_ids")))
    return out
