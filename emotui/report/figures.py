"""The report's figures, drawn with matplotlib as SVG.

matplotlib because it is maintained, writes vector SVG that Typst and HTML embed as they are
(text as paths: no font needed where the figure is shown), and has log axes and annotations.
It is imported here and in cost_figure.py only, inside the functions: `emotui --help` and the TUI
never load it.
SVG ids are salted per figure (several figures share one HTML page) and the file carries no
date, so the same runs draw the same bytes.
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

from emotui.core.confusion import WHOLE_MATRIX_MAX
from emotui.report.labels import method_label, method_order

WIDTH_IN, HEIGHT_IN = 6.4, 3.8


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


def fixed_size_svg(fig: Any, salt: str) -> str:
    """The figure at exactly its size: no tight bounding box, so no label can grow it."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", dpi=72, metadata={"Date": None, "Creator": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def _cap_at_100(ax: Any) -> None:
    """No axis room above 100% accuracy (matplotlib pads the limits symmetrically)."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, min(high, 101.0))


def eval_curves(series: list[tuple[str | None, str, list[tuple[float, float]]]], *,
                name: str) -> str:
    """Validation accuracy per evaluation: one line per run, coloured by method; the legend
    above the axes (never on a curve), the figure always the same size."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=72, layout="constrained")
    colors = method_colors([m for m, _, _ in series])
    handles: dict[Any, Any] = {}
    xs_all: list[float] = []
    for method, _run_id, points in series:
        if not points:
            continue
        xs, ys = zip(*points)
        xs_all += xs
        line = ax.plot(xs, [100 * y for y in ys], marker="o", ms=3, lw=1.4,
                       color=colors[method], alpha=0.85)[0]
        handles.setdefault(method, line)
    _cap_at_100(ax)
    if xs_all and all(float(x).is_integer() for x in xs_all):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs: 1, 2, 3
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(True, alpha=0.3)
    fig.legend(list(handles.values()), [method_label(m) for m in handles],
               loc="outside upper center", ncols=min(len(handles), 3), fontsize=8,
               frameon=False)
    return fixed_size_svg(fig, name)


# Panels three a row when every matrix has at most this many classes (cells stay legible).
SMALL_PANEL_CLASSES = 10


def _two_lines(title: str) -> str:
    """"LoRA (251202-101100-lora-0011)" over two lines: a panel's title never runs into the
    next panel's."""
    head, sep, tail = title.rpartition(" (")  # the run id's: a label may hold "(...)" too
    return f"{head}\n({tail}" if sep else title


def _heatmap(ax: Any, title: str, matrix: list[list[int]]) -> None:
    """A matrix of many classes as a bitmap without text: a label or a vector shape per cell
    of a thousand classes is a million of them (minutes and gigabytes to draw, nothing to
    read); the report lists the most confused pairs beside it (report/tables.py)."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1
    n = len(counts)
    ax.imshow(counts / totals, cmap="Blues", vmin=0, vmax=1, extent=(0, n, n, 0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(_two_lines(title), fontsize=8)
    ax.set_xlabel(f"predicted ({n} classes)", fontsize=7)
    ax.set_ylabel("true", fontsize=7)


def confusion_matrices(panels: list[tuple[str, list[list[int]], list[str]]], *,
                       name: str) -> str:
    """Row-normalised confusion matrices (true label down, predicted across), one per panel.

    Up to four panels two a row; more, of a few classes each, three a row and smaller, so that
    every method's matrix (seven methods) fits on one page with its heading."""
    plt = _pyplot()
    small = len(panels) > 4 and max(len(names) for _, _, names in panels) <= SMALL_PANEL_CLASSES
    cols = 3 if small else min(2, len(panels))
    side = 2.3 if small else 3.3  # inches: three panels are the text's width
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols, (side - 0.1) * rows),
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, matrix, names) in zip(axes.flat, panels):
        if len(names) > WHOLE_MATRIX_MAX:
            _heatmap(ax, title, matrix)
            continue
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
        ax.set_title(_two_lines(title), fontsize=7 if small else 8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    fig.tight_layout()
    return _svg(fig, name)
