"""Table rows of runs that differ only by seed, folded into one row per configuration
(`emotui compare --by-seed`).

The grouping is report.select.group_by_seed's (the report's own): every setting but the seeds
and bookkeeping must agree. A folded row keeps the first run's columns, names its runs, counts
them (``seeds``), and holds the mean of each metric over the runs that have it, with the sample
standard deviation beside the metrics that vary by seed (``<metric>_std``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

from emotui.core.results import KEY_HYPERPARAMETERS, SUMMARY_METRICS
from emotui.core.vocabulary import ResultKey
from emotui.report.gather import ReportRun
from emotui.report.select import Configuration, group_by_seed

# Metrics a seed moves: they get a standard deviation (the rest are the same for every seed).
SPREAD_METRICS = (ResultKey.EVAL_ACCURACY, ResultKey.EVAL_MACRO_F1, ResultKey.TEST_ACCURACY,
                  ResultKey.TEST_MACRO_F1, ResultKey.TRAIN_RUNTIME_S,
                  ResultKey.TRAIN_SAMPLES_PER_SECOND, ResultKey.PEAK_GPU_MEMORY_BYTES)
SEEDS_COLUMN = "seeds"
RUN_IDS_COLUMN = "run_ids"


def std_column(metric: str) -> str:
    return f"{metric}_std"


def _as_run(row: Mapping[str, Any], config: Mapping[str, Any] | None) -> ReportRun:
    # Without its config (a row from elsewhere) a run is known by its key hyperparameters.
    known = dict(config) if config else {k: row.get(k) for k in KEY_HYPERPARAMETERS}
    return ReportRun(run_id=str(row["run_id"]), source=str(row.get("source") or "local"),
                     method=row.get("method"), status=row.get("status"), config=known,
                     results=dict(row))


def configurations(rows: Iterable[Mapping[str, Any]],
                   configs: Mapping[str, Mapping[str, Any]]) -> list[Configuration]:
    """The rows' runs grouped into configurations (``configs``: run id -> its full config)."""
    return group_by_seed(_as_run(row, configs.get(str(row["run_id"]))) for row in rows)


def replica_count(rows: Iterable[Mapping[str, Any]],
                  configs: Mapping[str, Mapping[str, Any]]) -> tuple[int, int]:
    """(runs, configurations) among the configurations with more than one run."""
    groups = [c for c in configurations(rows, configs) if len(c.runs) > 1]
    return sum(len(c.runs) for c in groups), len(groups)


def _states(config: Configuration) -> str | None:
    counts = Counter(str(r.status) for r in config.runs)
    if len(counts) == 1:
        return config.runs[0].status
    return ", ".join(f"{n} {state}" for state, n in counts.most_common())


def fold_row(config: Configuration) -> dict[str, Any]:
    """One row for a configuration: the first run's columns, then its runs, seeds and the
    mean (and spread) of every metric."""
    row = dict(config.runs[0].results)
    row.update({RUN_IDS_COLUMN: [r.run_id for r in config.runs], SEEDS_COLUMN: len(config.runs)})
    if len(config.runs) == 1:
        return row  # a run of its own keeps its values as they are
    row.update(run_id=config.label, seed=",".join(str(s) for s in config.seeds),
               status=_states(config))
    for metric in SUMMARY_METRICS:
        stat = config.stat(metric)
        row[metric] = stat.mean
        if metric in SPREAD_METRICS:
            row[std_column(metric)] = stat.std
    return row


def fold_by_seed(rows: Iterable[Mapping[str, Any]],
                 configs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration, in order of first appearance."""
    return [fold_row(c) for c in configurations(rows, configs)]


def with_spread_columns(columns: list[str], rows: list[Mapping[str, Any]]) -> list[str]:
    """``seeds`` after the state, and each metric's ``_std`` column right after it."""
    out: list[str] = []
    for column in columns:
        out.append(column)
        if column == "status":
            out.append(SEEDS_COLUMN)
        if column in SPREAD_METRICS and any(r.get(std_column(column)) is not None for r in rows):
            out.append(std_column(column))
    if SEEDS_COLUMN not in out:
        out.insert(1, SEEDS_COLUMN)
    return out
