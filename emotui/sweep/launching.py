"""How the offline controller starts, watches and stops trials: one adapter over a launch backend.

``TrialLauncher(backend)`` adapts ``emotui.launch``'s Backend interface to what the controller
needs, and reads what the backend can do from its spec (``emotui.launch.registry``):

- a backend that is not ``detached`` (inline) trains each trial in this process, one at a time
  (``launch.foreground.run_in_foreground``): ``start`` returns when the trial has ended, with its
  ``Outcome``; the first Ctrl-C stops the trial after a checkpoint, then the sweep;
- a detached one (local, Slurm) submits and returns at once. The controller keeps at most
  ``--max-parallel`` trials in flight and starts the next one when a slot frees (a pool), which is
  what bayes (it must see results before suggesting) and hyperband (it must stop trials) need.
  A grid or random sweep without early termination on a backend with job ``arrays`` is instead
  submitted as one array with a ``%max-parallel`` cap (``start_many``): the scheduler then runs
  it to the end even if the controller goes away, and ``emotui sweep resume`` reattaches.

A hyperband stop of a detached trial goes through the backend's cancel (SIGTERM -> the job saves a
checkpoint and exits); the controller then records the trial as early-stopped.

``--trials-per-gpu K`` (sweep.sharing) follows the spec too: a backend that ``pins_gpus`` gets
each trial placed on a GPU of this machine (``has_room`` tells the controller when all are
full); one that ``packs_trials`` gets K trials per job, in its array or, for trials the pool
starts together, in ``flush``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotui.core import heap
from emotui.core.config import RunConfig
from emotui.core.failure_reasons import interrupted_reason
from emotui.core.lifecycle import ACTIVE, RunState, mark_cancelled, never_started
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.launch import backend_spec, runs
from emotui.launch.foreground import ForegroundRun, TrainFn, run_in_foreground
from emotui.launch.gpu_share import visible_gpus
from emotui.launch.monitor import reattach_run, refresh_runs
from emotui.sweep.sharing import GpuPlacement, TrialSharing, check_sharing
from emotui.train import Preempted

STOP_WAIT_S = 30.0  # after a hyperband cancel, wait this long at most for the job's exit record
MAX_RESUBMITS = 3  # a preempted trial nobody requeues is continued this often at most


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
    outcome: Outcome | None = None  # set once a trial trained in this process has ended
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


class TrialLauncher:
    """The controller's view of one backend: start, watch, stop and reattach trials."""

    def __init__(self, backend: str, *, max_parallel: int = 1, resources: Any = None,
                 train_fn: TrainFn | None = None, sharing: TrialSharing | None = None,
                 gpus: Sequence[str] | None = None, sweep_id: str = "sweep"):
        self.spec = backend_spec(backend)
        self.name = self.spec.name
        # Not detached: the trial trains in this process, so start() blocks until it ends.
        self.blocking = not self.spec.detached
        self.max_parallel = 1 if self.blocking else max(1, max_parallel)
        self.poll_interval = self.spec.poll_interval_s
        self.arrays = self.spec.arrays
        self.resources = resources  # an instance of spec.resources, for submit
        self._train_fn = train_fn  # tests train a stand-in instead of emotui.train.train
        self._live: dict[str, dict[str, Any]] = {}
        self._resubmits: dict[str, int] = {}
        # --trials-per-gpu K (sweep.sharing): trials pinned to this machine's GPUs, or K to a job.
        self.sharing = check_sharing(self.name, sharing.trials_per_gpu, sharing.mps) \
            if sharing is not None else None
        self.job_name = f"sweep-{sweep_id}"
        # A live display of the trial training here (`emotui sweep` in a terminal): show(paths,
        # done) runs in the main thread until done() says the trial has ended.
        self.show: Callable[[RunPaths, Callable[[], bool]], None] | None = None
        self.placement: GpuPlacement | None = None
        self.pack_size = 1
        if self.sharing is not None and self.spec.pins_gpus:
            gpus = visible_gpus() if gpus is None else list(gpus)
            if gpus:  # with no GPU, K changes nothing: max_parallel alone caps
                self.placement = GpuPlacement(self.sharing, gpus, sweep_id)
        elif self.sharing is not None and self.spec.packs_trials:
            self.pack_size = self.sharing.trials_per_gpu
        self._unsent: list[RunPaths] = []  # trials to submit together, K to a job (flush)

    # -- starting ----------------------------------------------------------------------------

    def start(self, paths: RunPaths, config: RunConfig, *, resume: bool,
              watch: Callable[[], str | None] | None = None,
              tick: Callable[[], None] | None = None) -> Handle:
        """Begin the trial in its run directory. ``watch()`` returns a stop reason (hyperband)
        or None; ``tick`` runs every few tenths of a second while a trial trains here."""
        if self.blocking:
            return self._train_here(paths, config, resume=resume, watch=watch, tick=tick)
        if self.pack_size > 1:
            self._unsent.append(paths)  # submitted with the others started now (flush)
        else:
            self._submit(paths, resume=resume)
        return Handle(paths)

    def has_room(self) -> bool:
        """Whether another trial may start now as far as the GPUs go (--trials-per-gpu)."""
        return self.placement is None or self.placement.has_room()

    def flush(self) -> None:
        """Submit the trials start() has held back, K to a job (a backend that packs them)."""
        held, self._unsent = self._unsent, []
        # No resume flag: each job resumes its run when it has a checkpoint (run_job's rule),
        # which is what start(resume=True) asked for.
        if held:
            runs.submit_many(held, backend=self.name, resources=self.resources,
                             max_parallel=len(held), job_name=self.job_name,
                             **self._pack_options(min(self.pack_size, len(held))))

    def _submit(self, paths: RunPaths, *, resume: bool) -> None:
        """A new trial's first start, or (``resume``) a new attempt of an interrupted one, which
        waits for anything of its previous attempt still stopping (launch.runs)."""
        env = self.placement.env_for(paths.run_id) if self.placement is not None else None
        if resume:
            runs.resume(paths, backend=self.name, resources=self.resources, env=env,
                        allowed=None)
        else:
            runs.submit(paths, backend=self.name, resources=self.resources, env=env)

    def _pack_options(self, trials_per_job: int) -> dict[str, Any]:
        if self.sharing is None or not self.spec.packs_trials:
            return {}
        return {"trials_per_job": trials_per_job, "mps": self.sharing.mps}

    def start_many(self, trials: Sequence[RunPaths], *, job_name: str) -> list[Handle]:
        """All the runs as one job array, at most max_parallel at once (spec.arrays)."""
        runs.submit_many(trials, backend=self.name, resources=self.resources,
                         max_parallel=self.max_parallel, job_name=job_name,
                         **self._pack_options(self.pack_size))
        return [Handle(p) for p in trials]

    def close(self) -> None:
        """The sweep's controller is done: stop what it started for its trials (MPS)."""
        if self.placement is not None:
            self.placement.close()

    def _train_here(self, paths: RunPaths, config: RunConfig, *, resume: bool,
                    watch: Callable[[], str | None] | None,
                    tick: Callable[[], None] | None) -> Handle:
        stop = _WatchingEvent(watch, paths.metrics)

        def beat() -> None:
            if tick is not None:
                tick()
            stop.is_set()  # consult hyperband even if training polls rarely

        def interrupted(how: str) -> None:
            stop.reason = None  # the user's stop, not hyperband's

        show = None
        if self.show is not None:
            def show(done: Callable[[], bool]) -> None:
                def beating_done() -> bool:  # the display holds the main thread: beat here
                    beat()
                    return done()

                self.show(paths, beating_done)

        def train_here(trial: RunPaths) -> ForegroundRun:
            return run_in_foreground(trial, config, resume=resume, stop=stop,
                                     train_fn=self._train_fn, tick=beat, show=show,
                                     on_interrupt=interrupted)

        # A resumed trial is a new attempt of its run (launch.runs), trained here.
        run = runs.resume(paths, backend=self.name, allowed=None, train_here=train_here) \
            if resume else train_here(paths)
        heap.give_back_freed()  # this process trains the next trial too (core/heap.py)
        if run.interrupted:
            # Stopped from the terminal, as `emotui run` is: recorded cancelled (resumable);
            # the controller resumes it with the sweep.
            mark_cancelled(paths, f"{interrupted_reason(run.interrupted)} with its sweep; it "
                           "continues when the sweep does")
        handle = Handle(paths)
        handle.outcome = _outcome(paths, run, stop.reason, resume=resume)
        return handle

    # -- watching ----------------------------------------------------------------------------

    def refresh(self, runs: Sequence[RunPaths]) -> None:
        """One batched status call (one squeue on Slurm) for every trial in flight."""
        if self.blocking:
            return  # a trial trained here had ended before start() returned
        self._live = refresh_runs(list(runs)) if runs else {}

    def _status(self, paths: RunPaths) -> dict[str, Any]:
        cached = self._live.pop(paths.run_id, None)
        if cached is not None:
            return cached
        return refresh_runs([paths]).get(paths.run_id) or read_status(paths)

    def alive(self, paths: RunPaths) -> bool:
        """A job recorded in the run's status.json is still queued or running (a controller
        restarted meanwhile reattaches to it); a run dir never submitted has none."""
        return reattach_run(paths) is not None

    def reattach(self, paths: RunPaths) -> Handle:
        if self.placement is not None:
            self.placement.hold(paths, read_status(paths))
        return Handle(paths)

    def done(self, handle: Handle) -> bool:
        finished = self._finished(handle)
        if finished and self.placement is not None:
            self.placement.release(handle.paths.run_id)
        return finished

    def _finished(self, handle: Handle) -> bool:
        if self.blocking:
            return True
        paths = handle.paths
        status = self._status(paths)
        state = status.get("state")
        if handle.stop_reason is not None:
            # Cancelled for hyperband: done once the job has left its exit record (or gave up).
            waited = time.time() - (handle.stop_time or time.time())
            return state not in ACTIVE and (paths.exit_file.exists() or waited > STOP_WAIT_S)
        if state == RunState.PREEMPTED.value and not self.spec.requeues:
            # Stopped by a signal nobody here sent, and no scheduler requeues it: continue it
            # from its checkpoint.
            count = self._resubmits.get(paths.run_id, 0)
            if count < MAX_RESUBMITS:
                self._resubmits[paths.run_id] = count + 1
                self._submit(paths, resume=True)
                return False
        return state not in ACTIVE

    # -- stopping ----------------------------------------------------------------------------

    def stop(self, handle: Handle, reason: str) -> None:
        handle.stop_reason = reason
        if self.blocking:
            return  # a trial trained here stops through its stop event
        handle.stop_time = time.time()
        runs.cancel([handle.paths])


