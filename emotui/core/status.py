"""status.json, the file: read it, merge changes into it and replace it atomically; the heartbeat.

Its ``state`` field follows the run's state machine, which core.lifecycle owns: every change of
state goes through there (RunState, the allowed transitions, the named state sets).
"""

from __future__ import annotations

import os
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Any

from emotui.core.runstore import RunPaths, atomic_write_json, read_json

# A running job touches its heartbeat this often; a reader calls it lost after HEARTBEAT_STALE_S.
HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_STALE_S = 60.0
_WRITE_LOCK = threading.Lock()


def now() -> float:
    return round(time.time(), 3)


def read_status(paths: RunPaths) -> dict[str, Any]:
    """status.json as a dict ({} when the run is being created)."""
    return read_json(paths.status) or {}


def write_status(paths: RunPaths, **changes: Any) -> dict[str, Any]:
    """Merge changes into status.json and replace it atomically. Returns the new status.

    Only the process that owns the run's current phase writes (launcher before start, the job
    while it runs, cancel after it is gone), so read-modify-write needs no lock between
    processes; within one, a lock orders the threads' writes (training, the position ticker).
    """
    with _WRITE_LOCK:
        status = read_status(paths)
        for key, value in changes.items():
            status[key] = value.value if isinstance(value, Enum) else value
        status["updated"] = now()
        atomic_write_json(paths.status, status)
    return status


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
