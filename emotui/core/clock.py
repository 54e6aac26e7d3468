"""How old a time written by another process is, when its clock may not be ours.

Heartbeats, claims, status locks and controller records are judged stale by their age: now minus
the time a writer put in them (a file's mtime, an ``updated`` field). A time in the future (a
node whose clock runs ahead, an NFS server's, a file touched into the future) says nothing about
how old it is, so it is never taken as fresh for the skew plus the stale window: ``age_of``
treats it as unknown, and ``quiet_for`` then judges it by change instead, as the seconds of this
process's own clock for which it has seen that time unchanged (a live writer changes it every few
seconds, whatever its clock says). A process that looks once (``emotui ls``) sees such a time as
just seen; one that watches (a resume waiting for a claim, the TUI, a sweep controller) sees it
go quiet. Where a process can be named (host, pid, boot id: core.processes) that decides first.
"""

from __future__ import annotations

import threading
import time

# A time this far ahead of ours is a clock that runs ahead, not a write that just happened (a
# fresh write from a clock a little ahead, or rounded up by a filesystem, lies within it).
FUTURE_SLACK_S = 5.0

# This process's own clock, which no other machine sets (a test may wind it on).
_monotonic = time.monotonic
# key -> (the time last seen, this process's monotonic clock when it was first seen so)
_seen: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()


def age_of(stamp: float, now: float | None = None) -> float | None:
    """Seconds since ``stamp`` by this machine's clock (0 for a time just ahead of ours); None
    when ``stamp`` lies more than FUTURE_SLACK_S in the future: its age is unknown."""
    now = time.time() if now is None else now
    age = now - stamp
    if age < -FUTURE_SLACK_S:
        return None
    return max(0.0, age)


def ahead_by(stamp: float, now: float | None = None) -> float | None:
    """How far ``stamp`` lies in the future when its age is unknown (age_of); else None."""
    now = time.time() if now is None else now
    return stamp - now if age_of(stamp, now) is None else None


def quiet_for(key: str, stamp: float) -> float:
    """Seconds of this process's clock since it first saw ``stamp`` for ``key`` (0 the first
    time, and again whenever the time changes)."""
    now = _monotonic()
    with _lock:
        seen = _seen.get(key)
        if seen is None or seen[0] != stamp:
            if len(_seen) > 10_000:  # a process that watches a large store for days
                _seen.clear()
            _seen[key] = (stamp, now)
            return 0.0
        return now - seen[1]


def staleness(key: str, stamp: float, now: float | None = None) -> float:
    """How long ``stamp`` has gone without a change: its age, or, for a time in the future,
    how long this process has seen it unchanged (quiet_for)."""
    age = age_of(stamp, now)
    if age is not None:
        return age
    return quiet_for(key, stamp)
