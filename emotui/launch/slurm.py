"""Slurm backend: submitit's SlurmExecutor to submit; squeue/sacct, batched, to watch.

Submission goes through submitit (sbatch script, pickled ``SlurmEntry``, USR2-before-time-limit
checkpoint-and-requeue). Watching does not: submitit's ``job.state`` is a per-process cache that
calls sacct (which fails where accounting is disabled) and refreshes every few minutes. Instead a
poll cycle makes ONE ``squeue --jobs=a,b,c`` call for every tracked job, and ONE ``sacct`` call
only for the jobs that have left the queue (skipped for good once sacct turns out to be
unavailable). ``SCHEDULER_CALLS`` counts the calls, so a test can measure them.
"""

from __future__ import annotations

import collections
import contextlib
import os
import tempfile
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from emotui.core.errors import BackendError
from emotui.core.runstore import RunPaths
from emotui.core.lifecycle import ACTIVE, RunState, record_end, requeue, set_state
from emotui.core.status import HEARTBEAT_STALE_S, attempt_of, now, read_status, write_status
from emotui.launch.base import (
    Backend,
    cancel_requested,
    clear_launch_leftovers,
    last_error_line,
    mark_cancel_requested,
    outcome_from_exit,
    read_exit,
    stale_heartbeat_reason,
)
from emotui.launch.resources import SlurmResources, submitit_parameters

# Every squeue/sacct/scancel this process ran, by command (the poll-cost measurement).
SCHEDULER_CALLS: collections.Counter[str] = collections.Counter()
SCHEDULER_TIMEOUT_S = 30.0
# How long a job may be missing from both squeue and sacct before the files alone decide.
ACCOUNTING_GRACE_S = 30.0
# Without a --time, no time limit is sent (the partition's default applies); submitit still needs
# a number for its requeue countdown, so it gets one that never counts as "timed out".
_NO_TIME_LIMIT_MIN = 60 * 24 * 365

QUEUED_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                 "RESV_DEL_HOLD", "SPECIAL_EXIT"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                  "RESIZING"}
SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV",
                15: "SIGTERM", 12: "SIGUSR2", 10: "SIGUSR1"}


class SchedulerUnavailable(Exception):
    pass


def scheduler(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    """Run one Slurm client command (counted). Raises SchedulerUnavailable when it cannot run."""
    SCHEDULER_CALLS[command[0]] += 1
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=SCHEDULER_TIMEOUT_S)
    except FileNotFoundError:
        raise SchedulerUnavailable(f"{command[0]} not found; is Slurm installed here?") from None
    except subprocess.TimeoutExpired:
        raise SchedulerUnavailable(f"{command[0]} did not answer in {SCHEDULER_TIMEOUT_S:.0f} s"
                                   ) from None
    return proc


def squeue_states(job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """{job_id: {"state", "reason", "nodes"}} for the jobs still known to slurmctld (one call).
    Array tasks are listed one per line (-r), as "<array id>_<index>"."""
    if not job_ids:
        return {}
    proc = scheduler(["squeue", "-h", "-r", f"--jobs={','.join(job_ids)}",
                      "-o", "%i|%T|%r|%N"])
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return {}  # with a single id squeue fails when the job has been purged
        raise SchedulerUnavailable(f"squeue failed: {proc.stderr.strip() or proc.returncode}")
    out = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 3:
            out[parts[0]] = {"state": parts[1], "reason": parts[2],
                             "nodes": parts[3] if len(parts) > 3 else ""}
    return out


class Accounting:
    """sacct, remembered as unavailable once it says so (clusters without slurmdbd); a
    long-lived process (the TUI) asks again after RETRY_S in case slurmdbd was only down."""

    available: bool | None = None
    checked_at: float = 0.0
    RETRY_S = 300.0

    @classmethod
    def states(cls, job_ids: Sequence[str]) -> dict[str, dict[str, str]] | None:
        if cls.available is False and time.monotonic() - cls.checked_at > cls.RETRY_S:
            cls.available = None
        if not job_ids or cls.available is False:
            return None if cls.available is False else {}
        cls.checked_at = time.monotonic()
        try:
            proc = scheduler(["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids),
                              "-o", "JobID,State,ExitCode,Reason"])
        except SchedulerUnavailable:
            cls.available = False
            return None
        if proc.returncode != 0:
            # e.g. "Slurm accounting storage is disabled": heartbeat + exit files must do.
            cls.available = False
            return None
        cls.available = True
        out = {}
        for line in proc.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) >= 3:
                # "CANCELLED by 0" -> CANCELLED; a requeued job has several rows: keep the last.
                out[parts[0]] = {"state": parts[1].split()[0] if parts[1] else "",
                                 "exit_code": parts[2],
                                 "reason": parts[3] if len(parts) > 3 else ""}
        return out


