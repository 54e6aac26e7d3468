"""Slurm backend: submitit's SlurmExecutor to submit; squeue/sacct, batched, to watch.

Submission goes through submitit (sbatch script, pickled ``SlurmEntry``, USR2-before-time-limit
checkpoint-and-requeue). Watching does not: submitit's ``job.state`` is a per-process cache that
calls sacct (which fails where accounting is disabled) and refreshes every few minutes. Instead a
poll cycle makes ONE ``squeue --jobs=a,b,c`` call for every tracked job, and ONE ``sacct`` call
only for the jobs that have left the queue (skipped for good once sacct turns out to be
unavailable). ``SCHEDULER_CALLS`` counts the calls, so a test can measure them. Those calls and
how their answers read are launch.slurm_states.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import secrets
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from emotui.core.errors import BackendError
from emotui.core.runstore import RunPaths
from emotui.core.lifecycle import ACTIVE, RunState, record_end, requeue, set_state
from emotui.core.status import attempt_of, now, read_status, write_status
from emotui.launch.base import (
    Backend,
    cancel_requested,
    clear_launch_leftovers,
    mark_cancel_requested,
    read_exit,
)
from emotui.launch.resources import (
    TIME_LIMIT_SIGNAL_S,
    SlurmResources,
    submitit_parameters,
    time_limit_warning,
)
# What squeue and sacct say and how it reads; SCHEDULER_CALLS, squeue_states and Accounting are
# imported from here too (where tests and tools have always found them).
from emotui.launch.slurm_states import (  # noqa: F401 - re-exported
    FINAL_STATES,
    SCHEDULER_CALLS,
    Accounting,
    SchedulerUnavailable,
    array_indexes,
    queued_view,
    scheduler,
    squeue_states,
    terminal_state,
)

# How long a job may be missing from both squeue and sacct before the files alone decide.
ACCOUNTING_GRACE_S = 30.0
# Without a --time, no time limit is sent (the partition's default applies); submitit still needs
# a number for its requeue countdown, so it gets one that never counts as "timed out".
_NO_TIME_LIMIT_MIN = 60 * 24 * 365

log = logging.getLogger("emotui.launch")


class _Executor:
    """Builds submitit's SlurmExecutor (imported lazily) with emotui's choices."""

    @staticmethod
    def make(folder: Path, res: SlurmResources, job_name: str, **extra: Any):
        import submitit

        class Executor(submitit.SlurmExecutor):
            omit_time = res.time is None

            def _make_submission_file_text(self, command: str, uid: str) -> str:
                text = super()._make_submission_file_text(command, uid)
                if self.omit_time:  # let the partition's default time limit apply
                    text = "\n".join(line for line in text.splitlines()
                                     if not line.startswith("#SBATCH --time=")) + "\n"
                return text

            def _submit_command(self, command: str):
                try:  # sbatch right after slurmctld starts may fail to connect: once more
                    return super()._submit_command(command)
                except Exception as exc:  # submitit's FailedJobError holds sbatch's stderr
                    if "Unable to contact slurm controller" not in str(exc):
                        raise
                time.sleep(2)
                return super()._submit_command(command)

        python = res.python or shlex.quote(sys.executable)
        try:
            executor = Executor(folder=folder, max_num_timeout=res.max_requeues, python=python)
        except RuntimeError as exc:
            raise BackendError(f"Slurm not found ({exc}); run emotui on a machine with the "
                               "Slurm client (srun, sbatch) on PATH") from None
        params = submitit_parameters(res, job_name)
        params["time"] = res.time if res.time is not None else _NO_TIME_LIMIT_MIN
        params["signal_delay_s"] = TIME_LIMIT_SIGNAL_S
        # submitit tags jobs with --wckey=submitit, which clusters enforcing wckeys reject.
        params["wckey"] = None
        params.update(extra)
        try:
            executor.update_parameters(**params)
        except ValueError as exc:
            raise BackendError(f"invalid Slurm settings: {str(exc).splitlines()[0]}") from None
        return executor


@contextlib.contextmanager
def _sbatch_stderr():
    """sbatch (run by submitit) writes its errors to our stderr: catch them, so the user sees
    one line from emotui instead of sbatch's noise and a traceback."""
    captured: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", errors="replace"))


