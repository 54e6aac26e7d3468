"""Accuracy against a cost (trainable parameters, training time): the report's Pareto figures.

Whatever the runs, the figure keeps one size (no label can widen it) and stays readable: the
legend sits above the axes, the points of the front carry numbers (the report's key table names
them) placed where they cover no other number, marker or the axes' edge, and an axis labels
only as many ticks as fit side by side. Each label is an SVG group with an id (``front-label-N``,
its line ``front-leader-N`` where it has one, ``xtick-label-N``, ``legend``, ``axes``), so a test
can measure the boxes in the file itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from emotui.report.figures import (
    HEIGHT_IN,
    WIDTH_IN,
    _cap_at_100,
    _pyplot,
    fixed_size_svg,
    method_colors,
)
from emotui.report.labels import method_label

# Drawn at the SVG's own resolution (72 px per inch), so the boxes measured while placing the
# labels are those of the file.
DPI = 72
MARKER_PT = 6
RING_AREA_PT2 = 170  # the ring around a point of the front (scatter's size: points squared)
LABEL_FONT_PT = 8
# Where a number may go, as (dx, dy) offsets in points from its point, nearest first.
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
CANDIDATE_OFFSETS = tuple((dx * r, dy * r) for r in (8, 13, 20, 30) for dx, dy in _DIRECTIONS)
# A number further out than this from its point, or nearer another point, gets a line to it.
LEADER_FROM_PT = 13


@dataclass
class Point:
    x: float
    y: float
    yerr: float | None
    method: str | None
    collapsed: bool = False  # every run of the configuration collapsed: drawn as a cross


def compact_number(value: float) -> str:
    """A tick label: 200, 1.5k, 30k, 2M (never 3×10⁴)."""
    magnitude = abs(value)
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def accuracy_vs_cost(points: list[Point], front: list[int], *, xlabel: str, log_x: bool,
                     name: str) -> str:
    """Test accuracy (%, ± std over seeds) against a cost; the Pareto front joined, ringed and
    numbered 1, 2, ... in ``front``'s order."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    from matplotlib.lines import Line2D

    colors = method_colors([p.method for p in points])
    for p in points:
        ax.errorbar(p.x, 100 * p.y, yerr=100 * p.yerr if p.yerr else None,
                    fmt="x" if p.collapsed else "o", color=colors[p.method], ms=MARKER_PT,
                    capsize=3, zorder=3)
    # One legend entry per method, in the registry's order (colors' order), as a dot.
    handles: dict[Any, Any] = {
        m: Line2D([], [], marker="o", ls="none", color=c, ms=MARKER_PT)
        for m, c in colors.items()}
    xs_all = [p.x for p in points]
    # A log axis only where the costs span a decade; below that its ticks say nothing.
    log = log_x and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10
    if log:
        ax.set_xscale("log")
        xlabel += " (log scale)"
    if front:
        xs = [points[i].x for i in front]
        ys = [100 * points[i].y for i in front]
        ax.step(xs, ys, where="post", color="0.35", lw=1, ls="--", zorder=2)
        handles["front"] = Line2D([], [], color="0.35", lw=1, ls="--")
        ax.scatter(xs, ys, s=RING_AREA_PT2, facecolors="none", edgecolors="0.15", lw=1.2,
                   zorder=4)
    ax.margins(x=0.08, y=0.12)  # room for the numbers of points at the edges
    _cap_at_100(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, which="major", alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: compact_number(v)))
    ax.patch.set_gid("axes")
    labels = [method_label(m) for m in handles if m != "front"]
    if "front" in handles:
        labels.append("Pareto front (numbered)")
    legend = fig.legend(list(handles.values()), labels, loc="outside upper center",
                        ncols=min(len(labels), 3), fontsize=8, frameon=False)
    legend.set_gid("legend")
    fig.canvas.draw()  # the final layout: limits, tick positions, the axes' box
    _fit_ticks(fig, ax, log)
    _number_front(fig, ax, points, front)
    for n, label in enumerate(_visible_ticklabels(ax), 1):
        label.set_gid(f"xtick-label-{n}")
    return fixed_size_svg(fig, name)


# -- ticks ---------------------------------------------------------------------------------------


def _visible_ticklabels(ax: Any) -> list[Any]:
    low, high = sorted(ax.get_xlim())
    return [t for t, x in zip(ax.xaxis.get_ticklabels(), ax.get_xticks())
            if t.get_text() and low <= x <= high]


def _ticks_overlap(fig: Any, ax: Any) -> bool:
    renderer = fig.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in _visible_ticklabels(ax)),
                   key=lambda b: b.x0)
    return any(a.x1 + 2 > b.x0 for a, b in zip(boxes, boxes[1:]))


