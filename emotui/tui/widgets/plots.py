"""Metric plots (textual-plotext) fed from metrics.jsonl events."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from rich.text import Text
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from emotui.core import events as core_events
from emotui.core.events import split_of
from emotui.core.units import count
from emotui.core.vocabulary import Event, EventField

# The splits the loop tells apart without parsing a line (core.events.split_of).
_TRAIN, _SYSTEM = Event.TRAIN.encode(), Event.SYSTEM.encode()


# Training points kept per curve: a plot is at most a few hundred braille dots wide, so more
# would cost drawing time and show nothing more. Every evaluation is kept.
TRAIN_POINTS = 1000
# System samples kept for the telemetry strip's sparklines (the latest ones).
SYSTEM_SAMPLES = 300


class MetricSeries:
    """The curves of one run, grown event by event (a torn or foreign event is skipped).

    Training events are thinned as they come: every ``stride``-th is kept, and when more than
    twice ``train_points`` are kept every other one goes and the stride doubles; the latest
    training event is always the curve's last point. Whatever the file's size, a series holds
    about ``2 * train_points`` training points, every evaluation and the latest system samples.
    ``add_lines`` takes raw metrics.jsonl lines and parses only those it keeps."""

    def __init__(self, train_points: int = TRAIN_POINTS) -> None:
        self.train_points = train_points
        self.clear()

    def clear(self) -> None:
        self.loss: list[tuple[float, float]] = []
        self.lr: list[tuple[float, float]] = []
        self.eval_acc: list[tuple[float, float]] = []
        self.eval_f1: list[tuple[float, float]] = []
        self.last_train: dict[str, Any] = {}
        # The job's system samples (split "system": CPU, memory, GPU when there is one).
        self.system: list[dict[str, Any]] = []
        self._train: list[tuple[Any, Any, Any]] = []  # (step, loss, lr) kept
        self._tail: tuple[Any, Any, Any] | None = None  # the latest, when not kept
        self._stride = 1
        self._seen = 0

    def add(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._add_event(event)
        self._publish()

    def add_lines(self, lines: list[bytes]) -> None:
        """metrics.jsonl lines: a training line is parsed only when it is kept (or is the
        latest), a system line only when it is among the latest."""
        last_train: bytes | None = None
        system: list[bytes] = []
        for line in lines:
            split = split_of(line)
            if split == _TRAIN:
                self._seen += 1
                last_train = line
                if (self._seen - 1) % self._stride == 0:
                    event = core_events.parse_line(line)
                    if event is not None and event.get("step") is not None:
                        self._keep_train(event)
                        last_train = None
            elif split == _SYSTEM:
                system.append(line)
            elif line.strip():
                event = core_events.parse_line(line)
                if event is not None:
                    if event.get(EventField.SPLIT) == Event.TRAIN:
                        self._seen += 1
                    self._add_event(event, counted=True)
        if last_train is not None:
            event = core_events.parse_line(last_train)
            if event is not None and event.get("step") is not None:
                self.last_train = event
                self._tail = (event["step"], event.get(EventField.LOSS),
                              event.get("learning_rate"))
        for line in system[-SYSTEM_SAMPLES:]:
            event = core_events.parse_line(line)
            if event is not None and event.get("step") is not None:
                self.system.append(event)
        self._publish()

    def _add_event(self, event: dict[str, Any], counted: bool = False) -> None:
        split, step = event.get(EventField.SPLIT), event.get("step")
        if step is None:
            return
        if split == Event.TRAIN:
            if not counted:
                self._seen += 1
            if (self._seen - 1) % self._stride == 0:
                self._keep_train(event)
            else:
                self.last_train = event
                self._tail = (step, event.get(EventField.LOSS), event.get("learning_rate"))
        elif split == Event.SYSTEM:
            self.system.append(event)
        elif split == Event.EVAL:
            epoch = event.get("epoch") or step
            if event.get(EventField.ACCURACY) is not None:
                self.eval_acc.append((epoch, event[EventField.ACCURACY]))
            if event.get(EventField.MACRO_F1) is not None:
                self.eval_f1.append((epoch, event[EventField.MACRO_F1]))

    def _keep_train(self, event: dict[str, Any]) -> None:
        self.last_train = event
        self._tail = None
        self._train.append((event["step"], event.get(EventField.LOSS), event.get("learning_rate")))
        if len(self._train) > 2 * self.train_points:
            self._train = self._train[::2]
            self._stride *= 2

    def _publish(self) -> None:
        points = self._train + ([self._tail] if self._tail is not None else [])
        self.loss = [(step, loss) for step, loss, _ in points if loss is not None]
        self.lr = [(step, lr) for step, _, lr in points if lr is not None]
        if len(self.system) > SYSTEM_SAMPLES:
            del self.system[:-SYSTEM_SAMPLES]

    def snapshot(self) -> "MetricSeries":
        """A copy to hand to another thread (the curves as they are now)."""
        copy = MetricSeries.__new__(MetricSeries)
        copy.__dict__.update(self.__dict__)
        copy.eval_acc, copy.eval_f1 = list(self.eval_acc), list(self.eval_f1)
        copy.system, copy._train = list(self.system), list(self._train)
        copy.loss, copy.lr = list(self.loss), list(self.lr)
        return copy


# What a chart is built for: the plot's (width, height) and plotext theme name.
ChartKey = tuple[tuple[int, int], str]


@dataclass(frozen=True)
class Chart:
    """What one plot shows, built into text on any thread: each build draws on a plotext
    figure of its own, so a worker can build what the UI thread then only shows."""

    title: str
    xlabel: str
    series: tuple[tuple[str, list[tuple[float, float]]], ...]
    percent: bool = False

    def build(self, key: ChartKey) -> Text:
        (width, height), theme = key
        plt = Plot()
        configure(plt, self.title, self.xlabel, self.series, self.percent)
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plt.theme(theme)
        return Text.from_ansi(plt.build())


class MetricPlot(PlotextPlot):
    """A plot of one Chart, built once per change of its chart, size or theme: plotext draws
    in pure Python (about 50 ms for 2,000 points on a 2-core VM), and Textual asks for a render
    again whenever the plot is shown (a tab switch) or its screen repaints around it. A chart
    built elsewhere for the size and theme it is laid out with (``show(chart, built)``, the
    detail screen's worker) is shown as it is; any other is built here."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.chart: Chart | None = None
        # The size and theme of the last render, read by a worker to build the next chart
        # for: None until the plot has been laid out once.
        self.chart_key: ChartKey | None = None
        self._built: tuple[ChartKey, Text] | None = None

    def show(self, chart: Chart, built: tuple[ChartKey, Text] | None = None) -> None:
        """Show ``chart``; ``built``: it built already, for the key it names."""
        self.chart = chart
        self._built = built
        self.refresh()

    def render(self) -> Any:
        if self.chart is None:
            return super().render()
        key = ((self.size.width, self.size.height), self._get_plotext_theme_name(self.app.theme))
        self.chart_key = key
        if self._built is None or self._built[0] != key:
            self._built = (key, self.chart.build(key))
        return self._built[1]


def percent_ticks(low: float, high: float, most: int = 5) -> tuple[list[float], list[str]]:
    """Ticks for fractions shown as percentages (core.units' rule: 81.5%), at a round step."""
    span = max(high - low, 1e-4)
    step = next((s for s in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25)
                 if span / s <= most - 1), 0.5)
    first = math.ceil(low / step - 1e-9)
    ticks = [round(k * step, 6) for k in range(first, int(math.floor(high / step + 1e-9)) + 1)]
    digits = 1 if step < 0.01 else 0
    return ticks, [f"{100 * t:.{digits}f}%" for t in ticks]


