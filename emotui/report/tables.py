"""The report's tables: the best configuration per method, its cost, every configuration, and
each sweep's trials. Cells are final strings (formatting.py), so every format shows the same."""

from __future__ import annotations

from typing import Any

from emotui.core.vocabulary import ResultKey
from emotui.core.confusion import WHOLE_MATRIX_MAX, most_confused
from emotui.core.export import format_value
from emotui.report import formatting as fmt
from emotui.report.blocks import Table
from emotui.report.labels import method_label
from emotui.report.select import (
    SHOWN_SETTINGS,
    Configuration,
    Differences,
    describe_settings,
    selection_key,
)

BEST_COLUMNS = ["Method", "Configuration", "Seeds", "Val. acc. %", "Test acc. %",
                "Test macro-F1 %", "Runs"]
COST_COLUMNS = ["Method", "Trainable params", "% of total", "Checkpoint", "Train time",
                "GPU-hours", "Samples/s", "Peak memory"]


def gpu_hours(config: Configuration) -> tuple[float | None, bool]:
    """(training hours of all the configuration's runs, whether they all ran on a CPU)."""
    times = [r.metric(ResultKey.TRAIN_RUNTIME_S) for r in config.runs]
    known = [t for t in times if t is not None]
    on_cpu = all(str(r.results.get(ResultKey.DEVICE) or "").startswith("cpu") for r in config.runs)
    return (sum(known) / 3600 if known else None), on_cpu


def best_table(best: list[tuple[Configuration, Differences]]) -> Table:
    rows = []
    for config, keys in best:
        rows.append([
            method_label(config.method), describe_settings(config, keys, SHOWN_SETTINGS),
            str(len(config.runs)), fmt.percent_stat(config.stat(ResultKey.EVAL_ACCURACY)),
            fmt.percent_stat(config.stat(ResultKey.TEST_ACCURACY)),
            fmt.percent_stat(config.stat(ResultKey.TEST_MACRO_F1)),
            ", ".join(r.run_id for r in config.runs),
        ])
    return Table(BEST_COLUMNS, rows, [False, False, True, True, True, True, False],
                 caption="Each method's configuration with the highest mean validation accuracy; "
                 "test accuracy and macro-F1 of that configuration as mean ± sample standard "
                 "deviation over its seeds.")


def cost_table(best: list[Configuration]) -> Table:
    rows = []
    for config in best:
        trainable = config.stat(ResultKey.TRAINABLE_PARAMS).mean
        hours, on_cpu = gpu_hours(config)
        rows.append([
            method_label(config.method), fmt.count(trainable),
            fmt.share(trainable, config.stat(ResultKey.TOTAL_PARAMS).mean) or fmt.MISSING,
            fmt.size(config.stat(ResultKey.CHECKPOINT_BYTES).mean),
            fmt.seconds(config.stat(ResultKey.TRAIN_RUNTIME_S).mean),
            fmt.hours(hours) + (" (CPU)" if on_cpu and hours is not None else ""),
            fmt.rate(config.stat(ResultKey.TRAIN_SAMPLES_PER_SECOND).mean),
            fmt.size(config.stat(ResultKey.PEAK_GPU_MEMORY_BYTES).mean),
        ])
    return Table(COST_COLUMNS, rows, [False] + [True] * 7,
                 caption="Per run, mean over seeds; GPU-hours: the training time of all the "
                 "configuration's runs together (one GPU each). Checkpoint: what a run keeps "
                 "(for LoRA and prompt tuning only the adapter).")


