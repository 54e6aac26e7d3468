"""What Slurm says of a job, in emotui's words: squeue and sacct (batched, counted), and how a
job that has left the queue ended (``terminal_state``) or how one it still lists looks
(``queued_view``). launch.slurm submits, refreshes and cancels with these.

sacct's answers have gaps that are read, not guessed around: a pending array task cancelled with
scancel has no row of its own (its array's row stands for it), and a job Slurm could not start
because its log folder vanished ends FAILED with "0:53".
"""

from __future__ import annotations

import collections
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

from emotui.core.lifecycle import RunState
from emotui.core.runstore import RunPaths
from emotui.core.status import HEARTBEAT_STALE_S
from emotui.launch.base import (
    cancel_requested,
    last_error_line,
    outcome_from_exit,
    read_exit,
    stale_heartbeat_reason,
)

# Every squeue/sacct/scancel this process ran, by command (the poll-cost measurement).
SCHEDULER_CALLS: collections.Counter[str] = collections.Counter()
SCHEDULER_TIMEOUT_S = 30.0

QUEUED_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                 "RESV_DEL_HOLD", "SPECIAL_EXIT"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                  "RESIZING"}
# What sacct shows as the signal of a job Slurm could not start because it could not open its
# --output/--error file (e.g. its folder was removed while the job was pending): "0:53".
_OUTPUT_FILE_SIGNAL = 53
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
        """{job id: {"state", "exit_code", "reason"}} (None: no accounting). An array task
        that never started has no row of its own: the array's row for its pending tasks
        ("123_[4-7%2]") stands for it, with ``array_row`` set; the same call asks for it."""
        if cls.available is False and time.monotonic() - cls.checked_at > cls.RETRY_S:
            cls.available = None
        if not job_ids or cls.available is False:
            return None if cls.available is False else {}
        cls.checked_at = time.monotonic()
        arrays = [a for a in dict.fromkeys(str(j).split("_")[0] for j in job_ids if "_" in str(j))
                  if a not in job_ids]
        try:
            proc = scheduler(["sacct", "-n", "-P", "-X", "-j", ",".join([*job_ids, *arrays]),
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
        for job_id in job_ids:
            if job_id not in out and "_" in str(job_id):
                row = _array_row_for(out, str(job_id))
                if row is not None:
                    out[job_id] = dict(row, array_row="yes")
        return out


def array_indexes(spec: str) -> set[int]:
    """The task indexes of an array row's "[1,3,5-7%2]" (the %N throttle dropped)."""
    out: set[int] = set()
    for part in spec.strip("[]").split("%")[0].split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            out.update(range(int(first), int(last or first) + 1))
    return out


def _array_row_for(rows: dict[str, dict[str, str]], task_id: str) -> dict[str, str] | None:
    """The row of ``task_id``'s array that lists it among tasks that never started."""
    array, _, index = task_id.partition("_")
    if not index.isdigit():
        return None
    for key, row in rows.items():
        head, _, spec = key.partition("_")
        if head == array and spec.startswith("[") and int(index) in array_indexes(spec):
            return row
    return None


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


def time_limit_end(run_id: str) -> str:
    """The reason of a run that hit its time limit with no requeue left (the job says it
    itself, launch.job; a reader says it from submitit's log when the job could not)."""
    return ("hit the time limit with no requeue left (the slurm setting max_requeues); resume "
            f"with: emotui run --resume {run_id} --backend slurm --time LONGER")


def _submitit_refused_requeue(status: dict[str, Any]) -> bool:
    """submitit's own handler met the time-limit signal before the job's (a limit so short
    that it came while Python was starting) and refused to requeue: its log says so."""
    for key in ("scheduler_log_err", "scheduler_log"):
        log = status.get(key)
        try:
            with open(log, "rb") as fh:  # only its end: a log may be large
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 64 * 1024))
                tail = fh.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            continue
        if "Job not requeued because: timed-out" in tail:
            return True
    return False


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


