"""The detail screen's plots: three in a grid on a tall terminal, one at a time on a short one.

At 80x24 a 2x2 grid leaves each plot three rows, where plotext's legend covers the accuracy
line; there the grid shows one plot over the whole area and ``p`` turns to the next.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid

from emotui.tui.widgets.plots import MetricPlot, MetricSeries, draw

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

    def compose(self) -> ComposeResult:
        for plot_id, _, _ in PLOTS:
            yield MetricPlot(id=plot_id)

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
        for index, plot in enumerate(self.query(MetricPlot)):
            plot.set_class(index == self.shown, "-shown")

    def next_plot(self) -> None:
        """The next plot, when shown one at a time."""
        self.shown = (self.shown + 1) % len(PLOTS)
        self._show()
        self.paint(self.series)

    def paint(self, series: MetricSeries) -> None:
        self.series = series
        curves = {"plot-loss": [("loss", series.loss)],
                  "plot-eval": [("accuracy", series.eval_acc), ("macro-F1", series.eval_f1)],
                  "plot-lr": [("lr", series.lr)]}
        for index, (plot_id, title, xlabel) in enumerate(PLOTS):
            if self.single:  # say there are more and how to see them
                title += f"  ({index + 1}/{len(PLOTS)}, p: next plot)"
            draw(self.query_one(f"#{plot_id}", MetricPlot), title, xlabel, curves[plot_id],
                 percent=plot_id == "plot-eval")
