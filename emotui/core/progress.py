"""A run's position as a reader shows it: elapsed time that counts up and an ETA that counts down.

The job refreshes status.json's position every couple of seconds (``elapsed_s`` and ``eta_s`` as
measured at ``position_time``, a unix time). Between two refreshes a reader moves both on by
the time since the measurement, so a display ticks every second without the job writing that
often. The CLI and the TUI both read the position through here, and format durations alike.
"""

from __future__ import annotations

from typing import Any, Mapping

from emotui.core.lifecycle import RunState, state_of


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _since_measured(status: Mapping[str, Any], now: float) -> float:
    """Seconds from the job's last position measurement to ``now`` (0 without one)."""
    measured = _number(status.get("position_time"))
    return max(0.0, now - measured) if measured is not None else 0.0


def _running(status: Mapping[str, Any]) -> bool:
    return state_of(status) is RunState.RUNNING


def live_elapsed(status: Mapping[str, Any], now: float) -> float | None:
    """Wall seconds this attempt has run, as of ``now``; None when the status cannot tell.

    A running run counts up from ``elapsed_s``; a stopped one keeps its last measurement. A
    status written before the job measured anything falls back to started/ended.
    """
    elapsed = _number(status.get("elapsed_s"))
    if elapsed is not None:
        return elapsed + _since_measured(status, now) if _running(status) else elapsed
    started = _number(status.get("started"))
    if started is None:
        return None
    ended = _number(status.get("ended"))
    if ended is not None and not _running(status):
        return max(0.0, ended - started)
    return max(0.0, now - started) if _running(status) else None


def live_eta(status: Mapping[str, Any], now: float) -> float | None:
    """Seconds left as of ``now``: ``eta_s`` counted down since it was measured, never below 0.
    None unless the run is running and the job has an estimate."""
    eta = _number(status.get("eta_s"))
    if eta is None or not _running(status):
        return None
    return max(0.0, eta - _since_measured(status, now))


def format_duration(seconds: float | None, missing: str = "-") -> str:
    """42s, 4m12s, 1h05m, 2d03h: at most two units, never wider than six characters below
    100 days. ``missing`` stands for None."""
    if seconds is None:
        return missing
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
