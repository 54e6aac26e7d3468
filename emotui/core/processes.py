"""Naming one process so that another process, later or on another machine, can tell whether it
still runs: host + pid + the process's start time + the machine's boot id (a reused pid, or a
pid from before a reboot, never looks like the one recorded).

status.json records it for local and inline runs (launch.base), and a run's claim for its holder
(core.claim).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


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
    return _start_ticks(_stat_fields(raw))


def _stat_fields(raw: str) -> list[str]:
    """/proc/<pid>/stat's fields from the third on (state, ppid, ...): field 2 (comm) may hold
    spaces and parentheses, so split after its closing one."""
    return raw[raw.rfind(")") + 2:].split()


def _start_ticks(fields: list[str]) -> int | None:
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return None


def process_identity(pid: int) -> dict[str, Any]:
    return {"pid": pid, "host": socket.gethostname(), "proc_start": proc_start_ticks(pid),
            "boot_id": boot_id()}


def process_alive(status: dict[str, Any]) -> bool | None:
    """True/False for a process recorded (as process_identity) on this host; None when it ran
    elsewhere (then only a heartbeat can tell)."""
    pid = status.get("pid")
    if not pid or status.get("host") != socket.gethostname():
        return None
    recorded_boot, this_boot = status.get("boot_id"), boot_id()
    if recorded_boot and this_boot and recorded_boot != this_boot:
        return False  # the machine restarted since: that process is gone
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self").exists():
        try:
            raw = stat.read_text()
        except OSError:
            return False
        fields = _stat_fields(raw)
        if fields[:1] == ["Z"]:
            return False  # exited, not yet reaped by its parent
        recorded = status.get("proc_start")
        return recorded is None or _start_ticks(fields) == recorded
    try:  # no /proc (macOS): signal 0 only tells the pid exists
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
