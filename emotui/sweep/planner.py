"""Where a sweep's new trials' values come from: the grid's next point, a random draw seeded by
the sweep's id, or bayes (optuna, through ``search.py``, its journal in the sweep's folder); and
the values a trial record keeps (the swept ones). The controller plans with it, and so does the
dry run (``runner.dry_run``), which therefore lists the trials a sweep would start.
"""

from __future__ import annotations

import hashlib
from typing import Any

from emotui.core.results import load_config_dict
from emotui.core.runstore import RunStore
from emotui.sweep.search import BayesSearch, random_point
from emotui.sweep.space import grid_point
from emotui.sweep.spec import SweepSpec


def sweep_seed(sweep_id: str) -> int:
    return int(hashlib.sha256(sweep_id.encode()).hexdigest()[:8], 16)


class Planner:
    """Where the next new trial's values come from."""

    def __init__(self, spec: SweepSpec, sweep_id: str, journal: Any):
        self.spec = spec
        self.seed = sweep_seed(sweep_id)
        self.bayes = BayesSearch(spec, sweep_id, journal, self.seed) if spec.method == "bayes" \
            else None

    def next(self, index: int) -> tuple[dict[str, Any], int | None] | None:
        if self.spec.method == "grid":
            point = grid_point(self.spec, index)
            return None if point is None else (point, None)
        if self.spec.method == "random":
            return random_point(self.spec, index, self.seed), None
        number, values = self.bayes.ask()
        return values, number


def swept_values(spec: SweepSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The swept settings' values among a trial's (what its trial record keeps)."""
    swept = {p.key for p in spec.swept()}
    return {k: v for k, v in values.items() if k in swept}


def replanned(record: dict[str, Any], spec: SweepSpec, planner: Planner,
              store: RunStore) -> dict[str, Any]:
    """A trial record rebuilt because its file was unreadable (sweep.store.read_trials), with
    its swept values: from its run's config (this spec names them), or planned again when no
    run names the trial (grid and random plan the same values for the same index; bayes cannot,
    so the trial is "lost" and a new one replaces it)."""
    if record.get("run_id"):
        config = load_config_dict(store.paths(record["run_id"]))
        record["params"] = {p.key: config[p.key] for p in spec.swept() if p.key in config}
    elif spec.method in ("grid", "random"):
        planned = planner.next(int(record["index"]))
        if planned is None:
            record["state"] = "lost"
        else:
            record["params"] = swept_values(spec, planned[0])
    else:
        record["state"] = "lost"
    return record
