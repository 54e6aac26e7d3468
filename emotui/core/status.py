"""A run's state machine, persisted as status.json (replaced atomically, never edited in place).

queued -> running -> completed | failed | cancelled | preempted
preempted -> queued/running again (requeue, same run id); failed/cancelled -> queued (resume).
"""

from __future__ import annotations

import os
import socket
import time
from enum import Enum
from pathlib import Path
from typing import Any

from emotui.core.runstore import RunPaths, atomic_write_json, read_json


class RunState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    def __str__(self) -> str:  # so f-strings print "running", not "RunState.RUNNING"
        return self.value


FINISHED = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})
ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.PREEMPTED})

# A running job touches its heartbeat this often; a reader calls it lost after HEARTBEAT_STALE_S.
HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_STALE_S = 60.0


def now() -> float:
    return round(time.time(), 3)


def read_status(paths: RunPaths) -> dict[str, Any]:
    """status.json as a dict ({} when the run is being created)."""
    return read_json(paths.status) or {}


def write_status(paths: RunPaths, **changes: Any) -> dict[str, Any]:
    """Merge changes into status.json and replace it atomically. Returns the new status.

    Only the process that owns the run's current phase writes (launcher before start, the job
    while it runs, cancel after it is gone), so read-modify-write needs no lock.
    """
    status = read_status(paths)
    for key, value in changes.items():
        status[key] = value.value if isinstance(value, RunState) else value
    status["updated"] = now()
    atomic_write_json(paths.status, status)
    return status


def mark_running(paths: RunPaths, **extra: Any) -> dict[str, Any]:
    status = read_status(paths)
    return write_status(
        paths,
        state=RunState.RUNNING,
        reason=None,
        host=socket.gethostname(),
        pid=os.getpid(),
        started=status.get("started") or now(),
        attempts=int(status.get("attempts") or 0) + 1,
        ended=None,
        **extra,
    )


def state_of(status: dict[str, Any]) -> RunState | None:
    try:
        return RunState(status.get("state"))
    except ValueError:
        return None


def touch_heartbeat(paths: RunPaths) -> None:
    path: Path = paths.heartbeat
    try:
        os.utime(path)
    except FileNotFoundError:
        path.write_text(f"{now()}\n")


def heartbeat_age(paths: RunPaths) -> float | None:
    """Seconds since the job last touched its heartbeat; None if it never did."""
    try:
        return max(0.0, time.time() - paths.heartbeat.stat().st_mtime)
    except FileNotFoundError:
        return None
