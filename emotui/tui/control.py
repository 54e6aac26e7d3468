"""What the TUI asks of the layers below: submit, cancel, resume, delete, launch a sweep.

Thin calls into emotui.launch / emotui.sweep (imported lazily: they are not needed to browse
runs). No scheduling logic lives here; errors surface as EmotuiError for a notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emotui.core.config import RunConfig
from emotui.core.errors import BackendError, ConfigError
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import ACTIVE, read_status, state_of


def _launch():
    try:
        import emotui.launch as launch
    except ImportError as exc:  # the launch layer is written in parallel; say so plainly
        raise BackendError(f"launching is unavailable: {exc}") from None
    return launch


def submit(store: RunStore, config: RunConfig, backend: str,
           slurm: dict[str, Any] | None = None) -> str:
    """Create a run in the store and start it on the backend; returns the run id."""
    launch = _launch()
    sections = {"slurm": dict(slurm or {})} if backend == "slurm" else {}
    handle = launch.submit(config, backend=backend, store=store, sections=sections)
    return getattr(handle, "run_id", None) or str(handle)


def cancel(paths: RunPaths) -> None:
    _launch().cancel(paths)


def resume(paths: RunPaths) -> None:
    _launch().resume(paths)


def delete(store: RunStore, run_id: str) -> None:
    """Delete a finished run's directory; never one that is queued, running or preempted."""
    paths = store.paths(run_id)
    state = state_of(read_status(paths))
    if state in ACTIVE:
        raise ConfigError(f"run {run_id} is {state}; cancel it before deleting it")
    store.delete(run_id)


def submit_sweep(store: RunStore, sweep_file: Path, backend: str,
                 slurm: dict[str, Any] | None = None) -> str:
    """Start a sweep file's trials on the backend; returns the sweep id."""
    try:
        import emotui.sweep as sweep
    except ImportError as exc:
        raise BackendError(f"sweeps are unavailable: {exc}") from None
    result = sweep.launch_sweep(Path(sweep_file), backend=backend, store=store,
                                sections={"slurm": dict(slurm or {})} if backend == "slurm" else {})
    return getattr(result, "sweep_id", None) or str(result)