def describe_exit_code(code: str | None) -> str:
    """sacct's "A:B" (exit code : signal) in words."""
    if not code or ":" not in code:
        return f"exit code {code}" if code else "no exit code"
    status, sig = code.split(":", 1)
    if sig.isdigit() and int(sig):
        return f"killed by signal {sig} ({SIGNAL_NAMES.get(int(sig), 'signal')})"
    if status.isdigit() and int(status) > 128:
        number = int(status) - 128
        return f"exit code {status} (killed by {SIGNAL_NAMES.get(number, f'signal {number}')})"
    return f"exit code {status}"


def _error_detail(paths: RunPaths, status: dict[str, Any]) -> str:
    detail = last_error_line(paths)
    log = status.get("scheduler_log_err")
    if not detail and log:
        try:
            lines = [ln for ln in Path(log).read_text(errors="replace").splitlines()
                     if "error" in ln.lower()]
        except OSError:
            lines = []
        detail = lines[-1].strip()[:300] if lines else None
    return f"; last error: {detail}" if detail else ""


def terminal_state(paths: RunPaths, status: dict[str, Any], sched: dict[str, str] | None,
                   ) -> tuple[RunState, str | None]:
    """How a job that has left the queue (or is listed in a final state) ended."""
    exit_record = read_exit(paths, status)
    sched_state = (sched or {}).get("state", "")
    rid = paths.run_id
    if exit_record is not None and exit_record.get("outcome") == "completed":
        return RunState.COMPLETED, None  # finished its work; a late scancel changes nothing
    if sched_state == "CANCELLED" or (cancel_requested(paths) and not (
            exit_record and exit_record.get("outcome") == "completed")):
        who = "by user" if cancel_requested(paths) else "outside emotui (scancel)"
        return RunState.CANCELLED, f"cancelled {who}"
    if exit_record is not None and exit_record.get("outcome") in ("completed", "failed",
                                                                   "preempted", "cancelled"):
        return outcome_from_exit(paths, status, exit_record)
    code = (sched or {}).get("exit_code")
    if sched_state == "COMPLETED":
        if paths.results.exists() or status.get("state") == RunState.COMPLETED.value:
            return RunState.COMPLETED, None
        return RunState.FAILED, "job ended without finishing the run (no exit record)"
    if sched_state == "TIMEOUT":
        return RunState.FAILED, (f"hit the time limit (TIMEOUT); resume with: emotui run "
                                 f"--resume {rid} --backend slurm --time LONGER")
    if sched_state == "OUT_OF_MEMORY":
        return RunState.FAILED, ("out of memory (OUT_OF_MEMORY); ask for more with --mem, then "
                                 f"emotui run --resume {rid} --backend slurm")
    if sched_state == "NODE_FAIL":
        return RunState.FAILED, (f"node failure (NODE_FAIL); resume with: emotui run --resume "
                                 f"{rid} --backend slurm")
    if sched_state == "PREEMPTED":
        return RunState.PREEMPTED, (f"preempted by the scheduler; resume with: emotui run "
                                    f"--resume {rid} --backend slurm")
    if sched_state == "FAILED":
        reason = status.get("reason") if status.get("state") == RunState.FAILED.value else None
        return RunState.FAILED, reason or (f"job failed ({describe_exit_code(code)})"
                                           + _error_detail(paths, status))
    if sched_state:
        return RunState.FAILED, f"job ended {sched_state} ({describe_exit_code(code)})"
    if status.get("state") == RunState.PREEMPTED.value:
        return RunState.PREEMPTED, status.get("reason")
    return RunState.FAILED, ("job left the queue without an exit record (killed by SIGKILL, out "
                             "of memory or node failure?)" + _error_detail(paths, status))