def configurations_table(method: str | None, configs: list[Configuration], keys: Differences,
                         picked: Configuration | None) -> Table:
    """One method's configurations, best validation accuracy first (never sorted by test)."""
    rows, marked = [], []
    for config in sorted(configs, key=selection_key):
        notes = []
        if config is picked:
            notes.append("picked")
        if config.collapsed_runs:
            notes.append(f"collapsed ({config.collapsed_runs}/{len(config.runs)})")
        rows.append([
            describe_settings(config, keys, SHOWN_SETTINGS), str(len(config.runs)),
            fmt.percent_stat(config.stat(ResultKey.EVAL_ACCURACY)),
            fmt.percent_stat(config.stat(ResultKey.TEST_ACCURACY)),
            fmt.percent_stat(config.stat(ResultKey.TEST_MACRO_F1)),
            fmt.seconds(config.stat(ResultKey.TRAIN_RUNTIME_S).mean), ", ".join(notes),
        ])
        marked.append(config is picked)
    return Table(["Configuration", "Seeds", "Val. acc. %", "Test acc. %", "Test macro-F1 %",
                  "Train time", "Note"], rows, [False, True, True, True, True, True, False],
                 caption=f"{method_label(method)}: every configuration, sorted by mean validation "
                 "accuracy.", marked=marked)


def front_table(front: list[Configuration], keys: dict[str | None, Differences], cost: str,
                cost_column: str) -> Table:
    """The key of a Pareto figure: its numbered points, cheapest first."""
    cell = fmt.count if cost == ResultKey.TRAINABLE_PARAMS else fmt.seconds
    rows = [[str(number), method_label(config.method),
             describe_settings(config, keys[config.method], SHOWN_SETTINGS),
             cell(config.stat(cost).mean),
             fmt.percent_stat(config.stat(ResultKey.TEST_ACCURACY))]
            for number, config in enumerate(front, 1)]
    return Table(["#", "Method", "Configuration", cost_column, "Test acc. %"], rows,
                 [True, False, False, True, True],
                 caption="The numbered points of the figure above: the Pareto front, cheapest "
                 "first.")


def sweep_table(summary: dict[str, Any]) -> Table:
    """A sweep's trials as `emotui sweep status` sorts them: by the sweep's metric."""
    metric = summary.get("metric") or {}
    params: list[str] = []
    for row in summary["rows"]:
        params += [k for k in row["params"] if k not in params]
    rows, marked = [], []
    best = summary.get("best") or {}
    for row in summary["rows"]:
        notes = []
        if row[ResultKey.COLLAPSED]:
            notes.append("COLLAPSED")
        if row["early_stopped"]:
            notes.append("early-stopped")
        elif row["state"] == "failed":
            notes.append("failed")
        rows.append([str(row["trial"]), row["run_id"] or fmt.MISSING,
                     "early-stopped" if row["early_stopped"] else (row["state"] or fmt.MISSING),
                     *[_param(row["params"].get(k)) for k in params],
                     fmt.plain(row["value"]), fmt.percent(row[ResultKey.TEST_ACCURACY]),
                     fmt.plain(row["epochs"], 1) if isinstance(row["epochs"], (int, float))
                     else fmt.MISSING, " ".join(notes)])
        marked.append(bool(best) and row["run_id"] == best.get("run_id"))
    name = metric.get("name") or "metric"
    columns = ["#", "Run", "State", *params, name, "Test acc. %", "Epochs", "Note"]
    numeric = [True, False, False, *[True] * len(params), True, True, True, False]
    goal = f" ({metric.get('goal')})" if metric.get("goal") else ""
    return Table(columns, rows, numeric,
                 caption=f"Sweep {summary['sweep_id']} ({summary.get('method')}): trials sorted "
                 f"by {name}{goal}; collapsed trials marked.", marked=marked)


def _param(value: Any) -> str:
    return format_value(value) or fmt.MISSING


def confused_pairs_tables(panels: list[tuple[str, list[list[int]], list[str]]]
                          ) -> list[Table]:
    """For each confusion matrix too large to read cell by cell (core.confusion), the pairs
    most often confused: what its heatmap cannot say."""
    out = []
    for title, matrix, names in panels:
        if len(names) <= WHOLE_MATRIX_MAX:
            continue
        pairs = most_confused(matrix, names)
        out.append(Table(
            ["True label", "Predicted as", "Examples", "% of the true label"],
            [[p.true, p.predicted, str(p.count), f"{100 * p.share:.1f}"] for p in pairs],
            [False, False, True, True],
            caption=f"{title}: the {len(pairs)} pairs of its {len(names)} classes most often "
            "confused (test split)."))
    return out
