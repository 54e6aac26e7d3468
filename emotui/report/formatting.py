"""How the report writes numbers: one place, so every format shows the same digits."""

from __future__ import annotations

from typing import Callable

from emotui.report.select import Stat

MISSING = "–"


def percent(value: float | None) -> str:
    """An accuracy as a percentage with two decimals: 0.9215 -> "92.15"."""
    return MISSING if value is None else f"{100 * value:.2f}"


def percent_stat(stat: Stat) -> str:
    """Mean ± sample std in percentage points ("92.15 ± 0.21"); the mean alone for one run."""
    if stat.mean is None:
        return MISSING
    if stat.std is None:
        return percent(stat.mean)
    return f"{percent(stat.mean)} ± {100 * stat.std:.2f}"


def _in_units(value: float | None, units: tuple[tuple[float, float, str], ...],
              smaller: Callable[[float], str]) -> str:
    """value in the first of units (from, scale, template) it reaches; smaller() below them."""
    if value is None:
        return MISSING
    for start, scale, template in units:
        if value >= start:
            return template.format(value / scale)
    return smaller(value)


def count(value: float | None) -> str:
    """Parameters: 124.65M, 890.1k, 15,366."""
    return _in_units(value, ((1e6, 1e6, "{:.2f}M"), (1e4, 1e3, "{:.1f}k")),
                     lambda v: f"{int(round(v)):,}")


def share(part: float | None, whole: float | None) -> str:
    if part is None or not whole:
        return ""
    ratio = 100 * part / whole
    return f"{ratio:.0f}%" if ratio >= 10 else f"{ratio:.2g}%"


def size(value: float | None) -> str:
    """Bytes in the largest unit that keeps a number above 1 (decimal units, as disks)."""
    return _in_units(value, ((1e9, 1e9, "{:.1f} GB"), (1e6, 1e6, "{:.1f} MB"),
                             (1e3, 1e3, "{:.1f} kB")), lambda v: f"{int(v)} B")


def seconds(value: float | None) -> str:
    return _in_units(value, ((3600, 3600, "{:.1f} h"), (100, 60, "{:.1f} min")),
                     lambda v: f"{v:.1f} s")


def hours(value: float | None) -> str:
    if value is None:
        return MISSING
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def rate(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.0f}"


def plain(value: float | None, digits: int = 4) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"
