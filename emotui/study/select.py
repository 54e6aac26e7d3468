"""A method's winner, picked from its search sweep on the validation metric only.

Candidates are the trials that ran to their end (completed, neither pruned by hyperband nor
stopped by the collapse sentinel) with a value. A collapsed trial (majority-class accuracy, a
non-finite loss, a one-class predictor: sweep.summary.is_collapsed) never wins while a healthy
one exists. Trials that differ only by their seed (search.seeds with several seeds) form one
configuration, scored by its mean. Ties go to the earliest trial. The test split is never read.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from emotui.core.runstore import RunStore
from emotui.core.vocabulary import ResultKey
from emotui.sweep.metric import Metric
from emotui.sweep.store import SweepPaths, read_trials
from emotui.sweep.summary import trial_row


@dataclass
class Winner:
    trial: int  # the configuration's best trial
    run_id: str
    params: dict[str, Any]  # its swept values (the seed too when search had several)
    value: float  # the configuration's mean of the metric over its seeds
    seeds: int = 1
    collapsed: bool = False  # every candidate had collapsed: the best of them, flagged
    candidates: int = 0
    trial_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "run_id": self.run_id, "params": self.params,
                "value": self.value, "seeds": self.seeds, ResultKey.COLLAPSED: self.collapsed,
                "candidates": self.candidates, "trials": self.trial_ids}


def search_rows(sweep: SweepPaths, store: RunStore, metric: Metric) -> list[dict[str, Any]]:
    """The sweep's trials as sweep status reads them, valued by the study's metric."""
    return [trial_row(store, record, metric) for record in read_trials(sweep)]


def candidates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["state"] == "completed" and not r["early_stopped"]
            and r["value"] is not None]


def pick_winner(rows: list[dict[str, Any]], metric: Metric) -> Winner | None:
    """The winner among a search's trial rows (search_rows); None when no trial ran to its
    end with a value."""
    usable = candidates(rows)
    healthy = [r for r in usable if not r[ResultKey.COLLAPSED]]
    pool = healthy or usable
    if not pool:
        return None
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(pool, key=lambda r: r["trial"]):
        params = {k: v for k, v in row["params"].items() if k != "seed"}
        groups.setdefault(json.dumps(params, sort_keys=True, default=str), []).append(row)

    def score(rows_: list[dict[str, Any]]) -> tuple:
        mean = statistics.fmean(r["value"] for r in rows_)
        return (*metric.sort_key(mean), min(r["trial"] for r in rows_))

    best_group = min(groups.values(), key=score)
    best = min(best_group, key=lambda r: (*metric.sort_key(r["value"]), r["trial"]))
    return Winner(
        trial=int(best["trial"]), run_id=str(best["run_id"]),
        params=dict(best["params"]),
        value=statistics.fmean(r["value"] for r in best_group), seeds=len(best_group),
        collapsed=not healthy, candidates=len(usable),
        trial_ids=[int(r["trial"]) for r in best_group],
    )


def best_so_far(rows: list[dict[str, Any]], metric: Metric) -> dict[str, Any] | None:
    """The best finished trial now (for `study status` while a search runs)."""
    winner = pick_winner(rows, metric)
    return None if winner is None else {"trial": winner.trial, "run_id": winner.run_id,
                                        "value": winner.value,
                                        ResultKey.COLLAPSED: winner.collapsed}
