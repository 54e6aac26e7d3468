"""Values as a person reads them in the terminal: 92.85%, 22.7M, 91.6 MB, 4m12s, 2e-05.

Short enough that a table cell never has to wrap them. Scripts get the raw values instead
(fractions, counts, bytes, seconds: emotui.cli.tables and --json).
"""

from __future__ import annotations

from typing import Any

from emotui.core.progress import format_duration

MISSING = "-"
__all__ = ["MISSING", "count", "duration", "number", "percent", "size"]


def percent(value: Any) -> str:
    """An accuracy or F1 (a fraction) as a percentage: 0.9285 -> 92.85%."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return MISSING if value is None else str(value)
    return f"{100 * float(value):.2f}%"


def count(value: Any) -> str:
    """Parameters, steps: 22.7M, 890.1k, 1.2B, 512."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return MISSING if value is None else str(value)
    n = float(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{int(n)}"


def size(value: Any) -> str:
    """Bytes in decimal units, one decimal: 91.6 MB, 3.6 GB, 512 B."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return MISSING if value is None else str(value)
    n = float(value)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def duration(seconds: Any) -> str:
    """42s, 4m12s, 1h05m (emotui.core.progress, shared with the TUI and the run log)."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return MISSING if seconds is None else str(seconds)
    return format_duration(seconds, missing=MISSING)


def number(value: Any, digits: int = 1) -> str:
    """A plain measurement (samples/s): rounded; learning rates keep their own spelling."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != 0 and abs(value) < 0.01:
        return f"{value:g}"
    return f"{value:.{digits}f}"