def draw(widget: PlotextPlot, title: str, xlabel: str,
         series: list[tuple[str, list[tuple[float, float]]]], percent: bool = False) -> None:
    """Replace the widget's curves (each (label, points)) and repaint it (see configure)."""
    plt = widget.plt
    plt.clear_data()
    plt.clear_figure()
    configure(plt, title, xlabel, series, percent)
    widget.refresh()


def configure(plt: Plot, title: str, xlabel: str,
              series: Iterable[tuple[str, list[tuple[float, float]]]],
              percent: bool = False) -> None:
    """Set a cleared plotext figure to show the curves (each (label, points)). ``percent``: the
    y values are fractions, labelled as percentages, with room above them for the legend (drawn
    top left, where it would cover a rising accuracy curve)."""
    series = list(series)
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
    elif percent:
        ys = [y for _, points in series for _, y in points]
        low, high = min(ys), max(ys)
        span = max(high - low, 0.01)
        # The legend's lines sit in the headroom, above every point.
        top = high + 0.6 * span
        plt.ylim(low - 0.05 * span, top)
        plt.yticks(*percent_ticks(low - 0.05 * span, top))


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
    """Points per series (x on a log scale, y fractions labelled as percentages) with the
    Pareto front drawn as a line through its points; replaces what the widget showed."""
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
    plt.yticks(*percent_ticks(min(ys) - margin, max(ys) + margin))
    ticks, labels = _decade_ticks(*x_range)
    if len(ticks) < 2:
        # Costs within one decade (equal parameter counts, say) hold at most one power of ten:
        # the points' own counts label the axis instead.
        ticks = sorted(set(xs))[:4]
        labels = [count(x) for x in ticks]
    plt.xticks(ticks, labels)
    if len(front) > 1:  # first, so the points are drawn over it
        plt.plot([x for x, _ in front], [y for _, y in front], label="Pareto front",
                 marker="braille")
    for label, points in series:
        plt.scatter([x for x, _ in points], [y for _, y in points], label=label, marker="●")
    if len(front) == 1:  # one point beats every other: no line to draw, a mark instead
        plt.scatter([front[0][0]], [front[0][1]], label="Pareto front", marker="◆")
    widget.refresh()
