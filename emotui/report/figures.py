"""The report's figures, drawn with matplotlib as SVG.

matplotlib because it is maintained, writes vector SVG that Typst and HTML embed as they are
(text as paths: no font needed where the figure is shown), and has log axes and annotations.
It is imported here only, inside the functions: `emotui --help` and the TUI never load it.
SVG ids are salted per figure (several figures share one HTML page) and the file carries no
date, so the same runs draw the same bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Sequence

from emotui.report.labels import method_label, method_order

WIDTH_IN, HEIGHT_IN = 6.4, 3.8


@dataclass
class Point:
    x: float
    y: float
    yerr: float | None
    method: str | None
    label: str  # annotation for points on the front
    collapsed: bool = False  # every run of the configuration collapsed: drawn as a cross


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def method_colors(methods: Sequence[str | None]) -> dict[str | None, Any]:
    """One colour per method, stable across figures (registry order, tab10)."""
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
    ordered = sorted(set(methods), key=lambda m: (method_order(m), str(m)))
    return {m: palette[i % len(palette)] for i, m in enumerate(ordered)}


def _svg(fig: Any, salt: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def _cap_at_100(ax: Any) -> None:
    """No axis room above 100% accuracy (matplotlib pads the limits symmetrically)."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, min(high, 101.0))


def accuracy_vs_cost(points: list[Point], front: list[int], *, xlabel: str, log_x: bool,
                     name: str) -> str:
    """Test accuracy (%, ± std over seeds) against a cost; the Pareto front joined and ringed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    colors = method_colors([p.method for p in points])
    seen: set[Any] = set()
    for p in points:
        label = method_label(p.method) if p.method not in seen else None
        seen.add(p.method)
        ax.errorbar(p.x, 100 * p.y, yerr=100 * p.yerr if p.yerr else None,
                    fmt="x" if p.collapsed else "o", color=colors[p.method], ms=6, capsize=3,
                    label=label, zorder=3)
    xs_all = [p.x for p in points]
    # A log axis only where the costs span a decade; below that its ticks say nothing.
    if log_x and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10:
        ax.set_xscale("log")
        xlabel += " (log scale)"
    if front:
        xs = [points[i].x for i in front]
        ys = [100 * points[i].y for i in front]
        ax.step(xs, ys, where="post", color="0.35", lw=1, ls="--", zorder=2,
                label="Pareto front")
        ax.scatter(xs, ys, s=170, facecolors="none", edgecolors="0.15", lw=1.2, zorder=4)
        fig.canvas.draw()  # final limits, so labels can lean away from the nearer edge
        to_axes = ax.transData + ax.transAxes.inverted()
        for i in front:
            point = (points[i].x, 100 * points[i].y)
            right_half = to_axes.transform(point)[0] > 0.55
            ax.annotate(points[i].label, point, textcoords="offset points",
                        xytext=(-9 if right_half else 9, -13), fontsize=7, color="0.2",
                        ha="right" if right_half else "left")
    _cap_at_100(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    return _svg(fig, name)


def eval_curves(series: list[tuple[str | None, str, list[tuple[float, float]]]], *,
                name: str) -> str:
    """Validation accuracy per evaluation: one line per run, coloured by method."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    colors = method_colors([m for m, _, _ in series])
    seen: set[Any] = set()
    for method, _run_id, points in series:
        if not points:
            continue
        label = method_label(method) if method not in seen else None
        seen.add(method)
        xs, ys = zip(*points)
        ax.plot(xs, [100 * y for y in ys], marker="o", ms=3, lw=1.4, color=colors[method],
                alpha=0.85, label=label)
    _cap_at_100(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    return _svg(fig, name)


def confusion_matrices(panels: list[tuple[str, list[list[int]], list[str]]], *,
                       name: str) -> str:
    """Row-normalised confusion matrices (true label down, predicted across), one per panel."""
    plt = _pyplot()
    cols = min(2, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, matrix, names) in zip(axes.flat, panels):
        totals = [sum(row) or 1 for row in matrix]
        shares = [[cell / total for cell in row] for row, total in zip(matrix, totals)]
        # pcolormesh, not imshow: cells as vector shapes (imshow embeds a bitmap).
        ax.pcolormesh(shares, cmap="Blues", vmin=0, vmax=1)
        ax.set_xlim(0, len(names))
        ax.set_ylim(len(names), 0)
        ax.set_aspect("equal")
        for r, row in enumerate(shares):
            for c, value in enumerate(row):
                ax.text(c + 0.5, r + 0.5, f"{100 * value:.0f}", ha="center", va="center",
                        fontsize=6, color="white" if value > 0.6 else "black")
        ticks = [i + 0.5 for i in range(len(names))]
        ax.set_xticks(ticks, names, rotation=45, ha="right", fontsize=6)
        ax.set_yticks(ticks, names, fontsize=6)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    fig.tight_layout()
    return _svg(fig, name)
