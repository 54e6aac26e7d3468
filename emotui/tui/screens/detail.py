"""One run: live plots, state, throughput and ETA, logs, config and (when done) results."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Log, Static, TabbedContent, TabPane
from textual.worker import Worker, get_current_worker

from emotui.core.events import MetricsReader
from emotui.core.lifecycle import CANCELLABLE
from emotui.core.runstore import RunPaths
from emotui.core.vocabulary import ResultKey
from emotui.tui import control
from emotui.tui import formatting as fmt
from emotui.tui.commands import PaletteCommand
from emotui.tui.detail_format import summary_text
from emotui.tui.messages import (
    DetailLoaded,
    LogLinesArrived,
    MetricsArrived,
    ReportWritten,
    ResultsReady,
    RunControlled,
    wait_until_handled,
)
from emotui.tui.outcomes import control_outcome, notify_controlled, notify_report, report_outcome
from emotui.tui.results_view import ResultsView, results_view
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.sources.tail import TextTail
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.widgets.plot_grid import PlotGrid
from emotui.tui.widgets.plots import MetricSeries
from emotui.tui.widgets.telemetry import TelemetryStrip
from emotui.tui.worker_errors import RETRY_S, WorkerErrors

STREAMS = ("stdout", "stderr")
# Lines of each log kept and shown (the newest; the file holds the rest).
LOG_LINES = 20000
# While a large metrics file is read, how often the curves read so far are painted: each paint
# costs the worker its charts (about 150 ms for three, 2-core VM), time not spent reading. A
# 200 MB file is read in about 2 s, so it is painted at its first piece and at its end.
CATCH_UP_REPAINT_S = 3.0
# The metrics file is read this much at a time: a piece is ~5 ms of the worker's time (2-core
# VM), the most a key typed meanwhile waits for the interpreter (see INPUT_QUIET_S).
PIECE_BYTES = 2**20
# Before each piece of a large file and each building of the charts, the worker waits until
# this long after the latest typed key: its handling (~20 ms) and the frame after it have the
# interpreter to themselves. Short, so keys typed one after another slow the catch-up by a
# fraction, never stop it.
INPUT_QUIET_S = 0.06
# The four tab keys share one footer entry, so every action fits the footer.
TABS = Binding.Group("Tabs", compact=True)


class RunDetailScreen(WorkerErrors, Screen):
    """Follows one run's directory while shown; its worker stops when the screen closes."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", "tab('plots')", "Plots", group=TABS),
        Binding("2", "tab('logs')", "Logs", group=TABS),
        Binding("3", "tab('config')", "Config", group=TABS),
        Binding("4", "tab('results')", "Results", group=TABS),
        Binding("o", "switch_stream", "stdout/stderr"),
        Binding("slash", "search", "Search log"),
        Binding("N", "next_match", "Next match", show=False),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("r", "resume_run", "Resume"),
        Binding("e", "launch_from", "New from run"),
        # Shown in the plot's title where it applies (a short terminal), not in the footer.
        Binding("p", "next_plot", "Next plot", show=False),
    ]

    def __init__(self, run_id: str, poll_interval: float = 0.5):
        super().__init__()
        self.run_id = run_id
        self.poll_interval = poll_interval
        self.series = MetricSeries()
        self.stream = "stdout"
        self.log_lines: dict[str, list[str]] = {s: [] for s in STREAMS}
        self.row: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self._results_shown = False
        self._match_at = -1
        self._stop = threading.Event()

    @property
    def source(self):
        return self.app.source

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="detail-summary")
        with TabbedContent(id="detail-tabs", initial="plots"):
            with TabPane("Plots", id="plots"):
                yield PlotGrid(id="plot-grid")
                yield TelemetryStrip(id="telemetry")
            with TabPane("Logs", id="logs"):
                yield Log(id="log", highlight=False, max_lines=LOG_LINES)
                with Horizontal(id="log-bar"):
                    yield Input(placeholder="/ search the log", id="log-search", compact=True)
                    yield Static("stdout", id="log-stream")
            with TabPane("Config", id="config"):
                with VerticalScroll():
                    yield Static("", id="config-text")
            with TabPane("Results", id="results"):
                with VerticalScroll():
                    yield Static("Results appear when the run completes.", id="results-note")
                    yield DataTable(id="per-class", cursor_type="none", zebra_stripes=True)
                    yield Static("", id="pairs-title")
                    yield DataTable(id="confused-pairs", cursor_type="none", zebra_stripes=True)
                    yield Static("", id="confusion-title")
                    yield DataTable(id="confusion", cursor_type="none")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = self.run_id
        self.sub_title = "run"
        # Shown only for a matrix too large to show whole (tui/results_view.py).
        self.query_one("#pairs-title", Static).display = False
        self.query_one("#confused-pairs", DataTable).display = False
        self._grid = self.query_one(PlotGrid)  # for the worker too: no DOM query off this thread
        self._paint_plots()
        self.follow_run()
        # Elapsed counts up and the ETA down between the job's position refreshes.
        self.set_interval(1.0, self._paint_summary)

    def on_unmount(self) -> None:
        self._stop.set()

    def restart_failed(self, worker: Worker) -> float | None:
        """Following that raised starts again from the top (worker_errors reports the error)."""
        if worker.name != "follow-run" or self._stop.is_set():
            return None
        self.set_timer(RETRY_S, self._follow_again)
        return RETRY_S

    def _follow_again(self) -> None:
        # The new worker reads the files from their start: what it repaints replaces what the
        # failed one had shown.
        self.series = MetricSeries()
        self.log_lines = {s: [] for s in STREAMS}
        self.query_one(Log).clear()
        self._match_at = -1
        self.follow_run()

    # --- following the run directory (one thread worker, three byte-offset readers) -----------

    @work(thread=True, name="follow-run", group="detail", exclusive=True, exit_on_error=False)
    def follow_run(self) -> None:
        """Reads the run's files off the UI thread: its metrics a piece at a time into thinned
        curves (a file of hundreds of MB is never parsed whole, nor posted), its logs from
        their end; the screen is sent a copy of the curves, never the events."""
        worker = get_current_worker()
        detail = self.source.detail(self.run_id)
        self.post_message(DetailLoaded(detail))
        if detail.results.get(ResultKey.PER_CLASS):
            self.post_message(self._results_view(detail.results))
        series = MetricSeries()
        grid = self._grid

        def keys_first() -> bool:
            # Work the UI thread would share the interpreter with (a piece of the file, the
            # charts) waits until INPUT_QUIET_S after the latest typed key. False: closed.
            quiet = INPUT_QUIET_S - (time.monotonic() - self.app.input_at)
            return quiet <= 0 or not self._stop.wait(quiet)

        def post_curves() -> None:
            # The charts are built here, not on the UI thread, where keys would wait for them.
            if keys_first():
                snapshot = series.snapshot()
                self.post_message(MetricsArrived(self.run_id, snapshot,
                                                 grid.prebuild(snapshot)))

        reader = MetricsReader(detail.metrics_path) if detail.metrics_path else None
        if reader is None and detail.events:
            series.add(list(detail.events))
            post_curves()
        tails = {name: TextTail(path) for name, path in detail.log_paths.items()}
        # A new status, or a cancel asked for (the marker; status.json changes only once the
        # run has stopped), is repainted.
        status_seen = (detail.status.get("updated"), detail.row.get("cancel_requested"))
        results_seen = bool(detail.results.get(ResultKey.PER_CLASS))
        posted_at = 0.0

        def stopped() -> bool:
            return worker.is_cancelled or self._stop.is_set()

        while not stopped():
            news = catching_up = False
            if reader is not None:
                lines = reader.read_complete(PIECE_BYTES).splitlines()
                catching_up = reader.more
                if reader.restarted:
                    series.clear()
                if lines or reader.restarted:
                    series.add_lines(lines)
                    # Catching up on a large file: the curves so far, now and then.
                    if not catching_up or time.monotonic() - posted_at > CATCH_UP_REPAINT_S:
                        post_curves()
                        posted_at, news = time.monotonic(), True
            for name, tail in tails.items():
                lines = tail.poll()
                if lines:
                    self.post_message(LogLinesArrived(self.run_id, name, lines[-LOG_LINES:]))
                    news = True
            if news and not wait_until_handled(self, stopped):
                return
            if catching_up:
                if not keys_first():
                    return
                continue
            if self._stop.wait(self.poll_interval):
                return
            fresh = self.source.detail(self.run_id)
            seen = (fresh.status.get("updated"), fresh.row.get("cancel_requested"))
            if seen != status_seen or (fresh.results and not detail.results):
                status_seen, detail = seen, fresh
                self.post_message(DetailLoaded(fresh))
                if fresh.results.get(ResultKey.PER_CLASS) and not results_seen:
                    results_seen = True
                    self.post_message(self._results_view(fresh.results))

    def _results_view(self, results: dict[str, Any]) -> ResultsReady:
        """(On the worker's thread.) The Results tab's text and rows."""
        return ResultsReady(results_view(results))

    @on(DetailLoaded)
    def _paint_detail(self, message: DetailLoaded) -> None:
        detail = message.detail
        self.row = detail.row
        self.config = detail.config
        self._paint_summary()
        if detail.config_text:
            self.query_one("#config-text", Static).update(
                Syntax(detail.config_text, "yaml", theme="ansi_dark", background_color="default"))
        # Per-class results are laid out by the worker (ResultsReady), never here: a thousand
        # classes would hold the UI thread for seconds.
        if not detail.results.get(ResultKey.PER_CLASS) and not detail.metrics_path \
                and detail.results.get(ResultKey.TEST_ACCURACY) is not None:
            # A tracker's run: its summary's metrics, no per-class table or confusion matrix.
            r = detail.results
            tracker = "trackio" if detail.row.get("source") == "trackio" else "W&B"
            self.query_one("#results-note", Static).update(
                f"test accuracy {fmt.percent_sign(r.get(ResultKey.TEST_ACCURACY))} · "
                f"test macro-F1 {fmt.percent_sign(r.get(ResultKey.TEST_MACRO_F1))} · "
                f"eval accuracy {fmt.percent_sign(r.get(ResultKey.EVAL_ACCURACY))} "
                f"({tracker} summary; per-class "
                f"scores and the confusion matrix live in {tracker})")

    @on(MetricsArrived)
    def _paint_metrics(self, message: MetricsArrived) -> None:
        self.series = message.series
        self._grid.paint(self.series, message.charts)
        self._paint_summary()
        self.query_one(TelemetryStrip).show_samples(self.series.system)

    @on(LogLinesArrived)
    def _paint_log(self, message: LogLinesArrived) -> None:
        kept = self.log_lines[message.stream]
        kept.extend(message.lines)
        if len(kept) > LOG_LINES:  # what the Log widget shows; older lines are in the file
            del kept[:-LOG_LINES]
        if message.stream == self.stream:
            self.query_one(Log).write_lines(message.lines)

    # --- painting -----------------------------------------------------------------------------

    def _paint_summary(self) -> None:
        if not self.row:
            return
        summary = self.query_one("#detail-summary", Static)
        width = summary.content_region.width or self.app.size.width
        summary.update(summary_text(self.row, self.series, self.app.clock(), width))

    def _paint_plots(self) -> None:
        self._grid.paint(self.series)

    def action_next_plot(self) -> None:
        """On a short terminal (80x24) the plots are shown one at a time: the next one."""
        self._grid.next_plot()

    @on(ResultsReady)
    def _paint_results(self, message: ResultsReady) -> None:
        view: ResultsView = message.view
        self._results_shown = True
        self.query_one("#results-note", Static).update(view.note)
        per_class = self.query_one("#per-class", DataTable)
        per_class.clear(columns=True)
        per_class.add_columns("class", "precision", "recall", "F1", "support")
        per_class.add_rows(view.per_class)
        pairs = self.query_one("#confused-pairs", DataTable)
        pairs.clear(columns=True)
        pairs.display = bool(view.pairs)
        self.query_one("#pairs-title", Static).display = bool(view.pairs)
        if view.pairs:
            self.query_one("#pairs-title", Static).update(view.pairs_title)
            pairs.add_columns("true", "predicted as", "count", "of the true class")
            pairs.add_rows(view.pairs)
        confusion = self.query_one("#confusion", DataTable)
        confusion.clear(columns=True)
        self.query_one("#confusion-title", Static).update(view.confusion_title)
        confusion.add_columns("true \\ pred", *view.labels)  # whole names: "surprise" stays whole
        confusion.add_rows(view.confusion)

    # --- actions ------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Escape leaves the log search first, then the screen."""
        search = self.query_one("#log-search", Input)
        if search.has_focus:
            self.query_one(Log).focus()
        else:
            self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_switch_stream(self) -> None:
        self.stream = "stderr" if self.stream == "stdout" else "stdout"
        log = self.query_one(Log)
        log.clear()
        log.write_lines(self.log_lines[self.stream])
        self.query_one("#log-stream", Static).update(self.stream)
        self._match_at = -1

    def action_search(self) -> None:
        self.action_tab("logs")
        self.query_one("#log-search", Input).focus()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self) -> None:
        self.action_next_match()

    def action_next_match(self) -> None:
        needle = self.query_one("#log-search", Input).value.strip().lower()
        lines = self.log_lines[self.stream]
        if not needle:
            return
        hits = [i for i, line in enumerate(lines) if needle in line.lower()]
        if not hits:
            self.query_one("#log-stream", Static).update(f"{self.stream} · no match")
            return
        after = [i for i in hits if i > self._match_at]
        self._match_at = after[0] if after else hits[0]
        log = self.query_one(Log)
        log.auto_scroll = False
        log.scroll_to(y=self._match_at, animate=False)
        self.query_one("#log-stream", Static).update(
            f"{self.stream} · match {hits.index(self._match_at) + 1}/{len(hits)} "
            f"at line {self._match_at + 1}")

    # --- control actions (a thread worker each; RunControlled reports back) ---------------------

    def _controllable(self, allowed: bool) -> bool:
        """Whether the source allows the action (one of its capabilities) on this run."""
        if allowed and self.source.is_controllable(self.run_id):
            return True
        self.notify(self.source.capabilities.refusal
                    or "This run cannot be controlled from here (a W&B run is read-only).",
                    severity="warning")
        return False

    @work(thread=True, name="cancel-run", group="control", exit_on_error=False)
    def cancel_run(self, paths: RunPaths) -> None:
        self.post_message(control_outcome("Cancel", paths.run_id, lambda: control.cancel(paths)))

    @work(thread=True, name="resume-run", group="control", exit_on_error=False)
    def resume_run(self, paths: RunPaths) -> None:
        self.post_message(control_outcome("Resume", paths.run_id, lambda: control.resume(paths)))

    @on(RunControlled)
    def _run_controlled(self, message: RunControlled) -> None:
        notify_controlled(self, message)

    def action_cancel_run(self) -> None:
        if not self._controllable(self.source.capabilities.can_cancel):
            return
        if fmt.stopping(self.row) or self.row.get("status") not in CANCELLABLE:
            state = "stopping" if fmt.stopping(self.row) else self.row.get("status")
            self.notify(f"{self.run_id} is {state}; nothing to cancel.", title="Cancel")
            return
        paths = self.source.store.paths(self.run_id)

        def answered(yes: bool | None) -> None:
            if yes:
                self.cancel_run(paths)

        self.app.push_screen(ConfirmScreen(f"Cancel {self.run_id}? The job is stopped (its last "
                                           "checkpoint stays; r resumes it).", "Cancel run"),
                             answered)

    def action_resume_run(self) -> None:
        if fmt.stopping(self.row):
            self.notify(f"{self.run_id} is still stopping; resume it once it has stopped.",
                        title="Resume", severity="warning")
            return
        if self._controllable(self.source.capabilities.can_resume):
            self.resume_run(self.source.store.paths(self.run_id))

    def action_write_report(self) -> None:
        """`emotui report` of this run, as HTML in the export folder (palette only)."""
        if not self.source.is_controllable(self.run_id):
            self.notify("A report is written from local runs (a W&B run: compare it with "
                        "others, then r).", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        self.write_report(self.app.export_dir / f"report-{self.run_id}-{stamp}.html")

    @work(thread=True, name="write-report", group="report", exit_on_error=False)
    def write_report(self, path: Path) -> None:
        self.post_message(report_outcome(self.source.store, [self.run_id], path))

    @on(ReportWritten)
    def _report_written(self, message: ReportWritten) -> None:
        notify_report(self, message)

    def palette_commands(self) -> Iterator[PaletteCommand]:
        """The palette's names for this screen's actions."""
        rid, other = self.run_id, "stderr" if self.stream == "stdout" else "stdout"
        yield PaletteCommand(f"Cancel {rid}", "Stop the job; its last checkpoint stays (x)",
                             self.action_cancel_run, ("cancel_run",))
        yield PaletteCommand(f"Resume {rid}", "Start again from the last checkpoint (r)",
                             self.action_resume_run, ("resume_run",))
        yield PaletteCommand(f"New run from {rid}", "The launch form filled in with its config "
                             "(e)", self.action_launch_from, ("launch_from",))
        yield PaletteCommand(f"Report of {rid}", "emotui report, written as HTML to "
                             f"{self.app.export_dir}", self.action_write_report)
        yield PaletteCommand(f"Show {other}", f"The Logs tab shows the run's {other}.log (o)",
                             self._show_other_stream, ("switch_stream",))
        yield PaletteCommand("Search the log", "Find text in the log shown (/, then N for the "
                             "next match)", self.action_search, ("search",))

    def _show_other_stream(self) -> None:
        self.action_tab("logs")
        self.action_switch_stream()

    def action_launch_from(self) -> None:
        """The launch form filled in with this run's config."""
        # lazy: a screen loads when first opened (59 ms)
        from emotui.tui.screens.launch import LaunchScreen

        if not self.source.capabilities.can_launch:
            self.notify(self.source.capabilities.refusal
                        or "This source has no run store to launch into.", severity="warning")
        elif not self.config:
            self.notify(f"{self.run_id} has no readable config to start from (yet).",
                        severity="warning")
        else:
            self.app.push_screen(LaunchScreen.from_run(self.run_id, self.config,
                                                       self.row.get("backend")))
