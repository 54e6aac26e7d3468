"""A run's life, owned in one place: creating a run, which state may follow which, recording
its end (in the words of core.failure_reasons for an error; on a full disk too, with the space
core.disk_reserve set aside), and the named sets of states every other module tests against.

    (new) -> queued -> running -> completed | failed | cancelled | preempted
    preempted -> queued | running       requeue: the same run id continues from its checkpoint
    failed | cancelled -> queued        resume (emotui run --resume, the TUI's r)
    completed -> running                only by training on in place (train(resume=True))

``core.status`` stays the low-level writer of status.json (its format and the atomic replace);
every change of ``state`` goes through the functions here, which check it against TRANSITIONS.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

from emotui.core.config import RunConfig, dump_config
from emotui.core.disk_reserve import DISK_FULL, give_back_disk_reserve, set_aside_disk_reserve
from emotui.core.errors import ConfigError, DataError, EmotuiError
from emotui.core.failure_reasons import failure_reason
from emotui.core.runstore import RunPaths, RunStore, atomic_write_text, read_json
from emotui.core.status import (
    NO_FENCE,
    attempt_of,
    hold_attempt,
    now,
    read_status,
    update_status,
    write_status,
)
from emotui.core.vocabulary import ResultKey

log = logging.getLogger("emotui")


class RunState(str, Enum):
    """The values of status.json's ``state``."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"

    def __str__(self) -> str:  # so f-strings print "running", not "RunState.RUNNING"
        return self.value


def state_of(status: dict[str, Any]) -> RunState | None:
    """The state in a status dict; None when there is none or it is unknown (a newer emotui)."""
    return _parse(status.get("state"))


# -- the named state sets ----------------------------------------------------------------------


class StateSet(frozenset):
    """A named set of states. ``x in S`` takes a RunState or its string as status.json holds it
    ("running"); None or an unknown name is in no set."""

    _values: frozenset[str]

    def __new__(cls, states: Iterable[RunState]) -> "StateSet":
        self = super().__new__(cls, states)
        # A RunState hashes by its name, not its value: strings are looked up here (fast enough
        # for a filter over every row of a large run store).
        self._values = frozenset(s.value for s in self)
        return self

    def __contains__(self, state: object) -> bool:
        if isinstance(state, RunState):
            return frozenset.__contains__(self, state)
        try:
            return state in self._values
        except TypeError:  # unhashable: no state at all
            return False

    @property
    def names(self) -> tuple[str, ...]:
        """The members' names in the state machine's order (for help text and choices)."""
        return tuple(s.value for s in RunState if s in self)


# Nothing runs and nothing will, unless someone resumes the run.
FINISHED = StateSet({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})
# A job exists or may come back (a preempted job is requeued): watch it, cancel it, never delete it.
ACTIVE = StateSet({RunState.QUEUED, RunState.RUNNING, RunState.PREEMPTED})
# A job for the run sits in a queue or runs as a process right now.
IN_FLIGHT = StateSet({RunState.QUEUED, RunState.RUNNING})
CANCELLABLE = ACTIVE
# Stopped before the end with its checkpoint kept: `emotui run --resume` continues it.
RESUMABLE = StateSet({RunState.FAILED, RunState.CANCELLED, RunState.PREEMPTED})
# What `emotui ls --state` filters on.
STATE_NAMES: tuple[str, ...] = tuple(s.value for s in RunState)


def ended_unrecorded(status: dict[str, Any]) -> bool:
    """Whether the run is failed only because a reader found its process gone with no end
    recorded (record_end(..., lost=True)): a guess its owner may overrule by continuing it."""
    return status.get("lost") is True and status.get("state") == RunState.FAILED.value


def deletable(state: object) -> bool:
    """Whether a run may be deleted: anything not ACTIVE, including a record too broken to tell."""
    return state not in ACTIVE


# -- transitions -------------------------------------------------------------------------------

