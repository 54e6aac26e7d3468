"""The runs a report covers, from every place runs live, as one kind of record (``ReportRun``).

References are read as `emotui compare` reads them (run ids, folders of W&B offline runs) plus
sweep ids; W&B project runs come through the same sources and merge into their local twins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from emotui.core.errors import EmotuiError, RunNotFound
from emotui.core.events import summary_events
from emotui.core.results import SUMMARY_METRICS
from emotui.core.runstore import RunPaths, RunStore, read_json
from emotui.core.runview import read_yaml_object
from emotui.core.vocabulary import Event, EventField, ResultKey
from emotui.core.status import read_status
from emotui.sweep.store import SweepStore, read_trials
from emotui.sweep.summary import is_collapsed
from emotui.tracking import keys
from emotui.tracking.keys import LINK_KEY
from emotui.tracking.sources import (
    is_offline_path,
    local_row,
    merge_rows,
    offline_runs,
    record_detail,
)
from emotui.tracking.trackers import tracker
from emotui.tracking.wandb_api import age_text

EventLoader = Callable[[], list[dict[str, Any]]]


@dataclass
class ReportRun:
    """One run as the report sees it: its config, its results, and its metric events."""

    run_id: str
    source: str
    method: str | None
    status: str | None
    config: dict[str, Any]
    results: dict[str, Any]
    sweep_id: str | None = None
    load_events: EventLoader | None = None
    _events: list[dict[str, Any]] | None = field(default=None, repr=False)

    def metric(self, key: str) -> float | None:
        value = self.results.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else None

    @property
    def events(self) -> list[dict[str, Any]]:
        if self._events is None:
            self._events = self.load_events() if self.load_events else []
        return self._events

    def eval_curve(self) -> list[tuple[float, float]]:
        """(epoch, validation accuracy) of each evaluation (metrics.jsonl split "eval")."""
        points = []
        for event in self.events:
            if event.get(EventField.SPLIT) != Event.EVAL \
                    or not isinstance(event.get(EventField.ACCURACY), (int, float)):
                continue
            x = event.get(EventField.EPOCH)
            if not isinstance(x, (int, float)):
                x = event.get(EventField.STEP)
            if isinstance(x, (int, float)):
                points.append((float(x), float(event[EventField.ACCURACY])))
        return points

    @property
    def finished(self) -> bool:
        """Completed, with a validation or a test accuracy to report."""
        return self.status == "completed" and (
            self.metric(ResultKey.EVAL_ACCURACY) is not None
            or self.metric(ResultKey.TEST_ACCURACY) is not None)

    @property
    def collapsed(self) -> bool:
        return is_collapsed(self.results, self.events if self.source == "local" else [])


@dataclass
class Gathered:
    runs: list[ReportRun]
    sweeps: list[Any]  # SweepPaths named (or, without references, every sweep in the store)
    store: RunStore
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def local_run(paths: RunPaths) -> ReportRun:
    # config.yaml read once for the row and the report; one that is not a mapping is left to
    # the row to read again and report (core.runview), as `emotui compare` does.
    config, problem = read_yaml_object(paths.config)
    row = local_row(paths, config if config is not None and problem is None else None)
    results = dict(read_json(paths.results) or {})
    for key in SUMMARY_METRICS:  # status.json carries some of them before results.json exists
        if results.get(key) is None and row.get(key) is not None:
            results[key] = row[key]
    config = config or {}
    return ReportRun(
        run_id=paths.run_id, source=row.get("source") or "local", method=row.get("method"),
        status=row.get("status"), config=config, results=results, sweep_id=row.get("sweep_id"),
        # What the report reads of metrics.jsonl (evaluations, non-finite flags), read a piece
        # at a time: a file of hundreds of MB is never held whole.
        load_events=lambda: summary_events(paths.metrics),
    )


def remote_run(record: dict[str, Any], history: list[dict[str, Any]] | None = None,
               history_loader: Callable[[], list[dict[str, Any]]] | None = None) -> ReportRun:
    """A W&B run (offline file or project record); curves from its history when there is one."""
    detail = record_detail(record, history)
    row = detail["row"]
    results = dict(detail["results"])
    summary = detail.get("summary") or {}
    if isinstance(summary.get(ResultKey.COLLAPSED), bool):
        results[ResultKey.COLLAPSED] = summary[ResultKey.COLLAPSED]

    def events() -> list[dict[str, Any]]:
        if history is not None:
            return detail["events"]
        return keys.history_to_events(history_loader()) if history_loader else []

    return ReportRun(
        run_id=row["run_id"], source=row.get("source") or "wandb", method=row.get("method"),
        status=row.get("status"), config=detail["config"], results=results,
        sweep_id=row.get("sweep_id"), load_events=events,
    )


def viewed_run(run_id: str, row: dict[str, Any], config: dict[str, Any],
               results: dict[str, Any], events: list[dict[str, Any]] | None) -> ReportRun:
    """A run as a viewer already holds it (the TUI's detail of a W&B run): the row's summary
    columns, filled in by its results; nothing is read again."""
    merged = {key: row.get(key) for key in SUMMARY_METRICS}
    merged.update({key: value for key, value in results.items() if value is not None})
    return ReportRun(
        run_id=run_id, source=row.get("source") or "wandb",
        method=row.get("method") or config.get("method"), status=row.get("status"),
        config=dict(config), results=merged, sweep_id=row.get("sweep_id"),
        load_events=lambda: list(events or []),
    )


def _resolve_ref(ref: str, store: RunStore, sweeps: Any) -> tuple[str, Any]:
    """("run", RunPaths) or ("sweep", SweepPaths) for a reference; one-line error otherwise.
    An exact sweep id wins; then a run (id, prefix, suffix); then a sweep (prefix, part)."""
    if ref in sweeps.ids():
        return "sweep", sweeps.find(ref)
    try:
        return "run", store.find(ref)
    except RunNotFound as run_error:
        try:
            return "sweep", sweeps.find(ref)
        except RunNotFound as sweep_error:
            raise RunNotFound(f"{run_error}; and as a sweep: {sweep_error}") from None


def sweep_run_ids(sweep: Any, store: RunStore) -> list[str]:
    """A sweep's trial runs: its trial records, and any run whose status names the sweep."""
    ids = [str(r["run_id"]) for r in read_trials(sweep) if r.get("run_id")]
    for paths in store:
        if paths.run_id not in ids and read_status(paths).get("sweep_id") == sweep.sweep_id:
            ids.append(paths.run_id)
    return [i for i in ids if (store.root / i / "status.json").exists()]


def gather(store: RunStore, refs: list[str], *, wandb: str | None = None,
           refresh: bool = False, trackers: dict[str, str] | None = None) -> Gathered:
    """Every run the references name (all local runs when none), the runs of W&B (``wandb``)
    or any tracker's projects (``trackers``: tracker name -> project) merged in."""
    sweeps = SweepStore(store.root)
    local: dict[str, ReportRun] = {}
    remote: dict[str, ReportRun] = {}
    named_sweeps = []
    gathered = Gathered([], [], store)
    for ref in refs:
        if is_offline_path(ref):
            for run in offline_runs(Path(ref)):
                report_run = remote_run(run.to_record(), run.history)
                remote.setdefault(report_run.run_id, report_run)
            continue
        kind, found = _resolve_ref(ref, store, sweeps)
        if kind == "sweep":
            named_sweeps.append(found)
            ids = sweep_run_ids(found, store)
        else:
            ids = [found.run_id]
        for run_id in ids:
            if run_id not in local:
                local[run_id] = local_run(store.paths(run_id))
    if not refs:
        local = {paths.run_id: local_run(paths) for paths in store}
        named_sweeps = list(sweeps)
    projects = dict(trackers or {})
    if wandb is not None:
        projects["wandb"] = wandb
    for name, project in projects.items():
        for report_run in _project_runs(name, project, refresh, gathered):
            remote.setdefault(report_run.run_id, report_run)

    # compare's linking rule: a W&B run of a local run fills the local run's gaps, not a row.
    local_rows = [{**_metrics(r), "run_id": r.run_id, "source": "local",
                   "wandb_run_id": r.results.get("wandb_run_id")} for r in local.values()]
    remote_rows = [{**_metrics(r), "run_id": r.run_id, "source": r.source,
                    "wandb_run_id": r.run_id, "linked_run_id": r.config.get(LINK_KEY)}
                   for r in remote.values()]
    runs = []
    for row in merge_rows(local_rows, remote_rows):
        run = local.get(row["run_id"]) if str(row["source"]).startswith("local") else None
        if run is not None:
            run.source = row["source"]
            run.results.update({k: row[k] for k in SUMMARY_METRICS
                                if run.results.get(k) is None and row.get(k) is not None})
            runs.append(run)
        elif row["run_id"] in remote:
            runs.append(remote[row["run_id"]])
    gathered.runs = runs
    gathered.sweeps = list({s.sweep_id: s for s in named_sweeps}.values())
    return gathered


def _metrics(run: ReportRun) -> dict[str, Any]:
    return {key: run.results.get(key) for key in SUMMARY_METRICS}


def _project_runs(name: str, path: str, refresh: bool,
                  gathered: Gathered) -> list[ReportRun]:
    found = tracker(name)
    project = found.project(path)
    loaded = project.load(refresh=refresh)
    if loaded.warning:
        gathered.warnings.append(loaded.warning)
    elif loaded.fetched and not refresh and time.time() - loaded.fetched > 60:
        gathered.notes.append(f"{found.label} runs of {loaded.path} as cached "
                              f"{age_text(loaded.fetched)}; --refresh fetches them again")

    def loader(run_id: str) -> Callable[[], list[dict[str, Any]]]:
        def load() -> list[dict[str, Any]]:
            try:
                return project.history(run_id, refresh=refresh)
            except EmotuiError as exc:  # WandbUnavailable, TrackioUnavailable
                gathered.warnings.append(f"no curves for {found.label} run {run_id}: {exc}")
                return []
        return load

    return [remote_run(record, history_loader=loader(str(record.get("id"))))
            for record in loaded.records]
