"""What a study will run and cost, before it starts (`emotui study FILE --dry-run`).

Runs per phase and method: each method's search sweep plans its trials as `emotui sweep`
would (a grid's size, run_cap, one run for a method at its defaults); confirm runs one run per
confirm seed and method; test, report and export start no run. The cost estimate is the sweep
layer's (sweep.estimate: measured samples/s of earlier completed runs of the same model and
method in the store); confirm runs are estimated with a stand-in winner (the first point of the
search), which changes their cost only through its settings' speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emotui.core.runstore import RunStore
from emotui.study.spec import StudySpec
from emotui.sweep.estimate import SweepEstimate, estimate_trials
from emotui.sweep.runner import DRY_RUN_LISTED, dry_run
from emotui.sweep.space import representative_values
from emotui.sweep.spec import parse_sweep
from emotui.train.preflight import check_before_run


@dataclass
class MethodPlan:
    method: str
    label: str
    origin: str
    search: str  # grid / random / bayes (+ hyperband)
    search_trials: int  # planned (a budget may stop search sooner)
    confirm_runs: int
    swept: list[str] = field(default_factory=list)
    confirm_changes: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "label": self.label, "origin": self.origin,
                "search": self.search, "search_trials": self.search_trials,
                "confirm_runs": self.confirm_runs, "swept": self.swept,
                "confirm_changes": self.confirm_changes}


@dataclass
class StudyPlan:
    methods: list[MethodPlan]
    search: SweepEstimate | None = None
    confirm: SweepEstimate | None = None

    @property
    def search_trials(self) -> int:
        return sum(m.search_trials for m in self.methods)

    @property
    def confirm_runs(self) -> int:
        return sum(m.confirm_runs for m in self.methods)

    @property
    def total(self) -> int:
        return self.search_trials + self.confirm_runs


def plan_study(spec: StudySpec) -> StudyPlan:
    out = []
    for method, search in spec.methods.items():
        s = search.spec
        kind = s.method + (" + hyperband" if s.hyperband else "")
        out.append(MethodPlan(method, search.label, search.origin, kind,
                              int(s.planned_total() or 0), len(spec.confirm_seeds),
                              [p.raw_key for p in s.swept()],
                              spec.confirm_changes(method) if spec.confirm_seeds else {}))
    return StudyPlan(out)


def estimate_study(spec: StudySpec, store: RunStore, max_parallel: int) -> StudyPlan:
    """The plan with the cost of its search trials and confirm runs (the first DRY_RUN_LISTED
    trials of each method's search)."""
    plan = plan_study(spec)
    search_trials: list[dict[str, Any]] = []
    confirm_trials: list[dict[str, Any]] = []
    for method, search in spec.methods.items():
        for trial in dry_run(search.spec, None, count=None, max_parallel=max_parallel,
                             limit=DRY_RUN_LISTED):
            search_trials.append({**trial, "trial": len(search_trials)})
        if spec.confirm_seeds:
            values = search.spec.parameter_values(representative_values(search.spec))
            confirm = parse_sweep(spec.confirm_sweep(method, values),
                                  source=f"{spec.source} confirm ({method})")
            for trial in dry_run(confirm, None, count=None, max_parallel=max_parallel):
                confirm_trials.append({**trial, "trial": len(confirm_trials)})
    plan.search = estimate_trials(search_trials, store, max_parallel)
    plan.confirm = estimate_trials(confirm_trials, store, max_parallel) if confirm_trials \
        else None
    return plan


def check_inputs(spec: StudySpec) -> None:
    """Each method's first trial against the model folder and data files (train.preflight):
    one line, nothing stored; what `emotui study` and the TUI's launch refuse before a study
    exists."""
    seen = set()
    for search in spec.methods.values():
        config, _ = search.spec.trial_config(representative_values(search.spec))
        key = (config.model_name_or_path, config.data_dir, config.train_file,
               config.validation_file, config.test_file, config.max_seq_length)
        if key not in seen:
            seen.add(key)
            check_before_run(config)
