"""Values as a person reads them in the terminal: 92.85%, 22.7M, 91.6 MB, 4m12s, 2e-05.

Short enough that a table cell never has to wrap them. Scripts get the raw values instead
(fractions, counts, bytes, seconds: emotui.cli.tables and --json).
"""

from __future__ import annotations

from typing import Any

from emotui.core.progress import format_duration
from emotui.core.units import MISSING, count, percent, plain, plural, size  # shared with the TUI

__all__ = ["MISSING", "count", "duration", "number", "percent", "plain", "plural", "size"]


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