_EVERY = frozenset(RunState)
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    # Starts; is cancelled or fails before it starts; a reader may find it ended at once.
    RunState.QUEUED: _EVERY,
    # Ends; or goes back to the queue (a scheduler requeue, a sweep restarting it from scratch).
    RunState.RUNNING: _EVERY,
    # Requeued (to queued, or straight to running), cancelled, or ended while it stopped.
    RunState.PREEMPTED: _EVERY,
    # queued: resume. running: an attempt a reader had given up on (lost, or cancelled as it
    # started) records what it does. completed: the job finished its work before a reader said
    # lost or a cancel landed; its results stand.
    RunState.FAILED: frozenset({RunState.FAILED, RunState.QUEUED, RunState.RUNNING,
                                RunState.COMPLETED}),
    RunState.CANCELLED: frozenset({RunState.CANCELLED, RunState.QUEUED, RunState.RUNNING,
                                   RunState.COMPLETED}),
    # running: train(resume=True) continues it in place (a run the collapse sentinel stopped).
    # It never becomes failed, cancelled or preempted: a late ending does not undo its results.
    RunState.COMPLETED: frozenset({RunState.COMPLETED, RunState.RUNNING}),
}


class ForbiddenTransition(EmotuiError):
    """A state change the run's state machine does not allow (e.g. a completed run restarted)."""


def may_follow(current: RunState | str | None, new: RunState | str) -> bool:
    """Whether ``new`` may replace ``current``. No state yet (or one this emotui does not know)
    allows any: the writer knows more than the record does."""
    current = _parse(current)
    return current is None or RunState(new) in TRANSITIONS[current]


def _parse(state: RunState | str | None) -> RunState | None:
    try:
        return RunState(state)
    except ValueError:
        return None


def _write(paths: RunPaths, state: RunState | str, fields: dict[str, Any], *,
           fence: int | None = None) -> dict[str, Any]:
    """Replace status.json with ``state`` after checking the transition (under the run's
    status lock); raises when forbidden. A write fenced off (an older attempt's) changes
    nothing and returns the status as it is."""
    new = RunState(state)

    def allowed(current: dict[str, Any]) -> bool:
        if not may_follow(state_of(current), new):
            raise ForbiddenTransition(f"run {paths.run_id} is {state_of(current)} and cannot "
                                      f"become {new}; start a new run instead")
        return True

    return update_status(paths, dict(fields, state=new), fence=fence, check=allowed).status


def set_state(paths: RunPaths, state: RunState | str, *, fence: int | None = None,
              **fields: Any) -> dict[str, Any]:
    """Move the run to ``state`` (with ``fields``) if TRANSITIONS allows it; else
    ForbiddenTransition. For starts and requeues; endings use end_run. ``fence``: the attempt
    the caller saw (core.status), for a reader persisting what the scheduler says."""
    return _write(paths, state, fields, fence=fence)


def mark_running(paths: RunPaths, **extra: Any) -> dict[str, Any]:
    """This process starts training the run's current attempt (``starts`` counts every start
    of training, a scheduler's requeue of the same attempt included)."""
    status = read_status(paths)
    running = _write(paths, RunState.RUNNING, dict(
        reason=None,
        lost=None,
        host=socket.gethostname(),
        pid=os.getpid(),
        started=status.get("started") or now(),
        starts=int(status.get("starts") or 0) + 1,
        ended=None,
        **extra,
    ))
    set_aside_disk_reserve(paths)
    return running


def requeue(paths: RunPaths, reason: str | None, **fields: Any) -> dict[str, Any]:
    """Queued again: submitted to a backend, put back in the queue by the scheduler, or
    restarted in its own directory (a sweep trial interrupted before its first checkpoint)."""
    return _write(paths, RunState.QUEUED, dict(reason=reason, **fields))


def begin_attempt(paths: RunPaths, *, allowed: StateSet | None = None,
                  reason: str | None = "resuming", **fields: Any) -> dict[str, Any]:
    """Start a new attempt of an existing run: queued again with the next attempt number,
    which this process now holds (core.status). Only the run's starter calls this, holding
    its claim (core.claim); a write of any older attempt is fenced off from here on.
    ``allowed``: the states it may start from (default: any); a one-line EmotuiError otherwise.
    """
    current = attempt_of(read_status(paths)) or 0
    changes = dict(fields, state=RunState.QUEUED, reason=reason, ended=None,
                   attempt=current + 1, resumed_from=None)

    def startable(status: dict[str, Any]) -> bool:
        check_startable(paths, status, allowed)
        if status.get("state") in RESUMABLE:
            changes["resumed_from"] = status.get("state")
        return True

    # Read, checked and written under the status lock, fenced on the attempt read just before:
    # two starters cannot both number theirs "attempt N + 1".
    written = update_status(paths, changes, fence=current or NO_FENCE, check=startable)
    if not written.written:
        raise EmotuiError(f"run {paths.run_id} was started by another process meanwhile "
                          f"(attempt {attempt_of(written.status)}); see emotui ls")
    hold_attempt(paths, current + 1)
    return written.status