def _fit_ticks(fig: Any, ax: Any, log: bool) -> None:
    """Label as many x ticks as fit without touching: on a log axis 1-1.5-2-3-5-7 or 1-2-5 per
    decade (a narrow axis), then each decade, then every other decade; on a linear axis fewer
    and fewer bins."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    if log:
        low, high = sorted(ax.get_xlim())
        decades = math.log10(high / low)
        steps = [LogLocator(base=10, subs=subs) for subs in
                 ((1.0, 1.5, 2.0, 3.0, 5.0, 7.0), (1.0, 2.0, 5.0), (1.0,))]
        # About three to eight labels: a wide axis starts at its decades.
        steps = steps[0 if decades <= 1.5 else 1 if decades < 2.5 else 2:]
        steps.append(LogLocator(base=100, subs=(1.0,)))
        ax.xaxis.set_minor_locator(LogLocator(base=10, subs="auto"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        steps = [MaxNLocator(nbins=n) for n in (7, 5, 4, 3, 2)]
    for locator in steps:
        ax.xaxis.set_major_locator(locator)
        fig.canvas.draw()
        if not _ticks_overlap(fig, ax):
            return


# -- the front's numbers -------------------------------------------------------------------------


def _number_front(fig: Any, ax: Any, points: list[Point], front: list[int]) -> None:
    """Number the front's points 1, 2, ...: each number at the first offset where it covers no
    marker, ring or number placed before, stays inside the axes and is nearer its own point than
    any other (else where it does least of that); a number set further out than the nearest
    offsets, or left nearer another point, gets a thin line to its own, so a dense front still
    reads one number per ring."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    inside = Bbox.from_extents(axes_box.x0 + 1, axes_box.y0 + 1, axes_box.x1 - 1,
                               axes_box.y1 - 1)
    scale = fig.dpi / 72  # points to pixels
    to_pixels = ax.transData.transform
    ring = math.sqrt(RING_AREA_PT2) / 2 * scale
    marker = MARKER_PT / 2 * scale + 1
    on_front = set(front)
    taken = []
    centres = [tuple(to_pixels((p.x, 100 * p.y))) for p in points]
    for i, (x, y) in enumerate(centres):
        radius = ring if i in on_front else marker
        taken.append(Bbox.from_extents(x - radius, y - radius, x + radius, y + radius))
    for number, i in enumerate(front, 1):
        point = (points[i].x, 100 * points[i].y)
        best: tuple[float, tuple[float, float], bool] | None = None
        for offset in CANDIDATE_OFFSETS:
            text = _number(ax, number, point, offset)
            box = text.get_window_extent(renderer)
            text.remove()
            area = box.width * box.height
            cost = sum(_overlap(box, other) for other in taken)
            cost += area - _overlap(box, inside)  # the part outside the axes
            # A number set far out gets a line to its point; a near one reads as the point's
            # it is nearest to, so one nearer another point costs as much as covering half of
            # something (and gets a line if nothing better is found).
            leader = max(map(abs, offset)) > LEADER_FROM_PT
            if not leader:
                nearest = _nearest(centres, box)
                leader = nearest != i and \
                    _distance(centres[nearest], box) < _distance(centres[i], box)
                cost += area / 2 if leader else 0
            if best is None or cost < best[0]:
                best = (cost, offset, leader)
            if cost == 0:
                break
        assert best is not None
        _, offset, leader = best
        text = _number(ax, number, point, offset, leader=leader)
        text.set_gid(f"front-label-{number}")
        if text.arrow_patch is not None:
            text.arrow_patch.set_gid(f"front-leader-{number}")
        taken.append(text.get_window_extent(renderer))


def _number(ax: Any, number: int, point: tuple[float, float], offset: tuple[float, float],
            leader: bool = False):
    dx, dy = offset
    # The line is drawn outside the number's own SVG group: the number's box stays the text's.
    arrow = dict(arrowstyle="-", color="0.45", lw=0.6, shrinkA=1, shrinkB=5) if leader else None
    return ax.annotate(
        str(number), point, textcoords="offset points", xytext=offset,
        ha="left" if dx > 0 else "right" if dx < 0 else "center",
        va="bottom" if dy > 0 else "top" if dy < 0 else "center",
        fontsize=LABEL_FONT_PT, fontweight="bold", color="0.15", zorder=5,
        arrowprops=arrow,
        annotation_clip=False, in_layout=False)  # the layout is the axes', never a number's


def _distance(centre: tuple[float, float], box: Any) -> float:
    """From a point to the nearest part of a box (0 inside it)."""
    x, y = centre
    dx = max(box.x0 - x, 0.0, x - box.x1)
    dy = max(box.y0 - y, 0.0, y - box.y1)
    return math.hypot(dx, dy)


def _nearest(centres: list[tuple[float, float]], box: Any) -> int:
    return min(range(len(centres)), key=lambda k: _distance(centres[k], box))


def _overlap(a: Any, b: Any) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0
