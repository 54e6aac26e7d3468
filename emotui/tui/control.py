"""What the TUI asks of the layers below: submit, cancel, resume, delete, launch a sweep.

Thin calls into emotui.launch (imported lazily: browsing runs needs none of it). No scheduling
logic lives here; every failure surfaces as an EmotuiError for a notification.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from emotui.core.config import RunConfig, dump_config
from emotui.core.errors import BackendError, ConfigError
from emotui.core.runstore import RunPaths, RunStore, atomic_write_text
from emotui.core.status import ACTIVE, RunState, now, read_status, state_of, write_status


def slurm_resources(form_values: dict[str, Any] | None):
    """User defaults (~/.config/emotui/config.yaml slurm:) < what the launch form says."""
    from emotui.core.userconfig import user_config_path, user_section
    from emotui.launch.resources import merge_resources

    return merge_resources([(f"{user_config_path()} (slurm:)", user_section("slurm")),
                            ("launch form", form_values or {})])


def create_run(store: RunStore, config: RunConfig, backend: str) -> RunPaths:
    """A new run directory with its resolved config.yaml and a queued status.json."""
    paths = store.create(config.method)
    try:
        atomic_write_text(paths.config, dump_config(config))
        write_status(paths, run_id=paths.run_id, state=RunState.QUEUED, reason=None,
                     backend=backend, method=config.method, created=now())
    except BaseException:
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    return paths


def submit(store: RunStore, config: RunConfig, backend: str,
           slurm: dict[str, Any] | None = None) -> str:
    """Create a run and start it on the backend (local: detached; slurm: sbatch); its id."""
    from emotui.launch import get_backend

    if backend not in ("local", "slurm"):
        raise ConfigError(f"the TUI launches on local or slurm, not {backend!r}")
    runner = get_backend(backend)
    resources = slurm_resources(slurm) if backend == "slurm" else None
    paths = create_run(store, config, backend)
    try:
        runner.submit(paths, resources=resources)
    except BaseException as exc:
        # Nothing half-written: a run that never started leaves no directory behind.
        shutil.rmtree(paths.root, ignore_errors=True)
        if isinstance(exc, (BackendError, ConfigError)):
            raise
        raise BackendError(f"could not submit to {backend}: {exc}") from exc
    return paths.run_id


def cancel(paths: RunPaths) -> str:
    """Cancel an active run; returns what happened (e.g. 'already completed')."""
    from emotui.launch.monitor import cancel_runs

    notes = cancel_runs([paths])
    return notes[0][1] if notes else "cancelled"


def resume(paths: RunPaths) -> str:
    """Start a failed, cancelled or preempted run again from its last checkpoint, on the
    backend (and, for Slurm, the resources) it ran with before."""
    from emotui.launch import get_backend
    from emotui.launch.monitor import prepare_resume
    from emotui.launch.resources import merge_resources

    before = read_status(paths)
    backend = before.get("backend") or "local"
    backend = "local" if backend == "inline" else backend  # the TUI never trains in-process
    resources = None
    if backend == "slurm":
        previous = before.get("resources")
        resources = merge_resources([("the run's last submission", previous)]) \
            if isinstance(previous, dict) else slurm_resources(None)
    prepare_resume(paths)
    try:
        write_status(paths, backend=backend)
        get_backend(backend).submit(paths, resume=True, resources=resources)
    except BaseException:
        # Not resumed after all: the run keeps the state it had.
        write_status(paths, **{k: before.get(k) for k in ("state", "reason", "backend", "ended")})
        raise
    return f"resumed on {backend}"


def delete(store: RunStore, run_id: str) -> None:
    """Delete a finished run's directory; never one that is queued, running or preempted."""
    paths = store.paths(run_id)
    state = state_of(read_status(paths))
    if state in ACTIVE:
        raise ConfigError(f"run {run_id} is {state}; cancel it before deleting it")
    store.delete(run_id)


def submit_sweep(store: RunStore, sweep_file: Path, backend: str,
                 slurm: dict[str, Any] | None = None) -> str:
    """Start `emotui sweep FILE` as a detached controller (it outlives the TUI); its log path.

    The file is validated here first so a bad sweep is a one-line message, not a dead process.
    """
    from emotui.sweep.spec import load_sweep

    sweep_file = Path(sweep_file).expanduser().absolute()
    spec = load_sweep(sweep_file)
    logs = store.root / "sweeps"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%y%m%d-%H%M%S")
    command = [sys.executable, "-m", "emotui", "sweep", str(sweep_file),
               "--runs-dir", str(store.root), "--backend", backend]
    if backend == "slurm" and slurm:
        extra = logs / f".tui-{stamp}-slurm.yaml"
        atomic_write_text(extra, yaml.safe_dump({"slurm": dict(slurm)}))
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
