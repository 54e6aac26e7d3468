"""Values as people read them, the same in the CLI and the TUI: 92.85%, 22.7M, 91.6 MB, 2e-05.

Sizes use decimal units, as disks and W&B do (an 80 GiB card reads 85.9 GB); one rule for
checkpoints and memory alike, so a number never changes between two screens. The report keeps
its own typography (emotui.report.formatting).
"""

from __future__ import annotations

from typing import Any

MISSING = "-"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def percent(value: Any) -> str:
    """An accuracy or F1 (a fraction) as a percentage: 0.9285 -> 92.85%."""
    if not _number(value):
        return MISSING if value is None else str(value)
    return f"{100 * float(value):.2f}%"


def plain(value: Any) -> str:
    """A setting's value as given: floats in their shortest form (2e-05, 0.03), others as text."""
    if isinstance(value, float):
        return f"{value:g}"
    return MISSING if value is None else str(value)


def count(value: Any) -> str:
    """Parameters, steps, tokens/s: 22.7M, 890.1k, 1.2B, 512."""
    if not _number(value):
        return MISSING if value is None else str(value)
    n = float(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{int(n)}"


def size(value: Any) -> str:
    """Bytes in decimal units, one decimal: 91.6 MB, 3.6 GB, 512 B."""
    if not _number(value):
        return MISSING if value is None else str(value)
    n = float(value)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def plural(n: int, word: str, many: str | None = None) -> str:
    """A count and its noun in agreement: "1 sweep", "3 sweeps", "1,200 runs"."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
