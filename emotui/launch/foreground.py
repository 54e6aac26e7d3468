"""Training in this process, in the foreground: `emotui run`, inline sweep trials, the inline
backend.

Training runs in a worker thread, so the main thread stays free to show progress, beat a sweep
controller's heartbeat and take Ctrl-C. The run is claimed (core.claim) while it trains here. The
first Ctrl-C (or SIGTERM, or SIGHUP: the terminal went away) asks training to stop at its next
step: it saves a resumable checkpoint, marks the run preempted and returns; a second one stops
now: the run is recorded cancelled (it resumes from its last complete checkpoint) and the
KeyboardInterrupt propagates. The worker, a daemon thread, cannot be stopped mid-step, so the
program ends the process right after (``end_process_if_abandoned``): an interpreter shutting down
around a thread inside torch aborts (rc 134). While it trains, the run's log records go to its
stdout.log / stderr.log (core.runlogs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import emotui.train
from emotui.core.claim import claim_run
from emotui.core.config import RunConfig
from emotui.core.failure_reasons import interrupted_reason
from emotui.core.lifecycle import mark_cancelled
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import RunPaths
from emotui.core.status import write_status
from emotui.launch.base import clear_launch_leftovers, process_identity
from emotui.train.errors import Preempted

WAIT_INTERVAL_S = 0.2

# emotui.train.train's signature: (config, run_dir, *, resume, stop_event) -> results
TrainFn = Callable[..., dict]


log = logging.getLogger("emotui")

# Signals that stop a foreground run like Ctrl-C: a plain `kill`, and the terminal closing.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

# Set when a second interrupt left training running in its worker thread.
_abandoned = threading.Event()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP while training in the foreground: handled like Ctrl-C."""

    def __init__(self, signal_name: str = "SIGTERM"):
        super().__init__(signal_name)
        self.signal_name = signal_name


def _how(exc: KeyboardInterrupt) -> str:
    return exc.signal_name if isinstance(exc, Terminated) else "Ctrl-C"


@dataclass
class ForegroundRun:
    """How a run trained in this process ended."""

    results: dict[str, Any] | None = None
    error: BaseException | None = None  # what training raised (Preempted after a stop request)
    interrupted: str | None = None  # "Ctrl-C" or "SIGTERM": a stop was asked for here


def run_in_foreground(paths: RunPaths, config: RunConfig, *, resume: bool = False,
                      stop: threading.Event | None = None, train_fn: TrainFn | None = None,
                      show: Callable[[Callable[[], bool]], None] | None = None,
                      tick: Callable[[], None] | None = None,
                      on_interrupt: Callable[[str], None] | None = None) -> ForegroundRun:
    """Train the run in ``paths`` here and return once training has ended.

    ``show(done)`` is a live display that runs in the main thread until ``done()``; ``tick()``
    runs every WAIT_INTERVAL_S while training (a sweep controller's heartbeat); ``stop`` is the
    event training polls (a sweep passes one that also asks hyperband); ``on_interrupt(how)``
    runs at the first Ctrl-C/SIGTERM/SIGHUP, before waiting for the checkpoint. RunClaimed if
    another process trains the run.
    """
    stop = stop if stop is not None else threading.Event()
    run = ForegroundRun()
    # Our own "finished" flag, not Thread.join(): after a KeyboardInterrupt lands inside join(),
    # CPython can report the thread dead while it still trains.
    finished = threading.Event()

    def work() -> None:
        try:
            train = train_fn if train_fn is not None else emotui.train.train
            run.results = train(config, paths.root, resume=resume, stop_event=stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            run.error = exc
            _log_traceback(paths, exc)
        finally:
            finished.set()

    held = contextlib.ExitStack()
    try:
        held.enter_context(claim_run(paths))
    except OSError as exc:  # the run cannot even be claimed (a full disk): a failure to report
        run.error = exc
        return run
    with held:
        # A previous attempt's exit record or cancel marker (another backend) does not apply
        # here; pid + start time + boot id name this process, so a reused pid never looks like
        # the run.
        clear_launch_leftovers(paths)
        write_status(paths, **process_identity(os.getpid()))
        with RunLogFiles(paths), _stop_signals_as_interrupt():
            worker = threading.Thread(target=work, name=f"train-{paths.run_id}", daemon=True)
            try:
                worker.start()  # inside: a Ctrl-C may land while start() waits for the thread
                if show is not None:
                    show(finished.is_set)
                _wait(finished, tick)
            except KeyboardInterrupt as exc:
                run.interrupted = _how(exc)
                if on_interrupt is not None:
                    try:
                        on_interrupt(run.interrupted)
                    except OSError:  # SIGHUP: the terminal it would print on is gone
                        pass
                stop.set()  # training saves a checkpoint at its next step and raises Preempted
                try:
                    _wait(finished, tick)
                except KeyboardInterrupt as again:  # a second one: stop now
                    _abandon(paths, run.interrupted, _how(again), finished)
                    raise
    return run


def _abandon(paths: RunPaths, first: str, second: str, finished: threading.Event) -> None:
    """Leave training running in its thread (the process ends next) and record the run
    cancelled: it resumes from its last complete checkpoint."""
    if finished.is_set():
        return  # training ended meanwhile and recorded how
    _abandoned.set()
    how = f"{first} twice" if first == second else f"{first}, then {second}"
    mark_cancelled(paths, interrupted_reason(f"{how}: stopped at once, without a new checkpoint",
                                             paths.run_id))


def end_process_if_abandoned(code: int) -> None:
    """The program's last word after an interrupt: if a second one left training running in
    its worker thread, flush the output and end the process now with ``code`` (see the module's
    docstring). Only a program's entry point calls this, never a library caller."""
    if not _abandoned.is_set():
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _log_traceback(paths: RunPaths, error: BaseException) -> None:
    """A failure's traceback in the run's stderr.log, where the failure message points
    (`emotui logs RUN --stderr`), as a detached job's stderr would hold it."""
    if not isinstance(error, Exception) or isinstance(error, Preempted):
        return  # a stop that was asked for, not a failure
    try:
        with open(paths.stderr, "a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(error)))
    except OSError as exc:  # a full disk: the failure reason in status.json still says why
        log.warning("could not write the traceback to %s: %s", paths.stderr, exc)


def record_interrupted(paths: RunPaths, how: str) -> dict[str, Any]:
    """A foreground run stopped by Ctrl-C/SIGTERM/SIGHUP ends cancelled, with how to continue it
    (one that completed meanwhile stays completed)."""
    return mark_cancelled(paths, interrupted_reason(how, paths.run_id))


def _wait(finished: threading.Event, tick: Callable[[], None] | None) -> None:
    while True:
        done = finished.wait(WAIT_INTERVAL_S)
        if tick is not None:
            tick()  # once more after the end too: the last epoch's values get reported
        if done:
            return


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(signal.Signals(signum).name)


@contextlib.contextmanager
def _stop_signals_as_interrupt() -> Iterator[None]:
    """SIGTERM (a plain `kill`) and SIGHUP (the terminal closed, an SSH session dropped) stop
    the run like Ctrl-C. Only the main thread may set signal handlers; elsewhere they keep their
    defaults."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