def check_startable(paths: RunPaths, status: dict[str, Any],
                    allowed: StateSet | None) -> None:
    """A one-line EmotuiError unless a new attempt may start from the run's state."""
    state = status.get("state")
    if allowed is None or state in allowed:
        return
    hint = (f"it is still active; cancel it first (emotui cancel {paths.run_id})"
            if state in ACTIVE else "only failed, cancelled or preempted runs can be resumed")
    raise EmotuiError(f"run {paths.run_id} is {state}: {hint}")


def reopen_for_resume(paths: RunPaths) -> dict[str, Any]:
    """Queue a failed, cancelled or preempted run to continue from its last checkpoint, as a
    new attempt (begin_attempt); a one-line EmotuiError for any other state."""
    return begin_attempt(paths, allowed=RESUMABLE)


@contextmanager
def kept_unless_resumed(paths: RunPaths, before: dict[str, Any]) -> Iterator[None]:
    """Around a resumed run's submission: if it fails, the run keeps the state (and backend)
    it had before the resume was asked for. Its attempt number stays the new one, so whatever
    the attempt before it might still write stays fenced off; this process holds none."""
    try:
        yield
    except BaseException:
        write_status(paths, **{k: before.get(k) for k in ("state", "reason", "backend", "ended")})
        hold_attempt(paths, None)
        raise


def end_run(paths: RunPaths, state: RunState | str, reason: str | None, *,
            fence: int | None = None, **fields: Any) -> dict[str, Any]:
    """Record that the run ended (completed, failed, cancelled) or stopped (preempted).

    Endings race: a reader records a lost job or a cancel while the job records its own end.
    Where TRANSITIONS does not let this ending replace the recorded one (a cancelled run the
    job then reports preempted, a completed run a late cancel reaches), the record stands and
    is returned unchanged; so is one of a newer attempt than ``fence`` (default: the attempt
    this process holds), which an ending seen of an older one must never overwrite.

    A full disk does not keep an ending from being recorded: the job's disk reserve is given
    back and the write tried again. A store that cannot be written even then (read-only, or no
    reserve) gets the ending logged and returned unwritten, so the caller still reports it.
    """
    new = RunState(state)

    def allowed(current: dict[str, Any]) -> bool:
        if may_follow(state_of(current), new):
            return True
        log.info("run %s stays %s (not %s: %s)", paths.run_id, state_of(current), new, reason)
        return False

    changes = dict(state=new, reason=reason, **fields)
    try:
        try:
            written = update_status(paths, changes, fence=fence, check=allowed)
        except OSError as exc:
            if exc.errno not in DISK_FULL or not give_back_disk_reserve(paths):
                raise
            written = update_status(paths, changes, fence=fence, check=allowed)
    except OSError as exc:
        log.error("could not record that run %s is %s (%s): %s", paths.run_id, state, reason,
                  exc)
        return dict(read_status(paths), **{k: v.value if isinstance(v, Enum) else v
                                           for k, v in changes.items()})
    if written.written:
        give_back_disk_reserve(paths)  # ended: nothing is left to record
    return written.status


def mark_completed(paths: RunPaths, reason: str | None = None, **fields: Any) -> dict[str, Any]:
    return end_run(paths, RunState.COMPLETED, reason, ended=now(), **fields)


def mark_cancelled(paths: RunPaths, reason: str, **fields: Any) -> dict[str, Any]:
    return end_run(paths, RunState.CANCELLED, reason, ended=now(), **fields)


def mark_preempted(paths: RunPaths, reason: str) -> dict[str, Any]:
    """Stopped on request after saving a checkpoint; a requeue or resume continues it."""
    return end_run(paths, RunState.PREEMPTED, reason)


def record_failure(paths: RunPaths, error: BaseException) -> dict[str, Any]:
    """Mark the run failed with the one-line reason for ``error``, unless it already stopped
    as failed, cancelled or preempted: the code nearest the error recorded the better reason."""
    status = read_status(paths)
    if state_of(status) in RESUMABLE:
        return status
    return end_run(paths, RunState.FAILED, failure_reason(error, paths.run_id), ended=now())


