"""The job side: what a detached local process or a Slurm job executes for one run directory.

``python -m emotui.launch.job RUN_DIR [--resume]`` (local backend) and ``SlurmEntry`` (pickled by
submitit) both end in ``run_job``, which:

1. claims the run (core.claim: no second process trains it; one already training it makes this
   job exit without touching the run), records the process (host, pid, Slurm job id) in
   status.json and touches the heartbeat,
   before the slow imports, so a reader sees ``running`` within a second of the start;
2. turns SIGTERM / SIGUSR2 / SIGINT into ``stop_event``: training saves a resumable checkpoint at
   the current step, marks the run ``preempted`` and raises ``Preempted``;
3. resumes from ``checkpoints/last`` whenever one exists (a Slurm requeue reruns the same script:
   the new attempt must continue, not restart), or when asked;
4. writes ``exit.json`` (outcome, exit code, signal, error) as its last act, so a reader can tell
   how the job ended even where ``sacct`` is disabled.

On Slurm, SIGUSR2 is submitit's "time limit is near" signal (``--signal=USR2@90``): after the
checkpoint is saved the job hands over to submitit's own handler, which calls
``SlurmEntry.checkpoint()`` (a DelayedSubmission resuming the same run id), requeues the job and
exits. SIGTERM (scancel, ``scontrol requeue``, preemption) only saves the checkpoint: Slurm itself
decides whether the job is requeued (it then resumes) or ends.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import submitit

import emotui.train
from emotui.core.checkpoints import resume_problem, start_over
from emotui.core.claim import CLAIM_STALE_S, RunClaimed, claim_run
from emotui.core.config import config_from_yaml
from emotui.core.failure_reasons import failure_reason
from emotui.core.lifecycle import (
    RunState,
    end_run,
    mark_cancelled,
    record_failure,
    set_state,
)
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import RunPaths, open_for_append
from emotui.core.status import (
    RunFolderGone,
    StaleAttempt,
    attempt_of,
    hold_attempt,
    now,
    read_status,
    touch_heartbeat,
)
from emotui.launch.base import (
    cancel_requested,
    process_identity,
    slurm_job_id_from_env,
    write_exit,
)
from emotui.launch.slurm_states import time_limit_end
from emotui.train import Preempted

log = logging.getLogger("emotui.launch.job")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT)


# How long a starting job waits for the claim (core.claim) held by whoever submitted it: the
# launcher lets go right after submitting; one that died is judged gone after CLAIM_STALE_S.
JOB_CLAIM_WAIT_S = CLAIM_STALE_S + 30.0
# How often a job sharing its scheduler job with other trials looks for its cancel marker.
CANCEL_POLL_S = 2.0


class _Stopper:
    """Signal handlers: the first signal asks training to checkpoint and stop; a second one
    (or training that does not stop) ends the process at once, still leaving exit.json."""

    def __init__(self, paths: RunPaths):
        self.paths = paths
        self.event = threading.Event()
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}
        # Set once training has stopped: the job is only recording how it ended, and the
        # SIGTERM that Slurm sends with a requeue must not cut that short.
        self.finishing = False
        # A signal has arrived (a stop asked through the cancel marker is not one: the
        # scancel that may follow it is still a first signal, not a second).
        self.signalled = False

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.finishing:
            log.info("ignoring %s: already stopping", name)
            return
        if self.signalled:
            log.warning("second stop signal (%s): exiting without waiting for the checkpoint", name)
            write_exit(self.paths, outcome="cancelled" if cancel_requested(self.paths) else "killed",
                       exit_code=128 + signum, signal=name)
            os._exit(128 + signum)
        log.warning("caught %s: saving a checkpoint, then stopping", name)
        self.signalled = True
        self.signum = self.signum or signum
        self.event.set()

    def watch_cancel_marker(self) -> None:
        """Stop, as on SIGTERM, once the run's cancel marker appears: how one trial of a job
        that runs several (launch.slurm_pack) is cancelled without signalling the others."""
        def watch() -> None:
            while not self.event.wait(CANCEL_POLL_S):
                if cancel_requested(self.paths):
                    log.warning("cancel requested: saving a checkpoint, then stopping")
                    self.signum = self.signum or signal.SIGTERM
                    self.event.set()

        threading.Thread(target=watch, name="cancel-marker", daemon=True).start()


def _redirect_output(paths: RunPaths) -> None:
    """Slurm: send this process's stdout/stderr to the run's logs (submitit's own log files, in
    launch/, keep what was printed before the job started)."""
    sys.stdout.flush()
    sys.stderr.flush()
    for stream_fd, path in ((1, paths.stdout), (2, paths.stderr)):
        # Never through a link out of the run folder (LinkedRunFile, said on submitit's log).
        with open_for_append(path) as fh:
            os.dup2(fh.fileno(), stream_fd)


def run_job(run_dir: str | os.PathLike, *, resume: bool | None = None, backend: str = "local",
            redirect: bool = False, requeue_signal: int | None = None,
            own_process_group: bool = False, watch_cancel: bool = False,
            attempt: int | None = None) -> dict[str, Any] | None:
    """Train the run in ``run_dir`` in this process, as a job. Returns the results dict.

    ``requeue_signal``: the signal after which the scheduler's own handler (submitit's)
    requeues the job once the checkpoint is saved. ``own_process_group``: no scheduler; this
    process leads its own group (LocalBackend starts it so), and its pid is the job id.
    ``watch_cancel``: the job is shared with other trials, so a cancel arrives as the run's
    cancel marker rather than as a signal. ``attempt``: the attempt of the run this job was
    started for (core.status); a job whose run has since been started again exits without
    touching it, and so does one whose run folder is gone."""
    paths = RunPaths(Path(run_dir).absolute())
    if not paths.status.is_file():
        print(f"emotui job: run folder {paths.root} is gone (deleted?); this job stops without "
              "recreating it", file=sys.stderr, flush=True)
        raise SystemExit(1)
    if redirect:
        _redirect_output(paths)
    # The run's log records go to its files as for an inline run: stdout.log is its training log.
    with RunLogFiles(paths), contextlib.ExitStack() as held:
        try:
            held.enter_context(claim_run(paths, wait_s=JOB_CLAIM_WAIT_S))
        except RunClaimed as exc:
            # Another process trains the run: leave its status and exit record alone.
            log.error("%s; this job leaves it to that process", exc)
            raise SystemExit(1) from None
        except OSError as exc:  # the run cannot even be claimed (a full disk)
            return _fail(paths, exc, log_outcome=True)
        current = attempt_of(read_status(paths))
        if attempt is not None and current is not None and current != attempt:
            log.error("run %s was started again (attempt %s) before this job for attempt %s "
                      "began; this job leaves it to the newer attempt", paths.run_id, current,
                      attempt)
            raise SystemExit(1)
        hold_attempt(paths, attempt if attempt is not None else current)
        return _run_job(paths, resume=resume, backend=backend, requeue_signal=requeue_signal,
                        own_process_group=own_process_group, watch_cancel=watch_cancel)


def _run_job(paths: RunPaths, *, resume: bool | None, backend: str, requeue_signal: int | None,
             own_process_group: bool, watch_cancel: bool = False) -> dict[str, Any] | None:
    paths.exit_file.unlink(missing_ok=True)  # a requeued attempt starts a new exit record
    stopper = _Stopper(paths)
    stopper.install()
    if watch_cancel:
        stopper.watch_cancel_marker()
    if cancel_requested(paths):  # cancelled while it was starting
        write_exit(paths, outcome="cancelled", exit_code=0)
        return None
    job_id = slurm_job_id_from_env()
    here = process_identity(os.getpid())
    if job_id:
        here["job_id"] = job_id
    elif own_process_group:
        here.update(job_id=str(os.getpid()), pgid=os.getpgid(0))
    status = read_status(paths)
    if status.get("state") == RunState.COMPLETED.value and paths.results.exists():
        # Requeued after it had finished (e.g. while completing): nothing left to do.
        write_exit(paths, outcome="completed", exit_code=0)
        return None
    set_state(paths, RunState.RUNNING, reason=None, **here)
    touch_heartbeat(paths)
    # Resume whenever a checkpoint exists (a requeued attempt must continue, not restart). An
    # attempt that died before its first checkpoint starts over, so its metrics are set aside
    # (never deleted): the metrics file must never hold the same step twice. Said in one line.
    asked = resume
    problem = resume_problem(paths)
    resume = problem is None if asked is None else (bool(asked) and problem is None)
    if not resume:
        notice = start_over(paths, problem if asked else None)
        if notice:
            log.warning(notice)
    log.info("job start: run %s on %s (backend %s%s, resume=%s)", paths.run_id, here["host"],
             backend, f", job {job_id}" if job_id else "", resume)

    try:
        config = config_from_yaml(paths.config)
    except BaseException as exc:
        return _fail(paths, exc, log_outcome=True)
    try:
        results = emotui.train.train(config, paths.root, resume=bool(resume),
                                     stop_event=stopper.event)
    except Preempted:
        return _stopped(paths, stopper, requeue_signal)
    except BaseException as exc:
        return _fail(paths, exc)  # training logged its outcome line
    write_exit(paths, outcome="completed", exit_code=0)
    return results


def _fail(paths: RunPaths, exc: BaseException, *, log_outcome: bool = False) -> None:
    if isinstance(exc, (RunFolderGone, StaleAttempt)):
        _lost_the_run(exc)
    traceback.print_exc()
    if log_outcome:  # the run log's last line, as training writes it
        logging.getLogger("emotui.run").info("failed: %s", failure_reason(exc, paths.run_id))
    # Training may have recorded the failure first, with the better reason: that one stays.
    try:
        recorded = record_failure(paths, exc)
    except (RunFolderGone, StaleAttempt) as lost:
        _lost_the_run(lost)
    reason = recorded.get("reason") or failure_reason(exc, paths.run_id)
    write_exit(paths, outcome="failed", exit_code=1, error=reason)
    sys.stderr.flush()
    raise SystemExit(1)


def _lost_the_run(exc: BaseException) -> None:
    """The run is no longer this job's (its folder was deleted, or it was started again): say
    so on this job's own stderr and stop, writing nothing into the run."""
    print(f"emotui job: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def _stopped(paths: RunPaths, stopper: _Stopper, requeue_signal: int | None) -> None:
    stopper.finishing = True
    signum = stopper.signum or signal.SIGTERM
    name = signal.Signals(signum).name
    if cancel_requested(paths):
        mark_cancelled(paths, "cancelled by user")
        write_exit(paths, outcome="cancelled", exit_code=128 + signum, signal=name)
        raise SystemExit(128 + signum)
    requeue = requeue_signal is not None and signum == requeue_signal
    refused = requeue and _requeue_refused(stopper.previous.get(signum))
    if refused:
        # The time limit with no requeue left: submitit would refuse the requeue, so this is
        # how the run ends, and it is said as such (not a resumable preemption).
        reason = time_limit_end(paths.run_id)
        log.error("failed: %s", reason)
        end_run(paths, RunState.FAILED, reason, ended=now())
        write_exit(paths, outcome="timeout", exit_code=128 + signum, signal=name,
                   requeue=False, error=reason)
        raise SystemExit(128 + signum)
    write_exit(paths, outcome="preempted", exit_code=128 + signum, signal=name, requeue=requeue)
    if requeue:
        previous = stopper.previous.get(signum)
        if callable(previous):
            # submitit's handler: SlurmEntry.checkpoint() -> requeue -> sys.exit.
            log.info("handing over to submitit: checkpoint submission and requeue")
            previous(signum, None)
    raise SystemExit(128 + signum)


def _requeue_refused(handler: Any) -> str | None:
    """Why submitit's time-limit handler (``handler``) will not requeue this job, in words, or
    None when it will. submitit counts the requeues a job has left (``max_requeues``) and
    refuses once a time-out finds none: its own checkpoint_and_try_requeue rule."""
    owner = getattr(handler, "__self__", None)
    delayed = getattr(owner, "_delayed", None)
    timed_out = getattr(owner, "has_timed_out", None)
    left = getattr(delayed, "_timeout_countdown", None)
    if not isinstance(left, int) or not callable(timed_out):
        return None
    if left - int(bool(timed_out())) >= 0:
        return None
    return "with no requeue left (the slurm setting max_requeues)"


class SlurmEntry(submitit.helpers.Checkpointable):
    """The callable submitit pickles for a Slurm job: trains one run directory.

    ``checkpoint()`` (called by submitit on the time-limit signal, after the training loop has
    saved its checkpoint) resubmits the same run with resume=True: same run id, same directory.
    """

    def __init__(self, run_dir: str, resume: bool | None = None, attempt: int | None = None):
        self.run_dir = str(run_dir)
        self.resume = resume
        self.attempt = attempt  # a requeue continues the same attempt

    def __call__(self) -> dict[str, Any] | None:
        # watch_cancel: the cancel marker is itself a cancel (a scancel that failed leaves it
        # pending, launch.slurm), so a running job stops on it too.
        return run_job(self.run_dir, resume=self.resume, backend="slurm", redirect=True,
                       requeue_signal=signal.SIGUSR2, attempt=self.attempt, watch_cancel=True)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        return submitit.helpers.DelayedSubmission(
            SlurmEntry(self.run_dir, resume=True, attempt=self.attempt))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emotui.launch.job",
                                     description="Run one emotui run directory as a job in "
                                     "its own process group (what LocalBackend starts).")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue from checkpoints/last (default: when one exists)")
    parser.add_argument("--backend", default="local")
    parser.add_argument("--attempt", type=int, default=None,
                        help="the attempt of the run this job is for (default: the run's own)")
    args = parser.parse_args(argv)
    try:
        run_job(args.run_dir, resume=args.resume, backend=args.backend, own_process_group=True,
                attempt=args.attempt)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
