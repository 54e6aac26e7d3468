"""Trials on the local and Slurm backends, through ``emotui.launch``.

The controller keeps at most ``--max-parallel`` trials in flight and starts the next one when a
slot frees (a pool), which is what bayes (it must see results before suggesting) and hyperband
(it must stop trials) need. A grid or random sweep without early termination on Slurm is instead
submitted as one job array with a ``%max-parallel`` cap (``start_many``): Slurm then runs it to
the end even if the controller goes away, and ``emotui sweep resume`` reattaches.

A hyperband stop goes through the backend's cancel (SIGTERM -> the job saves a checkpoint and
exits); the controller then records the trial as early-stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from emotui.core.config import RunConfig
from emotui.core.runstore import RunPaths
from emotui.core.status import ACTIVE, RunState, read_status
from emotui.sweep.launching import Handle

_ACTIVE = {s.value for s in ACTIVE}
STOP_WAIT_S = 30.0  # after a hyperband cancel, wait this long at most for the job's exit record
MAX_LOCAL_RESUBMITS = 3


class LaunchLayerLauncher:
    blocking = False

    def __init__(self, backend: str, *, max_parallel: int, sections: dict[str, Any]):
        from emotui.launch import get_backend

        self.name = backend
        self.backend = get_backend(backend)
        self.max_parallel = max_parallel
        self.resources = None
        if backend == "slurm":
            from emotui.launch.resources import resources_from_sources

            self.resources = resources_from_sources(sections.get("slurm"),
                                                    config_source="sweep --config")
        self._resubmits: dict[str, int] = {}

    @property
    def supports_array(self) -> bool:
        return self.name == "slurm"

    def start(self, paths: RunPaths, config: RunConfig, *, resume: bool,
              watch: Callable[[], str | None] | None = None) -> Handle:
        self.backend.submit(paths, resume=resume, resources=self.resources)
        return Handle(paths)

    def start_many(self, runs: Sequence[RunPaths], *, job_name: str) -> list[Handle]:
        self.backend.submit_many(list(runs), resources=self.resources,
                                 max_parallel=self.max_parallel, job_name=job_name)
        return [Handle(p) for p in runs]

    def reattach(self, paths: RunPaths) -> Handle:
        return Handle(paths)

    @property
    def poll_interval(self) -> float:
        return 5.0 if self.name == "slurm" else 2.0

    def refresh(self, runs: Sequence[RunPaths]) -> None:
        """One batched status call (one squeue on Slurm) for every trial in flight."""
        from emotui.launch.monitor import refresh_runs

        self._cache = refresh_runs(list(runs)) if runs else {}

    def _live(self, paths: RunPaths) -> dict[str, Any]:
        cached = getattr(self, "_cache", {}).pop(paths.run_id, None)
        if cached is not None:
            return cached
        from emotui.launch.monitor import refresh_runs

        return refresh_runs([paths]).get(paths.run_id) or read_status(paths)

    def alive(self, paths: RunPaths) -> bool:
        """A job exists for the run (queued or running); a run dir never submitted has none."""
        status = self._live(paths)
        submitted = status.get("job_id") or status.get("pid")
        return bool(submitted) and status.get("state") in (RunState.QUEUED.value,
                                                           RunState.RUNNING.value)

    def done(self, handle: Handle) -> bool:
        paths = handle.paths
        status = self._live(paths)
        state = status.get("state")
        if handle.stop_reason is not None:
            # Cancelled for hyperband: done once the job has left its exit record (or gave up).
            waited = time.time() - (handle.stop_time or time.time())
            return state not in _ACTIVE and (paths.exit_file.exists() or waited > STOP_WAIT_S)
        if state == RunState.PREEMPTED.value and self.name == "local":
            # A local job stopped by a signal nobody here sent: continue it from its checkpoint.
            count = self._resubmits.get(paths.run_id, 0)
            if count < MAX_LOCAL_RESUBMITS:
                self._resubmits[paths.run_id] = count + 1
                self.backend.submit(paths, resume=True)
                return False
        return state not in _ACTIVE

    def stop(self, handle: Handle, reason: str) -> None:
        from emotui.launch.monitor import cancel_runs

        handle.stop_reason = reason
        handle.stop_time = time.time()
        cancel_runs([handle.paths])
