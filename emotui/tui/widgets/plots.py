"""Metric plots (textual-plotext) fed from metrics.jsonl events."""

from __future__ import annotations

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