def _outcome(paths: RunPaths, run: ForegroundRun, stop_reason: str | None, *,
             resume: bool) -> Outcome:
    """What a trial trained in this process amounts to for the controller."""
    error = run.error
    interrupted = run.interrupted is not None
    if error is None:
        return Outcome("completed")
    if isinstance(error, Preempted) and stop_reason and not interrupted:
        return Outcome("early_stopped", reason=stop_reason)
    if isinstance(error, Preempted) or interrupted:
        return Outcome("interrupted", error)
    if never_started(paths, error, resume=resume):
        return Outcome("setup_error", error)
    if isinstance(error, KeyboardInterrupt):
        return Outcome("interrupted", error)
    return Outcome("failed", error)


def make_launcher(backend: str, *, max_parallel: int = 1, sections: dict[str, Any] | None = None,
                  train_fn: TrainFn | None = None, sharing: TrialSharing | None = None,
                  gpus: Sequence[str] | None = None, sweep_id: str = "sweep") -> TrialLauncher:
    """The launcher for ``emotui sweep --backend NAME``; a backend that takes resources gets
    them from the user config < its section of the sweep's --config file (the spec's
    ``resources``, launch.resources). ``sharing``: --trials-per-gpu (sweep.sharing), on
    ``gpus`` (default: this machine's)."""
    resources = None
    takes = backend_spec(backend).resources
    if takes is not None:
        resources = takes.from_sources((sections or {}).get(takes.section),
                                       config_source="sweep --config")
    return TrialLauncher(backend, max_parallel=max_parallel, resources=resources,
                         train_fn=train_fn, sharing=sharing, gpus=gpus, sweep_id=sweep_id)
