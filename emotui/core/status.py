"""status.json, the file: read it, merge changes into it and replace it atomically; the heartbeat;
and the fence that keeps an older attempt of a run from writing over a newer one.

Its ``state`` field follows the run's state machine, which core.lifecycle owns: every change of
state goes through there (RunState, the allowed transitions, the named state sets).

Attempts and fencing. Every start of a run (its first start and every resume) is an attempt
with its own number, ``attempt`` in status.json, given by whoever starts it (core.lifecycle).
A process that starts or trains an attempt holds its number (``hold_attempt``); each of its
writes carries it, and a write whose attempt is no longer the run's (a dying job whose run was
resumed meanwhile) is dropped and logged, never merged. Writers that act on what they saw of a
run (a reader recording that a process ended, a cancel) pass the attempt they saw as ``fence``.
Within one run directory the read-check-replace of status.json is serialised across processes by
a small lock file made with O_EXCL (NFS arbitrates it; a lock left by a killed writer is broken
after LOCK_STALE_S), so a check and its write cannot be split by another writer.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from emotui.core.clock import staleness
from emotui.core.errors import EmotuiError
from emotui.core.processes import process_alive, process_identity
from emotui.core.runstore import (
    RunPaths, atomic_write_json, open_for_append, read_json, temporary_for,
)
from emotui.core.schema import SCHEMA_KEY, STATUS_SCHEMA

log = logging.getLogger("emotui")

# A running job touches its heartbeat this often; a reader calls it lost after HEARTBEAT_STALE_S.
HEARTBEAT_INTERVAL_S = 5.0
HEARTBEAT_STALE_S = 60.0
# A status lock is held for one read and one replace (milliseconds): one this old was left by a
# writer that was killed while holding it.
LOCK_STALE_S = 10.0
_LOCK_RETRY_S = 0.002
_WRITE_LOCK = threading.RLock()


class RunFolderGone(EmotuiError):
    """The run's folder was deleted while a process still worked on it: that process stops
    without recreating anything."""

    exit_code = 1

    def __init__(self, paths: RunPaths):
        super().__init__(f"run {paths.run_id}: its folder {paths.root} was deleted; this "
                         "process stops without recreating it")


class StaleAttempt(EmotuiError):
    """This process's attempt of a run is no longer the run's: it was started again elsewhere."""

    exit_code = 1

    def __init__(self, paths: RunPaths, mine: int, current: Any):
        super().__init__(f"run {paths.run_id} was started again (attempt {current}) while this "
                         f"process still worked on attempt {mine}; this process stops and "
                         "leaves the run to the newer attempt")


def now() -> float:
    return round(time.time(), 3)


def read_status(paths: RunPaths) -> dict[str, Any]:
    """status.json as a dict ({} when the run is being created)."""
    return read_json(paths.status) or {}


# -- which attempt this process writes for ----------------------------------------------------

_attempts: dict[str, int] = {}
# As ``fence``: write whatever attempt the run is at (whoever creates a run, or numbers a new
# attempt under its claim). Attempts count from 1.
NO_FENCE = 0


def _key(paths: RunPaths) -> str:
    return os.path.realpath(paths.root)


def hold_attempt(paths: RunPaths, attempt: int | None) -> None:
    """From now on this process writes to the run as ``attempt`` (None: as no attempt)."""
    with _WRITE_LOCK:
        if attempt is None:
            _attempts.pop(_key(paths), None)
        else:
            _attempts[_key(paths)] = int(attempt)


def held_attempt(paths: RunPaths) -> int | None:
    """The attempt of the run this process writes for, if it started or trains one."""
    return _attempts.get(_key(paths))


def attempt_of(status: Mapping[str, Any]) -> int | None:
    """The attempt a status records (None for a run from before attempts were numbered)."""
    value = status.get("attempt")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_fence(paths: RunPaths) -> None:
    """Raise StaleAttempt if the run has moved on to another attempt than the one this process
    holds, RunFolderGone if its folder was deleted; for writers of files other than
    status.json (metrics, results, exit record) to call before they write."""
    mine = held_attempt(paths)
    if not paths.root.is_dir():
        raise RunFolderGone(paths)
    if mine is None:
        return
    current = attempt_of(read_status(paths))
    if current is not None and current != mine:
        raise StaleAttempt(paths, mine, current)


# -- writing -------------------------------------------------------------------------------------


@dataclass
class StatusWrite:
    """What update_status did: the status as it now is, and whether the changes went in."""

    status: dict[str, Any]
    written: bool


def update_status(paths: RunPaths, changes: Mapping[str, Any], *, fence: int | None = None,
                  check: Callable[[dict[str, Any]], bool] | None = None) -> StatusWrite:
    """Merge ``changes`` into status.json and replace it atomically, unless the write is fenced
    off: the run is at another attempt than ``fence`` (default: the attempt this process
    holds), or ``check(current status)`` says no (it may also raise). Both are decided under
    the run's status lock, so nothing can be written between the check and the write.

    Raises RunFolderGone when the run's folder no longer exists: nothing is recreated.
    """
    attempt = fence if fence is not None else held_attempt(paths)
    with _status_lock(paths):
        status = read_status(paths)
        current = attempt_of(status)
        if attempt and current is not None and current != attempt:
            log.warning("run %s: dropped a status write from attempt %s (the run is at attempt "
                        "%s): %s", paths.run_id, attempt, current, _describe(changes))
            return StatusWrite(status, False)
        if check is not None and not check(status):
            return StatusWrite(status, False)
        for key, value in changes.items():
            status[key] = value.value if isinstance(value, Enum) else value
        status[SCHEMA_KEY] = STATUS_SCHEMA
        status["updated"] = now()
        try:
            atomic_write_json(paths.status, status)
        except FileNotFoundError:
            if not paths.root.is_dir():
                raise RunFolderGone(paths) from None
            raise
    return StatusWrite(status, True)


def write_status(paths: RunPaths, *, fence: int | None = None, **changes: Any) -> dict[str, Any]:
    """Merge changes into status.json (update_status); returns the status as it now is, which
    is the old one when the write was fenced off."""
    return update_status(paths, changes, fence=fence).status


def _describe(changes: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in changes.items() if k in ("state", "reason", "attempt", "phase")}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or ", ".join(sorted(changes))[:200]


@contextmanager
def _status_lock(paths: RunPaths) -> Iterator[None]:
    """Hold the run's status lock (threads of this process first, then processes). The lock
    file names its holder (host, pid, process start), so one left by a writer that died on
    this machine is broken at once; another machine's, after LOCK_STALE_S."""
    lock = paths.status_lock
    with _WRITE_LOCK:
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                _wait_or_break(lock)
                continue
            except FileNotFoundError:
                if not paths.root.is_dir():
                    raise RunFolderGone(paths) from None
                raise
            try:
                os.write(fd, _holder().encode())
            finally:
                os.close(fd)
            break
        try:
            yield
        finally:
            try:
                lock.unlink()
            except FileNotFoundError:
                pass


