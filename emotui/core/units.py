"""Counts and byte sizes as people read them, the same in the CLI and the TUI: 22.7M, 91.6 MB.

Sizes use decimal units, as disks and W&B do (an 80 GiB card reads 85.9 GB); one rule for
checkpoints and memory alike, so a number never changes between two screens. The report keeps
its own typography (emotui.report.formatting).
"""

from __future__ import annotations

from typing import Any

MISSING = "-"


def count(value: Any) -> str:
    """Parameters, steps, tokens/s: 22.7M, 890.1k, 1.2B, 512."""
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
