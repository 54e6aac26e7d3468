"""Metric plots (textual-plotext) fed from metrics.jsonl events."""

from __future__ import annotations

import math
from typing import Any

from textual_plotext import PlotextPlot


class MetricSeries:
    """The curves of one run, grown event by event (a torn or foreign event is skipped)."""

    def __init__(self) -> None:
        self.loss: list[tuple[float, float]] = []
        self.lr: list[tuple[float, float]] = []
        self.eval_acc: list[tuple[float, float]] = []
        self.eval_f1: list[tuple[float, float]] = []
        self.last_train: dict[str, Any] = {}
        # The job's system samples (split "system": CPU, memory, GPU when there is one).
        self.system: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.__init__()

    def add(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            split, step = event.get("split"), event.get("step")
            if step is None:
                continue
            if split == "train":
                self.last_train = event
                if event.get("loss") is not None:
                    self.loss.append((step, event["loss"]))
                if event.get("learning_rate") is not None:
                    self.lr.append((step, event["learning_rate"]))
            elif split == "system":
                self.system.append(event)
            elif split == "eval":
                epoch = event.get("epoch") or step
                if event.get("accuracy") is not None:
                    self.eval_acc.append((epoch, event["accuracy"]))
                if event.get("macro_f1") is not None:
                    self.eval_f1.append((epoch, event["macro_f1"]))


def draw(widget: PlotextPlot, title: str, xlabel: str,
         series: list[tuple[str, list[tuple[float, float]]]]) -> None:
    """Replace the widget's curves (each (label, points)) and repaint it."""
    plt = widget.plt
    plt.clear_data()
    plt.clear_figure()
    plt.title(title)
    plt.xlabel(xlabel)
    drawn = False
    for label, points in series:
        if not points:
            continue
        xs, ys = zip(*points)
        plt.plot(list(xs), list(ys), label=label, marker="braille")
        drawn = True
    if not drawn:
        plt.title(f"{title} (no data yet)")
    widget.refresh()


def _decade_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Powers of ten within [low, high] and their short names (10k, 1M) for a log axis."""
    names = {0: "", 3: "k", 6: "M", 9: "B", 12: "T"}
    ticks, labels = [], []
    for k in range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1):
        base = 3 * (k // 3) if k >= 0 else 0
        ticks.append(10.0 ** k)
        labels.append(f"{10 ** (k - base):g}{names.get(base, f'e{base}')}")
    return ticks, labels


def draw_pareto(widget: PlotextPlot, title: str, xlabel: str, ylabel: str,
                series: list[tuple[str, list[tuple[float, float]]]],
                front: list[tuple[float, float]]) -> None:
    """Points per series (x on a log scale) with the Pareto front drawn as a line through its
    points; replaces what the widget showed."""
    plt = widget.plt
    plt.clear_data()
    plt.clear_figure()
    plt.title(title)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)
    xs = [x for _, points in series for x, _ in points]
    if not xs:
        plt.title(f"{title} (no run has both yet)")
        widget.refresh()
        return
    # Room on the left for the legend (drawn top left, where the cheap and accurate points lie)
    # and a margin on the other sides, so no point sits on the frame.
    low, high = math.log10(min(xs)), math.log10(max(xs))
    span = max(high - low, 1.0)
    x_range = (10 ** (low - 0.35 * span), 10 ** (high + 0.08 * span))
    ys = [y for _, points in series for _, y in points]
    margin = max(max(ys) - min(ys), 0.01) * 0.08
    plt.xscale("log")
    plt.xlim(*(math.log10(x) for x in x_range))  # plotext takes a log axis' limits as log10
    plt.ylim(min(ys) - margin, max(ys) + margin)
    plt.xticks(*_decade_ticks(*x_range))
    if len(front) > 1:  # first, so the points are drawn over it
        plt.plot([x for x, _ in front], [y for _, y in front], label="Pareto front",
                 marker="braille")
    for label, points in series:
        plt.scatter([x for x, _ in points], [y for _, y in points], label=label, marker="●")
    if len(front) == 1:  # one point beats every other: no line to draw, a mark instead
        plt.scatter([front[0][0]], [front[0][1]], label="Pareto front", marker="◆")
    widget.refresh()