_holders: dict[int, str] = {}


def _holder() -> str:
    """Who holds a status lock: this process, named as core.processes names a process (per
    pid: a forked child is another holder)."""
    pid = os.getpid()
    if pid not in _holders:
        _holders[pid] = json.dumps(process_identity(pid))
    return _holders[pid]


def _wait_or_break(lock: Path) -> None:
    """Another writer holds the lock: wait a moment, or break it if its holder is gone."""
    try:
        judged = lock.stat()
        text = lock.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    try:
        holder = json.loads(text) if text else {}
    except ValueError:
        holder = {}
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        # Ours, though no thread of ours holds it (they all wait for _WRITE_LOCK first): left
        # by a write that died in this process.
        stale = True
    else:
        alive = process_alive(holder) if holder.get("pid") else None
        # Another machine's (or a nameless) lock: by its age, or, for a time in the future
        # (a clock ahead), by whether it has changed for LOCK_STALE_S of this process's clock.
        stale = (not alive) if alive is not None else \
            staleness(f"lock:{lock}:{judged.st_ino}", judged.st_mtime) >= LOCK_STALE_S
    if not stale:
        time.sleep(_LOCK_RETRY_S)
        return
    # Renamed aside and checked there, so a fresh lock taken meanwhile is never deleted.
    aside = temporary_for(lock)
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return
    try:
        if aside.stat().st_ino != judged.st_ino:
            try:
                os.link(aside, lock)  # not the one judged stale: give it back
            except FileExistsError:
                pass
        else:
            log.info("broke a status lock its writer left (%s)", holder or "no holder")
    finally:
        aside.unlink(missing_ok=True)


def touch_heartbeat(paths: RunPaths) -> None:
    """Mark the job alive. Never creates the run's folder: if it is gone, FileNotFoundError.
    Never touches what a symbolic link in its place points to (only the link itself)."""
    path: Path = paths.heartbeat
    try:
        os.utime(path, follow_symlinks=False)
    except FileNotFoundError:
        with open_for_append(path) as fh:
            fh.write(f"{now()}\n".encode())


def heartbeat_age(paths: RunPaths) -> float | None:
    """Seconds since the job last touched its heartbeat; None if it never did. A heartbeat in
    the future (the job's clock, or its file server's, runs ahead) is judged by change instead:
    the seconds this process has seen it unchanged (core.clock)."""
    try:
        mtime = paths.heartbeat.stat().st_mtime
    except FileNotFoundError:
        return None
    return staleness(f"heartbeat:{os.path.realpath(paths.heartbeat)}", mtime)
