"""What every backend shares: the interface, the exit record, the cancel marker, process identity.

Everything needed to find a job again lives in the run's ``status.json`` (``backend``, ``job_id``,
``pid``/``pgid``/``proc_start``/``boot_id``, ``host``, ``submitted``, ``launch_folder``), so any
process, on any machine sharing the run store, can refresh or cancel it: there is no daemon and
no in-memory handle to lose.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol, Sequence

from emotui.core.runstore import RunPaths, atomic_write_json, read_json
from emotui.core.status import RunState, heartbeat_age, read_status, write_status

CANCEL_MARKER = "cancel_requested"


class Backend(Protocol):
    """A place runs execute. Implementations: inline, local, slurm (see get_backend)."""

    name: str

    def submit(self, paths: RunPaths, *, resume: bool = False, resources: Any = None) -> dict:
        """Start (or queue) the run whose config.yaml is in ``paths``; returns its status."""

    def submit_many(self, runs: Sequence[RunPaths], *, resources: Any = None,
                    max_parallel: int | None = None) -> list[dict]:
        """Start several runs, at most ``max_parallel`` at once; returns their statuses."""

    def refresh(self, runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, dict]:
        """Live status of runs (paths, status.json) with one batched scheduler call; persists
        only what no live job can be writing (terminal states, pending reasons)."""

    def cancel(self, runs: Sequence[tuple[RunPaths, dict]]) -> None:
        """Stop active runs; they end ``cancelled``."""


# --- the job's exit record ------------------------------------------------------------------

def write_exit(paths: RunPaths, *, outcome: str, exit_code: int, signal: str | None = None,
               error: str | None = None, **extra: Any) -> None:
    """exit.json: the job's last act. Lets a reader tell how a job ended without sacct."""
    atomic_write_json(paths.exit_file, {
        "outcome": outcome, "exit_code": exit_code, "signal": signal, "error": error,
        "time": round(time.time(), 3), "host": socket.gethostname(), "pid": os.getpid(),
        "job_id": os.environ.get("EMOTUI_JOB_ID") or slurm_job_id_from_env(), **extra,
    })


def read_exit(paths: RunPaths) -> dict[str, Any] | None:
    return read_json(paths.exit_file)


def slurm_job_id_from_env() -> str | None:
    array_id, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_id and task:
        return f"{array_id}_{task}"
    return os.environ.get("SLURM_JOB_ID")


# --- cancel marker: tells the job (and later readers) that a stop was a user's cancel -------

def cancel_marker(paths: RunPaths) -> Path:
    return paths.launch / CANCEL_MARKER


def mark_cancel_requested(paths: RunPaths) -> None:
    paths.launch.mkdir(parents=True, exist_ok=True)
    cancel_marker(paths).write_text(f"{time.time():.3f}\n")


def cancel_requested(paths: RunPaths) -> bool:
    return cancel_marker(paths).exists()


def clear_launch_leftovers(paths: RunPaths) -> None:
    """Before a (re)launch: the previous attempt's exit record and cancel marker no longer apply."""
    paths.exit_file.unlink(missing_ok=True)
    cancel_marker(paths).unlink(missing_ok=True)


# --- process identity (local and inline runs) -------------------------------------------------

def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def proc_start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): a pid plus this names one process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may hold spaces and parentheses: split after its closing one.
    fields = raw[raw.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return None


def process_identity(pid: int) -> dict[str, Any]:
    return {"pid": pid, "host": socket.gethostname(), "proc_start": proc_start_ticks(pid),
            "boot_id": boot_id()}


def process_alive(status: dict[str, Any]) -> bool | None:
    """True/False for a process recorded in status.json on this host; None when it ran elsewhere
    (then only the heartbeat can tell)."""
    pid = status.get("pid")
    if not pid or status.get("host") != socket.gethostname():
        return None
    recorded_boot = status.get("boot_id")
    if recorded_boot and boot_id() and recorded_boot != boot_id():
        return False  # the machine restarted since: that process is gone
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self").exists():
        try:
            raw = stat.read_text()
        except OSError:
            return False
        if raw[raw.rfind(")") + 2:].split()[:1] == ["Z"]:
            return False  # exited, not yet reaped by its parent
        recorded = status.get("proc_start")
        return recorded is None or proc_start_ticks(int(pid)) == recorded
    try:  # no /proc (macOS): signal 0 only tells the pid exists
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- shared helpers ------------------------------------------------------------------------------

def stderr_tail(paths: RunPaths, lines: int = 20, max_bytes: int = 64_000) -> list[str]:
    """The last lines of the run's stderr.log (what a failure report shows)."""
    try:
        with open(paths.stderr, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            text = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def last_error_line(paths: RunPaths) -> str | None:
    """The last line of stderr.log that looks like an error (for a reason), if any."""
    for line in reversed(stderr_tail(paths, lines=50)):
        if "Error" in line or "error" in line or "Killed" in line or "Exception" in line:
            return line.strip()[:300]
    return None


def finish(paths: RunPaths, state: RunState, reason: str | None, **extra: Any) -> dict[str, Any]:
    """Record a terminal state found by a reader (the job is gone, so nobody else writes)."""
    status = read_status(paths)
    return write_status(paths, state=state, reason=reason,
                        ended=status.get("ended") or round(time.time(), 3), **extra)


def outcome_from_exit(paths: RunPaths, status: dict[str, Any], exit_record: dict[str, Any],
                      ) -> tuple[RunState, str | None]:
    """The final state a job's exit.json implies (status.json's own reason preferred)."""
    outcome = exit_record.get("outcome")
    if outcome == "completed":
        return RunState.COMPLETED, None
    if outcome == "cancelled" or cancel_requested(paths):
        return RunState.CANCELLED, status.get("reason") if status.get("state") == "cancelled" \
            else "cancelled by user"
    if outcome == "preempted":
        sig = exit_record.get("signal") or "a signal"
        return RunState.PREEMPTED, (f"stopped by {sig} after saving a checkpoint; resume with: "
                                    f"emotui run --resume {paths.run_id}")
    reason = status.get("reason") if status.get("state") == "failed" else None
    return RunState.FAILED, reason or exit_record.get("error") or \
        f"exit code {exit_record.get('exit_code')}"


def stale_heartbeat_reason(paths: RunPaths, limit: float) -> str | None:
    age = heartbeat_age(paths)
    if age is not None and age > limit:
        return f"no heartbeat for {int(age)} s"
    return None
