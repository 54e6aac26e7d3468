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
from emotui.core.vocabulary import ResultKey
from emotui.report.seed_rows import std_column
from emotui.report.select import SHORT_NAMES

HEADERS = {
    "run_id": "run", ResultKey.EVAL_ACCURACY: "eval acc", ResultKey.EVAL_MACRO_F1: "eval F1",
    ResultKey.TEST_ACCURACY: "test acc", ResultKey.TEST_MACRO_F1: "test F1",
    ResultKey.TRAINABLE_PARAMS: "trainable", ResultKey.TOTAL_PARAMS: "params",
    ResultKey.CHECKPOINT_BYTES: "ckpt", ResultKey.TRAIN_RUNTIME_S: "train time",
    ResultKey.TRAIN_SAMPLES_PER_SECOND: "samples/s", ResultKey.PEAK_GPU_MEMORY_BYTES: "GPU mem",
    "status": "state",
}
# Which columns a narrow terminal leaves out first (highest first); unlisted: 4.
DROP = {"run_id": 0, "method": 0, ResultKey.TEST_ACCURACY: 0, ResultKey.EVAL_ACCURACY: 1,
        "learning_rate": 1, "seeds": 1, "status": 2, ResultKey.TEST_MACRO_F1: 3,
        ResultKey.EVAL_MACRO_F1: 3, ResultKey.TRAINABLE_PARAMS: 5, ResultKey.TRAIN_RUNTIME_S: 5,
        ResultKey.CHECKPOINT_BYTES: 6, ResultKey.TRAIN_SAMPLES_PER_SECOND: 6,
        ResultKey.TOTAL_PARAMS: 7, ResultKey.PEAK_GPU_MEMORY_BYTES: 7, "source": 8}
BEST_MARKED = (ResultKey.EVAL_ACCURACY, ResultKey.TEST_ACCURACY, ResultKey.EVAL_MACRO_F1,
               ResultKey.TEST_MACRO_F1)


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
    if column == ResultKey.TRAIN_SAMPLES_PER_SECOND:
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
                          terminal=column != ResultKey.COLLAPSED,
                          numeric=is_numeric_column(rows, column),
                          drop=DROP.get(column, 4),
                          free_text=column in ("model_name_or_path", "reason",
                                               "prompt_tuning_init_text", "run_ids")))
    return out