def record_end(paths: RunPaths, state: RunState | str, reason: str | None, *,
               seen: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A terminal state found by a reader (the job is gone, so nobody else writes); an end
    time already recorded is kept. ``lost=True`` says the job never recorded an end: a reader
    guessed it (ended_unrecorded), and the run's owner (a sweep controller) may take it up.
    ``seen``: the status the reader judged; its attempt fences the write, so an end found
    for one attempt never lands on the next.

    A job writes results.json as the last of its work and records ``completed`` right after
    (train.job): one killed between the two finished its work, so a failure or cancel a reader
    finds for that attempt is recorded as ``completed`` instead, and status.json and
    results.json never disagree."""
    status = read_status(paths)
    fence = attempt_of(seen if seen is not None else status)
    if RunState(state) in (RunState.FAILED, RunState.CANCELLED):
        results = results_of_attempt(paths, fence)
        if results is not None:
            log.info("run %s: its process ended after writing results.json but before "
                     "recording it: completed (not %s: %s)", paths.run_id, state, reason)
            state, reason = RunState.COMPLETED, results.get(ResultKey.COLLAPSE_REASON)
            extra = dict(extra, lost=None)
    return end_run(paths, state, reason, fence=fence, ended=status.get("ended") or now(),
                   **extra)


def results_of_attempt(paths: RunPaths, attempt: int | None) -> dict[str, Any] | None:
    """results.json when attempt ``attempt`` of the run wrote it (train.reporting.save_results
    records its attempt), else None."""
    if attempt is None:
        return None
    results = read_json(paths.results)
    if results is None or results.get(ResultKey.ATTEMPT) != attempt or \
            isinstance(results.get(ResultKey.ATTEMPT), bool):
        return None
    return results


# -- creating a run, and cleaning up after bad input -------------------------------------------


def create_run(store: RunStore, config: RunConfig, *, backend: str, run_id: str | None = None,
               reuse: bool = False, **status_fields: Any) -> RunPaths:
    """A new run: its directory, the resolved config.yaml, then a queued status.json (backend,
    method, created, and ``status_fields`` such as sweep_id, sweep_trial or W&B choices).

    status.json is written last, whole and atomically: the run store lists a directory only
    once it has one, so a half-created run never shows. If writing fails, the directory goes.
    ``run_id`` names the run (a sweep plans its trials' ids ahead); with ``reuse``, a directory
    of that id that never started is prepared again instead of refused.
    """
    existing = reuse and run_id is not None and store.paths(run_id).root.is_dir()
    paths = store.paths(run_id) if existing else store.create(config.method, run_id=run_id)
    try:
        atomic_write_text(paths.config, dump_config(config))
        # A directory reused (a planned sweep trial) may hold an earlier try's status: its
        # attempt number goes on counting, so anything that try still writes is fenced off.
        attempt = (attempt_of(read_status(paths)) or 0) + 1 if existing else 1
        _write(paths, RunState.QUEUED, dict(run_id=paths.run_id, reason=None, backend=backend,
                                            method=config.method, created=now(),
                                            attempt=attempt, **status_fields),
               fence=NO_FENCE)
        hold_attempt(paths, attempt)
    except BaseException:
        if not existing:
            discard_run(paths)
        raise
    set_aside_disk_reserve(paths)  # from here on, a full disk cannot keep its end unrecorded
    return paths


def discard_run(paths: RunPaths) -> None:
    """Remove a run that never started (bad input, a refused submission): nothing is left."""
    shutil.rmtree(paths.root, ignore_errors=True)


@contextmanager
def starting_run(store: RunStore, config: RunConfig, *, backend: str,
                 **status_fields: Any) -> Iterator[RunPaths]:
    """create_run for a run about to be submitted: if the block fails (bad settings, a refused
    submission, Ctrl-C), the run directory is removed and the error propagates."""
    paths = create_run(store, config, backend=backend, **status_fields)
    try:
        yield paths
    except BaseException:
        discard_run(paths)
        raise


def never_started(paths: RunPaths, error: BaseException | None, *, resume: bool) -> bool:
    """Whether ``error`` is bad input (ConfigError, DataError) that training found before its
    first step of a new run: such a run should leave nothing behind (discard_run), since every
    retry with the same input fails the same way."""
    return (isinstance(error, (ConfigError, DataError)) and not resume
            and state_of(read_status(paths)) in (None, RunState.QUEUED, RunState.FAILED)
            and not paths.metrics.exists())
