"""What the TUI asks of the layers below: submit, cancel, resume, delete, launch a sweep or a
study, write a report.

Thin calls into emotui.launch.runs, the one owner of starting, resuming, cancelling and deleting
runs. No scheduling logic lives here; every failure surfaces as an EmotuiError for a
notification.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from emotui.core.config import RunConfig
from emotui.core.errors import BackendError, ConfigError, or_list
from emotui.core.progress import format_duration
from emotui.core.runstore import RunPaths, RunStore, atomic_write_text, read_json
from emotui.core.status import read_status
from emotui.launch import runs
from emotui.launch.registry import backend_names, backend_spec
from emotui.report.output import write_report as write_document


def form_resources(backend: str, form_values: dict[str, Any] | None):
    """The resources of a backend that takes them (its spec's ``resources``): the user
    config's section (~/.config/emotui/config.yaml, e.g. slurm:) < what the launch form says;
    None for a backend that takes none."""
    takes = backend_spec(backend).resources
    if takes is None:
        return None
    return takes.from_sources(None, form_values, flags_source="launch form")


def submit(store: RunStore, config: RunConfig, backend: str,
           resources: dict[str, Any] | None = None) -> str:
    """Create a run and start it on the backend (local: detached; slurm: sbatch); its id.
    ``resources``: the form's text for the resources the backend takes."""
    if not backend_spec(backend).tui:
        raise ConfigError(f"the TUI launches on {or_list(backend_names(tui=True))}, "
                          f"not {backend!r}")
    paths, _status = runs.start(store, config, backend=backend,
                                resources=form_resources(backend, resources))
    return paths.run_id


def cancel(paths: RunPaths) -> str:
    """Stop what lives of a run; returns what happened (e.g. 'already completed; ...')."""
    notes = runs.cancel([paths])
    return notes[0][1] if notes else "cancelled"


def resume(paths: RunPaths) -> str:
    """Start a failed, cancelled or preempted run again from its last checkpoint, on the
    backend (and with the resources, for one that takes them) it ran with before; waits
    (launch.runs) while the previous attempt's process is still stopping."""
    before = read_status(paths)
    backend = before.get("backend") or backend_names(tui=True)[0]
    if not backend_spec(backend).tui:  # e.g. inline: the TUI never trains in its own process
        backend = backend_names(tui=True)[0]
    resources = None
    takes = backend_spec(backend).resources
    if takes is not None:
        previous = before.get("resources")
        resources = takes.from_sources(
            previous=previous if isinstance(previous, dict) else None, flags_source="launch form")
    runs.resume(paths, backend=backend, resources=resources)
    return f"resumed on {backend}"


def delete(store: RunStore, run_id: str) -> None:
    """Delete a finished run's directory; never one that is active or has a live process."""
    runs.delete(store, store.paths(run_id))


def submit_sweep(store: RunStore, sweep_file: Path, backend: str,
                 resources: dict[str, Any] | None = None) -> str:
    """Start `emotui sweep FILE` as a detached controller (it outlives the TUI); its log path.
    ``resources``: the form's text for the resources the backend takes, handed over in their
    section of a --config file.

    The file is validated here first so a bad sweep is a one-line message, not a dead process.
    """
    # lazy: keeps the TUI's start fast (13 ms)
    from emotui.sweep.spec import load_sweep

    sweep_file = Path(sweep_file).expanduser().absolute()
    spec = load_sweep(sweep_file)
    logs = store.root / "sweeps"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%y%m%d-%H%M%S")
    command = [sys.executable, "-m", "emotui", "sweep", str(sweep_file),
               "--runs-dir", str(store.root), "--backend", backend]
    takes = backend_spec(backend).resources
    if takes is not None and resources:
        extra = logs / f".tui-{stamp}-{takes.section}.yaml"
        atomic_write_text(extra, yaml.safe_dump({takes.section: dict(resources)}))
        command += ["--config", str(extra)]
    log_path = logs / f".tui-{stamp}.log"
    with open(log_path, "ab") as log:
        try:
            subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
        except OSError as exc:
            raise BackendError(f"could not start the sweep controller: {exc}") from None
    return spec.default_id()


# The TUI writes reports as one self-contained HTML file: it opens in any browser.
REPORT_FORMAT = "html"


def write_report(store: RunStore | None, refs: list[str], out: Path,
                 shown: list[dict[str, Any]] | None = None) -> Path:
    """`emotui report REFS --format html --out OUT`: runs and sweeps of the store by id, plus
    ``shown``: runs of a remote source as the screen holds them (run_id, row, config, results,
    events). Returns the file written; an EmotuiError says why not."""
    # lazy: keeps the TUI's start fast (34 ms)
    from emotui.report.document import build_report
    from emotui.report.gather import Gathered, gather, viewed_run

    if store is None:
        raise ConfigError("no run store to report from")
    # gather() without references reports the whole store: only ask it for named ones.
    gathered = gather(store, refs) if refs else Gathered([], [], store)
    gathered.runs += [viewed_run(r["run_id"], r["row"], r["config"], r["results"],
                                 r.get("events")) for r in shown or []]
    report = build_report(gathered)
    return write_document(report, REPORT_FORMAT, out)[0]


def estimate_sweep(store: RunStore, sweep_file: Path, max_parallel: int = 1) -> list[str]:
    """What `emotui sweep FILE --dry-run` says the sweep's trials will cost, from the measured
    speed of earlier runs in the store (sweep.estimate); an EmotuiError for a bad sweep file."""
    # lazy: keeps the TUI's start fast (38 ms)
    from emotui.sweep.estimate import describe
    from emotui.sweep.runner import estimate_dry_run, open_sweep

    spec, paths, exists = open_sweep(Path(sweep_file).expanduser(), [], store)
    trials, starting, estimate = estimate_dry_run(spec, paths if exists else None, store,
                                                  count=None, max_parallel=max_parallel)
    lines = describe(estimate)
    if starting > len(trials):
        lines.append(f"(the estimate covers the first {len(trials)} of {starting:,} trials)")
    return lines


# -- studies ------------------------------------------------------------------------------------


def plan_study(store: RunStore, study_file: Path, max_parallel: int = 1) -> tuple[str, list[str]]:
    """(study id, lines) of what `emotui study FILE --dry-run` plans: the runs per phase and
    method and what they will cost (sweep.estimate); an EmotuiError for a bad study file."""
    # lazy: keeps the TUI's start fast (55 ms)
    from emotui.study.plan import estimate_study
    from emotui.study.study_file import load_study
    from emotui.study.store import StudyStore
    from emotui.sweep.estimate import describe

    spec = load_study([str(Path(study_file).expanduser())])
    study_id = spec.default_id()
    plan = estimate_study(spec, store, max(1, max_parallel))
    seeds = ", ".join(str(s) for s in spec.confirm_seeds)
    lines = [f"{len(plan.methods)} methods ({', '.join(m.method for m in plan.methods)}): "
             f"search {plan.search_trials} trials, confirm {plan.confirm_runs} runs"
             + (f" (seeds {seeds})" if seeds else " (no confirm seeds)")
             + f"; {plan.total} runs in all"]
    if spec.budget.given:
        parts = [f"{spec.budget.device_hours:g} device-hours"] \
            if spec.budget.device_hours is not None else []
        if spec.budget.wall_s is not None:
            parts.append(f"wall time {format_duration(spec.budget.wall_s)}")
        lines.append(f"budget: {' and '.join(parts)} for search")
    for phase, estimate in (("search", plan.search), ("confirm", plan.confirm)):
        if estimate is not None:
            lines += [f"{phase} {line}" for line in describe(estimate)]
    if read_json(StudyStore(store.root).paths(study_id).spec) is not None:
        # First: on a short terminal the plan scrolls, and this changes what launch does.
        lines.insert(0, "it exists in this store: launching continues it")
    return study_id, lines


def submit_study(store: RunStore, study_file: Path, backend: str,
                 max_parallel: int | None = None) -> str:
    """Start `emotui study FILE` as a detached controller (it outlives the TUI); the study id.

    Checked here first, as the command checks it before a study exists (the file, the model
    folder and data files, a study of that id with other settings or driven by a live
    controller), so a bad study is a one-line message, not a dead process.
    """
    # lazy: keeps the TUI's start fast (51 ms)
    from emotui.study.plan import check_inputs
    from emotui.study.study_file import load_study
    from emotui.study.store import StudyStore, controller_alive

    if not backend_spec(backend).tui:
        raise ConfigError(f"the TUI launches on {or_list(backend_names(tui=True))}, "
                          f"not {backend!r}")
    study_file = Path(study_file).expanduser().absolute()
    spec = load_study([str(study_file)])
    study_id = spec.default_id()
    studies = StudyStore(store.root)
    paths = studies.paths(study_id)
    existing = read_json(paths.spec)
    if existing is not None and existing.get("fingerprint") != spec.fingerprint():
        raise ConfigError(f"study {study_id} exists with other settings (from "
                          f"{existing.get('source')}); rename the study (name:) to start another")
    alive = controller_alive(paths) if existing is not None else None
    if alive:
        raise ConfigError(f"study {study_id} is already running (pid {alive.get('pid')} on "
                          f"{alive.get('host')})")
    check_inputs(spec)
    studies.root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%y%m%d-%H%M%S")
    command = [sys.executable, "-m", "emotui", "study", str(study_file),
               "--runs-dir", str(store.root), "--backend", backend]
    if max_parallel is not None and max_parallel > 1:
        command += ["--max-parallel", str(max_parallel)]
    with open(studies.root / f".tui-{stamp}.log", "ab") as log:
        try:
            subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
        except OSError as exc:
            raise BackendError(f"could not start the study controller: {exc}") from None
    return study_id


def study_report(store: RunStore, study_id: str, stamp: str,
                 refusal: str | None = None) -> tuple[list[Path], bool]:
    """A study's report: (its files, whether written now). A finished study's own report
    (its report phase: report/ in every format the study asks for) as it is, or written by
    that phase's writer when it has none; a study under way: `emotui report` of its sweeps so
    far, as HTML in report/interim-<stamp>.html. Always under the study's folder in the run
    store; an EmotuiError says why there is none. ``refusal``: a read-only session's notice,
    raised instead of writing anything."""
    # lazy: keeps the TUI's start fast (88 ms)
    from emotui.study.outcome import write_report as write_study_report
    from emotui.study.store import StudyStore, controller_alive, read_state
    from emotui.study.summary import load_spec
    from emotui.sweep.store import SweepStore

    paths = StudyStore(store.root).find(study_id)
    spec, state = load_spec(paths), read_state(paths)
    if state.get("phase") == "done" and controller_alive(paths) is None:
        files = [Path(f) for f in (state.get("report") or {}).get("files") or []]
        if files and all(f.exists() for f in files):
            return files, False
        if refusal:
            raise ConfigError(refusal)
        if spec.report_formats:
            return write_study_report(spec, state, store, paths), True
    if refusal:
        raise ConfigError(refusal)
    sweeps = SweepStore(store.root)
    refs = [record[part]["sweep_id"] for record in state["methods"].values()
            for part in ("search", "confirm")
            if sweeps.paths(record[part]["sweep_id"]).spec.exists()]
    if not refs:
        raise ConfigError(f"study {paths.study_id} has no run to report yet")
    paths.report.mkdir(parents=True, exist_ok=True)
    return [write_report(store, refs, paths.report / f"interim-{stamp}.html")], True