def _submit_error(exc: Exception, stderr: list[str] | None = None) -> BackendError:
    text = ("\n".join(stderr or []) + "\n" + str(exc)).strip()
    for line in text.splitlines():
        if "sbatch: error" in line or "error:" in line:
            text = line.strip()
            break
    else:
        text = text.splitlines()[-1] if text else type(exc).__name__
    return BackendError(f"sbatch refused the job: {text}")


def _scancel(ids: Sequence[str]) -> str | None:
    """scancel the jobs (one call); None when it did, else what went wrong, in words. A job
    that has already ended is no failure."""
    if not ids:
        return None
    try:
        proc = scheduler(["scancel", *ids])
    except SchedulerUnavailable as exc:
        return str(exc)
    errors = [ln for ln in proc.stderr.splitlines()
              if ln.strip() and "already completing" not in ln
              and "Invalid job id" not in ln and "Job has already finished" not in ln]
    if proc.returncode != 0 and errors:
        return f"scancel failed ({errors[-1].strip()})"
    return None


def _retry_pending_cancels(active: Sequence[tuple[RunPaths, dict]],
                           queue: dict[str, dict[str, str]]) -> dict[str, dict]:
    """scancel again, in one call, the jobs of runs whose cancel is pending (an earlier
    scancel failed) and that slurmctld still lists; ``cancel_pending`` is cleared once it
    works. Returns the statuses written, by run id."""
    pending = [(p, s) for p, s in active if s.get("cancel_pending") and cancel_requested(p)
               and s["job_id"] in queue and queue[s["job_id"]]["state"] not in FINAL_STATES]
    if not pending:
        return {}
    from emotui.launch.slurm_pack import cancel_plan  # lazy: pulls submitit

    problem = _scancel(cancel_plan(pending))
    return {paths.run_id: write_status(paths, fence=attempt_of(status), cancel_pending=problem)
            for paths, status in pending}


def _warn_short_time_limit(res: SlurmResources) -> None:
    warning = time_limit_warning(res)
    if warning:
        log.warning("emotui: warning: %s", warning)


def _clear_process_fields() -> dict[str, Any]:
    # A previous attempt (e.g. local, before --resume on Slurm) must not look alive, and what
    # the scheduler said about an earlier job does not apply to the new one.
    return {"pid": None, "pgid": None, "proc_start": None, "boot_id": None, "host": None,
            "left_queue_at": None, "scheduler_state": None, "exit_code": None,
            "cancel_pending": None}


