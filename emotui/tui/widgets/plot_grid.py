"""The detail screen's plots: three in a grid on a tall terminal, one at a time on a short one.

At 80x24 a 2x2 grid leaves each plot three rows, where plotext's legend covers the accuracy
line; there the grid shows one plot over the whole area and ``p`` turns to the next.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Grid

from emotui.tui.widgets.plots import Chart, ChartKey, MetricPlot, MetricSeries

# Below this many terminal rows the plots are shown one at a time.
SINGLE_BELOW = 32
# (widget id, title, x label): the order ``p`` cycles through.
PLOTS = (("plot-loss", "training loss", "step"),
         ("plot-eval", "eval accuracy / macro-F1", "epoch"),
         ("plot-lr", "learning rate", "step"))


class PlotGrid(Grid):
    """The run's loss, eval and learning-rate plots; ``single`` shows only ``shown``'s."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shown = 0  # index into PLOTS of the plot shown alone
        self.series = MetricSeries()
        # By id, for a worker's prebuild() as well: no DOM query off the UI thread.
        self._plots = {plot_id: MetricPlot(id=plot_id) for plot_id, _, _ in PLOTS}

    def compose(self) -> ComposeResult:
        yield from self._plots.values()

    @property
    def single(self) -> bool:
        return self.has_class("-single")

    def on_mount(self) -> None:
        self._fit(self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        # The terminal's height decides (the grid's own follows the layout it is given).
        self._fit(self.app.size.height)

    def _fit(self, rows: int) -> None:
        single = 0 < rows < SINGLE_BELOW
        if single != self.single:
            self.set_class(single, "-single")
            self._show()
            self.paint(self.series)

    def _show(self) -> None:
        for index, plot in enumerate(self._plots.values()):
            plot.set_class(index == self.shown, "-shown")

    def next_plot(self) -> None:
        """The next plot, when shown one at a time."""
        self.shown = (self.shown + 1) % len(PLOTS)
        self._show()
        self.paint(self.series)

    def charts(self, series: MetricSeries) -> dict[str, Chart]:
        """Each plot's chart of ``series`` (any thread: reads only whether one is shown)."""
        curves = {"plot-loss": [("loss", series.loss)],
                  "plot-eval": [("accuracy", series.eval_acc), ("macro-F1", series.eval_f1)],
                  "plot-lr": [("lr", series.lr)]}
        single = self.single
        charts = {}
        for index, (plot_id, title, xlabel) in enumerate(PLOTS):
            if single:  # say there are more and how to see them
                title += f"  ({index + 1}/{len(PLOTS)}, p: next plot)"
            charts[plot_id] = Chart(title, xlabel, tuple(curves[plot_id]),
                                    percent=plot_id == "plot-eval")
        return charts

    def prebuild(self, series: MetricSeries) -> dict[str, tuple[ChartKey, Text]]:
        """(On a worker's thread.) Each plot's chart of ``series`` built for the size and theme
        it was last shown with, for paint(): the UI thread then only shows them. A plot never
        shown yet, or shown since at another size, is built when it renders."""
        built = {}
        for plot_id, chart in self.charts(series).items():
            key = self._plots[plot_id].chart_key
            if key is not None and min(key[0]) > 0:
                built[plot_id] = (key, chart.build(key))
        return built

    def paint(self, series: MetricSeries,
              built: dict[str, tuple[ChartKey, Text]] | None = None) -> None:
        """Show ``series``; ``built``: its charts as prebuild() made them."""
        self.series = series
        for plot_id, chart in self.charts(series).items():
            self._plots[plot_id].show(chart, (built or {}).get(plot_id))
