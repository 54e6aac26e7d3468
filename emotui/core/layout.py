"""Where a line of values breaks on a narrow screen: between values, never inside one.

A terminal (or Rich) wraps at any space, so "ETA 1m20s" or "best eval 81.40%" could end one
line and start the next. The CLI's live line and `show`, and the TUI's detail summary, pack
their values with this one rule instead.
"""

from __future__ import annotations

from collections.abc import Sequence


def line_starts(lengths: Sequence[int], width: int, sep: int) -> list[bool]:
    """For values of these display lengths joined by a separator of length ``sep``: whether
    each value starts a new line so that lines stay within ``width`` (a value longer than the
    line gets one of its own). ``width`` <= 0: everything on one line."""
    starts, used = [], 0
    for length in lengths:
        start = bool(used) and width > 0 and used + sep + length > width
        starts.append(start)
        used = length if start or not used else used + sep + length
    return starts


def pack_plain(values: Sequence[str], width: int, sep: str) -> list[str]:
    """Plain-text values joined by ``sep`` into lines of at most ``width`` (see line_starts);
    a line that continues ends with the separator's non-space part ("a," for ", ")."""
    lines: list[list[str]] = []
    for value, start in zip(values, line_starts([len(v) for v in values], width, len(sep))):
        if start or not lines:
            lines.append([value])
        else:
            lines[-1].append(value)
    tail = sep.rstrip()
    return [sep.join(line) + (tail if i < len(lines) - 1 else "") for i, line in enumerate(lines)]
