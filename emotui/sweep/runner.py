"""Entry points the CLI (and the TUI) call: open a sweep, dry-run it, run or resume it.

A sweep's id is ``<file stem>-<hash of what determines its trials>`` (method, metric, parameters,
--set overrides, run_cap, early_terminate), so running the same command again finds the same
sweep and continues it; ``--name`` picks an id instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore, read_json
from emotui.core.schema import SWEEP_SCHEMA, newer_than_known
from emotui.core.yaml_load import load_yaml
from emotui.sweep.controller import SweepController
from emotui.sweep.estimate import estimate_trials
from emotui.sweep.launching import TrialLauncher
from emotui.sweep.planner import Planner, swept_values
from emotui.sweep.search import random_point
from emotui.sweep.space import grid_point
from emotui.sweep.spec import SweepSpec, load_sweep, parse_overrides, parse_sweep
from emotui.sweep.store import SweepPaths, SweepStore, create_sweep_dir, read_trials

if TYPE_CHECKING:
    from emotui.sweep.estimate import SweepEstimate


def open_sweep(file: str | Path, overrides: list[str], store: RunStore, *,
               name: str | None = None) -> tuple[SweepSpec, SweepPaths, bool]:
    """(spec, sweep dir, exists already) for ``emotui sweep FILE``; validates everything first."""
    spec = load_sweep(file, overrides)
    sweep_id = name or spec.default_id()
    paths = SweepStore(store.root).paths(sweep_id)
    existing = read_json(paths.spec)
    too_new = newer_than_known(existing or {}, SWEEP_SCHEMA, f"sweep {sweep_id}'s spec.json")
    if too_new:
        raise ConfigError(too_new)
    if existing is not None and existing.get("fingerprint") != spec.fingerprint():
        raise ConfigError(
            f"sweep {sweep_id} exists with other settings (from {existing.get('source')}); "
            "pick another --name or resume it with 'emotui sweep resume " + sweep_id + "'"
        )
    return spec, paths, existing is not None


def save_sweep(spec: SweepSpec, paths: SweepPaths, file: str | Path, overrides: list[str],
               trial_status: dict[str, Any] | None = None) -> None:
    if paths.spec.exists():
        return
    text = Path(file).expanduser().read_text(encoding="utf-8")
    data = spec.to_json()
    data.update(sweep_id=paths.sweep_id, fingerprint=spec.fingerprint(), set=list(overrides),
                planned_total=spec.planned_total(), trial_status=trial_status or {})
    create_sweep_dir(paths, text, data)


def load_saved(paths: SweepPaths) -> SweepSpec:
    """The spec of an existing sweep, re-validated from its saved copy of the file."""
    saved = read_json(paths.spec)
    if saved is None:
        raise ConfigError(f"{paths.root} holds no sweep (spec.json missing)")
    too_new = newer_than_known(saved, SWEEP_SCHEMA, f"sweep {paths.sweep_id}'s spec.json")
    if too_new:
        raise ConfigError(too_new)
    data = load_yaml(paths.source.read_text(encoding="utf-8"),
                     f"sweep {paths.sweep_id}'s copy of its file") or {}
    return parse_sweep(data, source=saved.get("source") or str(paths.source),
                       overrides=parse_overrides(saved.get("set") or []))


def check_runnable(spec: SweepSpec, count: int | None) -> None:
    if spec.method != "grid" and spec.run_cap is None and count is None:
        raise ConfigError(
            f"a {spec.method} sweep without run_cap runs forever; give --count N "
            "(or add run_cap: N to the file)"
        )


# A dry run lists (and estimates) at most this many trials: a grid may hold millions, and its
# size is counted exactly anyway (trials_to_start).
DRY_RUN_LISTED = 200


def trials_to_start(spec: SweepSpec, paths: SweepPaths | None, *, count: int | None,
                    max_parallel: int) -> tuple[int, int]:
    """(index of the first new trial, how many a run would start now), counted, not listed."""
    check_runnable(spec, count)
    done = {int(r["index"]) for r in read_trials(paths)} if paths is not None else set()
    start = max(done, default=-1) + 1
    total = spec.planned_total()
    if spec.method == "bayes":
        n = count or max(1, max_parallel)
    else:
        n = (total - len(done)) if total is not None else count
        if count is not None:
            n = min(n, count)
    return start, max(0, n or 0)


def dry_run(spec: SweepSpec, paths: SweepPaths | None, *, count: int | None,
            max_parallel: int, limit: int | None = None) -> list[dict[str, Any]]:
    """The trials a run would start now (the first ``limit`` of them), with their resolved
    configs; nothing is written."""
    return _planned(spec, paths, count=count, max_parallel=max_parallel, limit=limit)[0]


def estimate_dry_run(spec: SweepSpec, paths: SweepPaths | None, store: RunStore, *,
                     count: int | None, max_parallel: int
                     ) -> tuple[list[dict[str, Any]], int, SweepEstimate]:
    """What `emotui sweep FILE --dry-run` (and the TUI's estimate) show: the first
    DRY_RUN_LISTED trials a run would start now (dry_run), how many it would start
    (trials_to_start), and what the listed ones will cost (sweep.estimate)."""
    trials, starting = _planned(spec, paths, count=count, max_parallel=max_parallel,
                                limit=DRY_RUN_LISTED)
    return trials, starting, estimate_trials(trials, store, max_parallel)


def _planned(spec: SweepSpec, paths: SweepPaths | None, *, count: int | None,
             max_parallel: int, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """(dry_run's trials, how many a run would start now: trials_to_start's count)."""
    start, n = trials_to_start(spec, paths, count=count, max_parallel=max_parallel)
    starting = n
    if limit is not None:
        n = min(n, limit)
    sweep_id = paths.sweep_id if paths is not None else spec.default_id()
    planner = Planner(spec, sweep_id, None)  # bayes: an in-memory study, nothing persisted
    out = []
    for index in range(start, start + n):
        if spec.method == "grid":
            values = grid_point(spec, index)
            if values is None:
                break
        elif spec.method == "random":
            values = random_point(spec, index, planner.seed)
        else:
            _, values = planner.bayes.ask()
        config, _ = spec.trial_config(values)
        out.append({"trial": index, "params": swept_values(spec, values),
                    "config": config.to_dict()})
    return out, starting


def run_sweep(spec: SweepSpec, paths: SweepPaths, store: RunStore, launcher: TrialLauncher, *,
              max_parallel: int = 1, count: int | None = None,
              echo: Callable[[str], None] | None = None, poll_interval: float | None = None,
              trial_status: dict[str, Any] | None = None,
              stop_planning: Callable[[], str | None] | None = None,
              force: bool = False) -> str:
    """Drive the sweep to its end; ``stop_planning`` (a study's budget) may end planning
    early: then it ends "stopped". ``force``: take the sweep over from a controller whose
    liveness cannot be told (its time lies in the future; `sweep resume --force`)."""
    check_runnable(spec, count) if not read_trials(paths) else None
    controller = SweepController(spec, paths, store, launcher, max_parallel=max_parallel,
                                 count=count, echo=echo, poll_interval=poll_interval,
                                 trial_status=trial_status, stop_planning=stop_planning,
                                 force=force)
    try:
        return controller.run()
    finally:
        launcher.close()  # e.g. the MPS daemon of --trials-per-gpu, once no trial needs it