def queued_view(paths: RunPaths, status: dict[str, Any], sched: dict[str, str]
                ) -> tuple[dict[str, Any], bool]:
    """(live status, whether to persist it) for a job slurmctld still lists."""
    live = dict(status)
    live["scheduler_state"] = sched["state"]
    state, reason = sched["state"], sched.get("reason") or ""
    if cancel_requested(paths):
        live.update(state=RunState.CANCELLED.value, reason="cancelling")
        return live, False
    if state in QUEUED_STATES:
        why = reason if reason and reason != "None" else state.lower()
        prefix = "requeued, " if status.get("state") in (RunState.RUNNING.value,
                                                        RunState.PREEMPTED.value) else ""
        new_reason = f"{prefix}pending: {why}"
        if (status.get("reason") or "").startswith("requeued") and not prefix:
            new_reason = f"requeued, pending: {why}"
        live.update(state=RunState.QUEUED.value, reason=new_reason)
        # Nothing runs while slurmctld says pending: no job process can be writing.
        changed = status.get("state") != live["state"] or status.get("reason") != new_reason
        return live, changed
    if state in RUNNING_STATES:
        if status.get("state") != RunState.RUNNING.value:
            # The job is starting (python importing); it writes "running" itself in a moment.
            live.update(state=RunState.RUNNING.value, reason="starting")
        elif state != "RUNNING":
            live["reason"] = state.lower()
        else:
            stale = stale_heartbeat_reason(paths, HEARTBEAT_STALE_S)
            if stale:
                live["reason"] = f"{stale} (node lost or job hung?)"
        return live, False
    if state == "PREEMPTED":
        live.update(state=RunState.PREEMPTED.value, reason="preempted by the scheduler")
        return live, False
    return live, False  # a final state: handled by the caller


FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


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

        python = res.python or shlex.quote(sys.executable)
        try:
            executor = Executor(folder=folder, max_num_timeout=res.max_requeues, python=python)
        except RuntimeError as exc:
            raise BackendError(f"Slurm not found ({exc}); run emotui on a machine with the "
                               "Slurm client (srun, sbatch) on PATH") from None
        params = submitit_parameters(res, job_name)
        params["time"] = res.time if res.time is not None else _NO_TIME_LIMIT_MIN
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


def _clear_process_fields() -> dict[str, Any]:
    # A previous attempt (e.g. local, before --resume on Slurm) must not look alive, and what
    # the scheduler said about an earlier job does not apply to the new one.
    return {"pid": None, "pgid": None, "proc_start": None, "boot_id": None, "host": None,
            "left_queue_at": None, "scheduler_state": None, "exit_code": None}


class SlurmBackend(Backend):
    name = "slurm"

    def submit(self, paths: RunPaths, *, resume: bool = False,
               resources: SlurmResources | None = None) -> dict:
        """One sbatch job (job name = run id; submitit's files and logs in the run's launch/)."""
        from emotui.launch import slurm_pack
        from emotui.launch.job import SlurmEntry

        res = resources or SlurmResources()
        if not shutil.which("sbatch"):
            raise BackendError("sbatch not found: run emotui where the Slurm client is installed")
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
            return out
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
            state, reason = terminal_state(paths, status, info)
            extra = {"scheduler_state": info["state"]} if info else {}
            if info and info.get("exit_code"):
                extra["exit_code"] = info["exit_code"]
            out[paths.run_id] = record_end(paths, state, reason, seen=status, **extra)
        return out

    def cancel(self, runs: Sequence[tuple[RunPaths, dict]]) -> None:
        """One scancel for all; each run is marked cancelled at once (the job, if running,
        saves a checkpoint first, so --resume can continue it). A trial sharing its job with
        others that go on is stopped through its cancel marker alone (launch.slurm_pack)."""
        from emotui.launch.slurm_pack import cancel_plan

        for paths, _status in runs:
            mark_cancel_requested(paths)
        ids = cancel_plan(runs)
        if ids:
            try:
                proc = scheduler(["scancel", *ids])
            except SchedulerUnavailable as exc:
                raise BackendError(f"cannot cancel: {exc}") from None
            errors = [ln for ln in proc.stderr.splitlines()
                      if ln.strip() and "already completing" not in ln
                      and "Invalid job id" not in ln and "Job has already finished" not in ln]
            if proc.returncode != 0 and errors:
                raise BackendError(f"scancel failed: {errors[-1].strip()}")
        for paths, status in runs:
            record_end(paths, RunState.CANCELLED, "cancelled by user", seen=status)

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
