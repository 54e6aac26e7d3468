"""The job side: what a detached local process or a Slurm job executes for one run directory.

``python -m emotui.launch.job RUN_DIR [--resume]`` (local backend) and ``SlurmEntry`` (pickled by
submitit) both end in ``run_job``, which:

1. records the process (host, pid, Slurm job id) in status.json and touches the heartbeat,
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
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import submitit

from emotui.core.runstore import RunPaths
from emotui.core.status import RunState, read_status, touch_heartbeat, write_status
from emotui.launch.base import (
    cancel_requested,
    process_identity,
    slurm_job_id_from_env,
    write_exit,
)

log = logging.getLogger("emotui.launch.job")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT)


def has_resumable_checkpoint(paths: RunPaths) -> bool:
    return paths.resume_state.exists()


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

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.finishing:
            log.info("ignoring %s: already stopping", name)
            return
        if self.event.is_set():
            log.warning("second stop signal (%s): exiting without waiting for the checkpoint", name)
            write_exit(self.paths, outcome="cancelled" if cancel_requested(self.paths) else "killed",
                       exit_code=128 + signum, signal=name)
            os._exit(128 + signum)
        log.warning("caught %s: saving a checkpoint, then stopping", name)
        self.signum = signum
        self.event.set()


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("emotui")
    if not logger.handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.captureWarnings(True)


def _redirect_output(paths: RunPaths) -> None:
    """Slurm: send this process's stdout/stderr to the run's logs (submitit's own log files, in
    launch/, keep what was printed before the job started)."""
    sys.stdout.flush()
    sys.stderr.flush()
    for stream_fd, path in ((1, paths.stdout), (2, paths.stderr)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, stream_fd)
        os.close(fd)


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    last = text.splitlines()[-1] if text else ""
    return f"{type(exc).__name__}: {last}" if last else type(exc).__name__


def run_job(run_dir: str | os.PathLike, *, resume: bool | None = None, backend: str = "local",
            redirect: bool = False) -> dict[str, Any] | None:
    """Train the run in ``run_dir`` in this process, as a job. Returns the results dict."""
    paths = RunPaths(Path(run_dir).absolute())
    if redirect:
        _redirect_output(paths)
    _configure_logging()
    paths.exit_file.unlink(missing_ok=True)  # a requeued attempt starts a new exit record
    stopper = _Stopper(paths)
    stopper.install()
    if cancel_requested(paths):  # cancelled while it was starting
        write_exit(paths, outcome="cancelled", exit_code=0)
        return None
    job_id = slurm_job_id_from_env()
    here = process_identity(os.getpid())
    if job_id:
        here["job_id"] = job_id
    elif backend == "local":
        here.update(job_id=str(os.getpid()), pgid=os.getpgid(0))
    status = read_status(paths)
    if status.get("state") == RunState.COMPLETED.value and paths.results.exists():
        # Requeued after it had finished (e.g. while completing): nothing left to do.
        write_exit(paths, outcome="completed", exit_code=0)
        return None
    write_status(paths, state=RunState.RUNNING, reason=None, **here)
    touch_heartbeat(paths)
    # Resume whenever a checkpoint exists (a requeued attempt must continue, not restart). An
    # attempt that died before its first checkpoint starts over, so its metrics go too: the
    # metrics file must never hold the same step twice.
    resume = has_resumable_checkpoint(paths) if resume is None else \
        (resume and has_resumable_checkpoint(paths))
    if not resume and paths.metrics.exists() and paths.metrics.stat().st_size:
        paths.metrics.unlink()
    log.info("job start: run %s on %s (backend %s%s, resume=%s)", paths.run_id, here["host"],
             backend, f", job {job_id}" if job_id else "", resume)

    from emotui.core.config import config_from_yaml

    try:
        config = config_from_yaml(paths.config)
        from emotui.train import Preempted, train
    except BaseException as exc:
        return _fail(paths, exc)
    try:
        results = train(config, paths.root, resume=bool(resume), stop_event=stopper.event)
    except Preempted:
        return _stopped(paths, stopper, backend)
    except BaseException as exc:
        return _fail(paths, exc)
    write_exit(paths, outcome="completed", exit_code=0)
    return results


def _fail(paths: RunPaths, exc: BaseException) -> None:
    traceback.print_exc()
    reason = _last_line(exc)
    status = read_status(paths)
    if status.get("state") != RunState.FAILED.value:
        write_status(paths, state=RunState.FAILED, reason=reason, ended=round(time.time(), 3))
    else:
        reason = status.get("reason") or reason
    write_exit(paths, outcome="failed", exit_code=1, error=reason)
    sys.stderr.flush()
    raise SystemExit(1)


def _stopped(paths: RunPaths, stopper: _Stopper, backend: str) -> None:
    stopper.finishing = True
    signum = stopper.signum or signal.SIGTERM
    name = signal.Signals(signum).name
    if cancel_requested(paths):
        write_status(paths, state=RunState.CANCELLED, reason="cancelled by user",
                     ended=round(time.time(), 3))
        write_exit(paths, outcome="cancelled", exit_code=128 + signum, signal=name)
        raise SystemExit(128 + signum)
    requeue = backend == "slurm" and signum == signal.SIGUSR2
    write_exit(paths, outcome="preempted", exit_code=128 + signum, signal=name, requeue=requeue)
    if requeue:
        previous = stopper.previous.get(signal.SIGUSR2)
        if callable(previous):
            # submitit's handler: SlurmEntry.checkpoint() -> requeue -> sys.exit.
            log.info("handing over to submitit: checkpoint submission and requeue")
            previous(signum, None)
    raise SystemExit(128 + signum)


class SlurmEntry(submitit.helpers.Checkpointable):
    """The callable submitit pickles for a Slurm job: trains one run directory.

    ``checkpoint()`` (called by submitit on the time-limit signal, after the training loop has
    saved its checkpoint) resubmits the same run with resume=True: same run id, same directory.
    """

    def __init__(self, run_dir: str, resume: bool | None = None):
        self.run_dir = str(run_dir)
        self.resume = resume

    def __call__(self) -> dict[str, Any] | None:
        return run_job(self.run_dir, resume=self.resume, backend="slurm", redirect=True)

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        return submitit.helpers.DelayedSubmission(SlurmEntry(self.run_dir, resume=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emotui.launch.job",
                                     description="Run one emotui run directory as a job.")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue from checkpoints/last (default: when one exists)")
    parser.add_argument("--backend", default="local")
    args = parser.parse_args(argv)
    try:
        run_job(args.run_dir, resume=args.resume, backend=args.backend)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