class SlurmBackend(Backend):
    name = "slurm"

    def submit(self, paths: RunPaths, *, resume: bool = False,
               resources: SlurmResources | None = None) -> dict:
        """One sbatch job (job name = run id; submitit's files and logs in the run's launch/)."""
        # lazy: these pull submitit
        from emotui.launch import slurm_pack
        from emotui.launch.job import SlurmEntry

        res = resources or SlurmResources()
        if not shutil.which("sbatch"):
            raise BackendError("sbatch not found: run emotui where the Slurm client is installed")
        _warn_short_time_limit(res)
        clear_launch_leftovers(paths)
        paths.launch.mkdir(exist_ok=True)
        executor = _Executor.make(paths.launch, res, paths.run_id)
        try:
            with _sbatch_stderr() as stderr:
                job = executor.submit(SlurmEntry(str(paths.root),
                                                 resume=True if resume else None,
                                                 attempt=attempt_of(read_status(paths))))
        except Exception as exc:  # sbatch's CalledProcessError, submitit's FailedSubmissionError
            raise _submit_error(exc, stderr) from None
        SCHEDULER_CALLS["sbatch"] += 1
        return requeue(
            paths, "submitted", backend=self.name,
            job_id=str(job.job_id), submitted=now(), launch_folder=str(paths.launch),
            scheduler_log=str(job.paths.stdout), scheduler_log_err=str(job.paths.stderr),
            resources=res.to_dict(), **_clear_process_fields(),
            **slurm_pack.pack_fields([paths], 0),  # alone now, even if it shared a job before
        )

    def submit_many(self, runs: Sequence[RunPaths], *, resources: SlurmResources | None = None,
                    max_parallel: int | None = None, job_name: str | None = None,
                    resume: bool = False, trials_per_job: int = 1,
                    mps: str = "auto") -> list[dict]:
        """One Slurm job array for all runs, at most ``max_parallel`` running at once (``%N``).

        The array's submitit folder (pickles, scheduler logs) is ``<runs dir>/.slurm/<name>/``,
        shared by its tasks; each run's status.json names its task id (``<array id>_<index>``)
        and its log files, and ``launch/slurm`` links to the folder. Returns the statuses.
        ``trials_per_job`` K > 1: each array task trains K runs at once on its GPU, with CUDA
        MPS unless ``mps`` is off (launch.slurm_pack).
        """
        # lazy: these pull submitit
        from emotui.launch import slurm_pack
        from emotui.launch.job import SlurmEntry

        runs = list(runs)
        if not runs:
            return []
        if max_parallel is not None and max_parallel < 1:
            raise BackendError(f"max_parallel must be at least 1, got {max_parallel}")
        if not shutil.which("sbatch"):
            raise BackendError("sbatch not found: run emotui where the Slurm client is installed")
        res = resources or SlurmResources()
        slurm_pack.check_packable(res.gpus, trials_per_job)
        _warn_short_time_limit(res)
        stamp = time.strftime("%y%m%d-%H%M%S")
        folder = runs[0].root.parent / ".slurm" / f"array-{stamp}-{secrets.token_hex(2)}"
        folder.mkdir(parents=True, exist_ok=True)
        name = job_name or f"emotui-{len(runs)}runs"
        packed = slurm_pack.packs(runs, max(1, trials_per_job))
        extra = slurm_pack.packed_job_parameters(res.setup, trials_per_job, mps, folder) \
            if trials_per_job > 1 else {}
        executor = _Executor.make(folder, res, name, array_parallelism=slurm_pack.jobs_at_once(
            max_parallel, len(runs), max(1, trials_per_job)), **extra)
        for paths in runs:
            clear_launch_leftovers(paths)
        again = True if resume else None
        try:
            with _sbatch_stderr() as stderr, executor.batch():
                jobs = [executor.submit(
                    slurm_pack.SlurmPack([str(p.root) for p in pack], resume=again,
                                         attempts=[attempt_of(read_status(p)) for p in pack])
                    if trials_per_job > 1 else
                    SlurmEntry(str(pack[0].root), resume=again,
                               attempt=attempt_of(read_status(pack[0]))))
                    for pack in packed]
        except Exception as exc:
            raise _submit_error(exc, stderr) from None
        SCHEDULER_CALLS["sbatch"] += 1
        statuses = []
        for paths, job, rank, pack in ((p, job, rank, pack) for pack, job in zip(packed, jobs)
                                       for rank, p in enumerate(pack)):
            task = job.task(rank) if rank else job  # a packed job's tasks log to their own files
            paths.launch.mkdir(exist_ok=True)
            link = paths.launch / "slurm"
            if not link.exists():
                try:
                    link.symlink_to(folder, target_is_directory=True)
                except OSError:
                    pass  # a filesystem without symlinks: status.json names the folder anyway
            statuses.append(requeue(
                paths, "submitted", backend=self.name,
                job_id=str(job.job_id), array_job_id=str(job.job_id).split("_")[0],
                max_parallel=max_parallel, submitted=now(), launch_folder=str(folder),
                scheduler_log=str(task.paths.stdout), scheduler_log_err=str(task.paths.stderr),
                resources=res.to_dict(), **slurm_pack.pack_fields(pack, rank),
                **_clear_process_fields(),
            ))
        return statuses

    def refresh(self, runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, dict]:
        """One squeue for all active jobs, one sacct for those that left the queue."""
        out: dict[str, dict] = {}
        active = []
        for paths, status in runs:
            if status.get("state") in ACTIVE and status.get("job_id"):
                active.append((paths, status))
            else:
                out[paths.run_id] = status
        if not active:
            return out
        try:
            queue = squeue_states([s["job_id"] for _, s in active])
        except SchedulerUnavailable as exc:
            for paths, status in active:  # no news is not bad news: keep what the files say
                out[paths.run_id] = dict(status, scheduler_error=str(exc))
                if status.get("cancel_pending") and cancel_requested(paths):
                    out[paths.run_id]["reason"] = (f"cancel pending: {status['cancel_pending']}"
                                                   "; scancel is retried at the next refresh")
            return out
        retried = _retry_pending_cancels(active, queue)
        active = [(paths, retried.get(paths.run_id, status)) for paths, status in active]
        gone = [s["job_id"] for _, s in active
                if s["job_id"] not in queue or queue[s["job_id"]]["state"] in FINAL_STATES]
        accounting = Accounting.states(gone) if gone else {}
        for paths, status in active:
            job_id = status["job_id"]
            sched = queue.get(job_id)
            if sched is not None and sched["state"] not in FINAL_STATES - {"PREEMPTED"}:
                live, persist = queued_view(paths, status, sched)
                if persist:
                    set_state(paths, live["state"], reason=live["reason"],
                              fence=attempt_of(status))
                out[paths.run_id] = live
                continue
            info = (accounting or {}).get(job_id)
            if info is not None and info["state"] not in FINAL_STATES:
                info = None  # slurmdbd still has the job as pending/running: it lags behind
            info = info or sched
            if info is None and accounting is not None and read_exit(paths, status) is None:
                # Left the queue, but slurmdbd has no record yet (it lags by a moment): wait a
                # little before concluding from the files alone.
                left = status.get("left_queue_at")
                if left is None:
                    status = write_status(paths, fence=attempt_of(status), left_queue_at=now())
                if left is None or now() - float(left) < ACCOUNTING_GRACE_S:
                    out[paths.run_id] = dict(status, reason="left the queue; waiting for sacct")
                    continue
            state, reason = terminal_state(paths, status, info,
                                           accounted=info is None and accounting is not None)
            extra = {"scheduler_state": info["state"]} if info else {}
            if info and info.get("exit_code"):
                extra["exit_code"] = info["exit_code"]
            out[paths.run_id] = record_end(paths, state, reason, seen=status, **extra)
        return out

    def cancel(self, runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, str]:
        """One scancel for all; each run is marked cancelled at once (the job, if running,
        saves a checkpoint first, so --resume can continue it). A trial sharing its job with
        others that go on is stopped through its cancel marker alone (launch.slurm_pack).

        The cancel marker is written first and is itself a cancel: a job that starts finds it
        and stops, and a running one watches it (launch.job). So when scancel fails (slurmctld
        unreachable) the cancel is pending, not failed: the runs stay as they are, with
        ``cancel_pending`` in status.json, every refresh tries scancel again, and the notes
        returned say so."""
        from emotui.launch.slurm_pack import cancel_plan  # lazy: pulls submitit

        for paths, _status in runs:
            mark_cancel_requested(paths)
        problem = _scancel(cancel_plan(runs))
        if problem is not None:
            note = (f"cancel pending: {problem}; the job stops itself when it starts (or within "
                    "seconds if it runs), and emotui retries scancel at each refresh "
                    "(emotui ls, show, the TUI)")
            for paths, status in runs:
                write_status(paths, fence=attempt_of(status), cancel_pending=problem)
            return {paths.run_id: note for paths, _ in runs}
        for paths, status in runs:
            record_end(paths, RunState.CANCELLED, "cancelled by user", seen=status)
        return {}

    def job_alive(self, paths: RunPaths, status: dict[str, Any]) -> str | None:
        job_id = status.get("job_id")
        if not job_id:
            return None
        try:
            queue = squeue_states([str(job_id)])
        except SchedulerUnavailable:
            return None
        sched = queue.get(str(job_id))
        if sched is None or sched["state"] in FINAL_STATES:
            return None
        return f"slurm job {job_id} ({sched['state'].lower()})"