def _log_folder_problem(paths: RunPaths, status: dict[str, Any], code: str | None) -> str | None:
    """Why Slurm could not start the job, when its log folder is the cause: the folder its
    --output names vanished (Slurm then fails the job with signal 53 before it runs)."""
    log_file = status.get("scheduler_log") or status.get("scheduler_log_err")
    folder = Path(log_file).parent if log_file else None
    resume = f"resume with: emotui run --resume {paths.run_id} --backend slurm"
    cannot_open = (code or "").endswith(f":{_OUTPUT_FILE_SIGNAL}")
    # Only a job that never ran (or that Slurm says could not open its output) is told so: a
    # folder removed after a job ran and failed otherwise is not why it failed.
    if folder is not None and not folder.is_dir() and (cannot_open or _never_started(status)):
        return (f"its log folder {folder} vanished before the job started (Slurm could not "
                f"open its output file there); {resume}")
    if cannot_open and folder is not None:
        return (f"Slurm could not open the job's output file in {folder} (exit code {code}: "
                f"permissions, or a full disk?); {resume}")
    return None


def _never_started(status: dict[str, Any]) -> bool:
    """The attempt was submitted and never recorded a process (a job records itself first)."""
    return status.get("state") == RunState.QUEUED.value and not status.get("pid")


def terminal_state(paths: RunPaths, status: dict[str, Any], sched: dict[str, str] | None,
                   *, accounted: bool = False) -> tuple[RunState, str | None]:
    """How a job that has left the queue (or is listed in a final state) ended. ``accounted``:
    sacct answered and has no row for it (nor its array one listing it)."""
    exit_record = read_exit(paths, status)
    sched_state = (sched or {}).get("state", "")
    rid = paths.run_id
    if exit_record is not None and exit_record.get("outcome") == "completed":
        return RunState.COMPLETED, None  # finished its work; a late scancel changes nothing
    if sched_state == "CANCELLED" or (cancel_requested(paths) and not (
            exit_record and exit_record.get("outcome") == "completed")):
        who = "by user" if cancel_requested(paths) else "outside emotui (scancel)"
        return RunState.CANCELLED, f"cancelled {who}"
    if exit_record is not None and exit_record.get("outcome") in (
            "completed", "failed", "preempted", "cancelled", "timeout"):
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
        if reason is None and exit_record is None:
            reason = _log_folder_problem(paths, status, code)
        if reason is None and exit_record is None and _submitit_refused_requeue(status):
            reason = time_limit_end(rid)
        return RunState.FAILED, reason or (f"job failed ({describe_exit_code(code)})"
                                           + _error_detail(paths, status))
    if sched_state:
        return RunState.FAILED, f"job ended {sched_state} ({describe_exit_code(code)})"
    if status.get("state") == RunState.PREEMPTED.value:
        return RunState.PREEMPTED, status.get("reason")
    if _never_started(status) and exit_record is None:
        if accounted and "_" in str(status.get("job_id")):
            # A pending array task removed before it started: sacct keeps no row of its own
            # for it, and its array's row no longer lists it. Only scancel does that.
            return RunState.CANCELLED, "cancelled outside emotui (scancel) before it started"
        return RunState.FAILED, ("job left the queue before it started, with no record of why "
                                 "(cancelled outside emotui with scancel?); resume with: emotui "
                                 f"run --resume {rid} --backend slurm")
    return RunState.FAILED, ("job left the queue without an exit record (killed by SIGKILL, out "
                             "of memory or node failure?)" + _error_detail(paths, status))


def queued_view(paths: RunPaths, status: dict[str, Any], sched: dict[str, str]
                ) -> tuple[dict[str, Any], bool]:
    """(live status, whether to persist it) for a job slurmctld still lists."""
    live = dict(status)
    live["scheduler_state"] = sched["state"]
    state, reason = sched["state"], sched.get("reason") or ""
    if cancel_requested(paths):
        pending = status.get("cancel_pending")
        # The same words whether or not squeue answered (launch.slurm.SlurmBackend.refresh).
        live.update(state=RunState.CANCELLED.value, reason=f"cancel pending: {pending}; scancel "
                    "is retried at the next refresh" if pending else "cancelling")
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
