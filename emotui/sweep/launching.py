"""How the offline controller starts, watches and stops a trial: one small interface per backend.

``make_launcher(backend, ...)`` returns an object with

- ``blocking``: True for inline (``start`` trains in this process and returns when it ends);
- ``start(paths, config, *, resume, watch) -> handle``: begin the trial in its run directory;
  ``watch()`` is called while it trains and returns a stop reason (hyperband) or None;
- ``done(handle) -> bool`` and ``stop(handle, reason)`` for the non-blocking backends;
- ``alive(paths) -> bool``: whether some process still executes the run (reattach on resume).

Inline calls ``emotui.train.train`` directly; local and Slurm go through ``emotui.launch``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotui.core.config import RunConfig
from emotui.core.errors import BackendError, ConfigError, DataError
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import RunPaths
from emotui.core.status import (
    HEARTBEAT_STALE_S,
    RunState,
    heartbeat_age,
    read_status,
    state_of,
)

WATCH_INTERVAL_S = 0.2


class SweepInterrupted(Exception):
    """The user stopped the sweep (Ctrl-C); the running trial saved a checkpoint."""


@dataclass
class Outcome:
    """How a trial that ran in this process ended."""

    kind: str  # completed | failed | early_stopped | interrupted | setup_error
    error: BaseException | None = None
    reason: str | None = None


@dataclass
class Handle:
    paths: RunPaths
    backend_handle: Any = None
    outcome: Outcome | None = None
    stop_reason: str | None = None
    stop_time: float | None = None
    started: float = field(default_factory=time.time)


class _WatchingEvent(threading.Event):
    """A stop_event that also asks the controller, whenever training checks it.

    The training loop polls ``is_set()`` between steps; consulting hyperband right there makes
    the stop land at the first step after the evaluation that decided it, not at a timer tick.
    ``watch`` is only re-run when the run's metrics file has grown, so polling stays cheap.
    """

    def __init__(self, watch: Callable[[], str | None] | None, metrics: Path):
        super().__init__()
        self.watch = watch
        self.metrics = metrics
        self.reason: str | None = None
        self._size = -1
        self._lock = threading.Lock()

    def is_set(self) -> bool:  # type: ignore[override]
        if super().is_set() or self.watch is None:
            return super().is_set()
        try:
            size = self.metrics.stat().st_size
        except FileNotFoundError:
            return False
        with self._lock:
            if size != self._size:
                self._size = size
                reason = self.watch()
                if reason and not super().is_set():
                    self.reason = reason
                    self.set()
        return super().is_set()


class InlineLauncher:
    """Trials one after another in this process (a worker thread, so Ctrl-C stays responsive)."""

    name = "inline"
    blocking = True
    max_parallel = 1

    def __init__(self, train_fn: Callable[..., dict] | None = None):
        self._train_fn = train_fn

    def _train(self) -> Callable[..., dict]:
        if self._train_fn is not None:
            return self._train_fn
        from emotui.train import train

        return train

    def start(self, paths: RunPaths, config: RunConfig, *, resume: bool,
              watch: Callable[[], str | None] | None = None,
              tick: Callable[[], None] | None = None) -> Handle:
        """Train to the end here; ``tick`` runs every WATCH_INTERVAL_S (controller heartbeat)."""
        from emotui.train import Preempted

        train = self._train()
        stop = _WatchingEvent(watch, paths.metrics)
        result: dict[str, Any] = {}
        # Our own "finished" flag: after a KeyboardInterrupt lands inside Thread.join(),
        # CPython can report the thread dead while it still runs, so is_alive() is not trusted.
        finished = threading.Event()

        def work() -> None:
            try:
                result["results"] = train(config, paths.root, resume=resume, stop_event=stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the controller thread
                result["error"] = exc
            finally:
                finished.set()

        handle = Handle(paths)
        interrupted = False
        with RunLogFiles(paths):
            worker = threading.Thread(target=work, name=f"trial-{paths.run_id}", daemon=True)
            worker.start()
            while not finished.is_set():
                try:
                    finished.wait(WATCH_INTERVAL_S)
                    if tick is not None:
                        tick()
                    if not stop.is_set() and watch is not None:
                        stop.is_set()  # consult hyperband even if training polls rarely
                except KeyboardInterrupt:
                    if interrupted:
                        raise
                    interrupted = True
                    stop.reason = None
                    stop.set()  # the loop saves a checkpoint and raises Preempted
        error = result.get("error")
        if error is None:
            handle.outcome = Outcome("completed")
        elif isinstance(error, Preempted) and stop.reason and not interrupted:
            handle.outcome = Outcome("early_stopped", reason=stop.reason)
        elif isinstance(error, Preempted) or interrupted:
            handle.outcome = Outcome("interrupted", error)
        elif isinstance(error, (ConfigError, DataError)) and not resume \
                and state_of(read_status(paths)) in (None, RunState.QUEUED, RunState.FAILED) \
                and not paths.metrics.exists():
            handle.outcome = Outcome("setup_error", error)
        elif isinstance(error, KeyboardInterrupt):
            handle.outcome = Outcome("interrupted", error)
        else:
            handle.outcome = Outcome("failed", error)
        return handle

    def done(self, handle: Handle) -> bool:
        return True

    def stop(self, handle: Handle, reason: str) -> None:  # inline trials stop via their event
        handle.stop_reason = reason

    def alive(self, paths: RunPaths) -> bool:
        # Another process (an earlier controller still running?) keeps the heartbeat fresh.
        age = heartbeat_age(paths)
        state = state_of(read_status(paths))
        return state == RunState.RUNNING and age is not None and age < HEARTBEAT_STALE_S


def make_launcher(backend: str, *, max_parallel: int = 1, sections: dict[str, Any] | None = None,
                  train_fn: Callable[..., dict] | None = None) -> Any:
    if backend == "inline":
        return InlineLauncher(train_fn)
    if backend in ("local", "slurm"):
        from emotui.sweep.backend_launch import LaunchLayerLauncher

        return LaunchLayerLauncher(backend, max_parallel=max_parallel, sections=sections or {})
    raise BackendError(f"unknown backend '{backend}'; choose inline, local or slurm")
