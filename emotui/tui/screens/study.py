"""One study: its phases with progress, each method's trials, best so far, winner and test
result, the budget spent against the budget given, the ETA, its notes; a method's trials below.

Everything shown is what `emotui study status` reads (emotui.study.summary), read again by a
thread worker while the screen is shown. Enter opens a run, c compares a method's trials, r
writes (or finds) the study's report.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import get_current_worker

from emotui.core.errors import EmotuiError
from emotui.study.store import StudyStore
from emotui.study.summary import summarize_study, unreadable_reason
from emotui.tui import control, formatting as fmt
from emotui.tui import study_format as show
from emotui.tui.commands import PaletteCommand
from emotui.tui.messages import StudyRead, StudyReportReady, wait_until_handled
from emotui.tui.outcomes import deliver
from emotui.tui.screens.polling import PollingScreen
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.worker_errors import WorkerErrors


class StudyScreen(WorkerErrors, PollingScreen, Screen):
    """Follows one study's files while shown; its worker stops when the screen closes."""

    POLL_WORKER = "poll-study"
    POLL_METHOD = "poll_study"

    # On a short terminal the notes get fewer lines (they scroll), so trials stay in view.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        # Above the tables' own enter, so the footer shows it on either table.
        Binding("enter", "open", "Open run", priority=True),
        Binding("tab", "app.focus_next", "Next pane"),
        Binding("c", "compare_trials", "Compare trials"),
        Binding("r", "report", "Report"),
    ]

    def __init__(self, study_id: str, poll_interval: float = 2.0):
        super().__init__()
        self.study_id = study_id
        self.init_polling(poll_interval)
        self.summary: dict[str, Any] | None = None
        self.error: str | None = None
        self.method: str | None = None  # the method whose trials are listed

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the study…", id="study-head")
        yield DataTable(id="study-methods", cursor_type="row")
        yield Static("", id="study-trials-title", classes="status-line")
        yield DataTable(id="study-trials", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="study-notes-scroll"):
            yield Static("", id="study-notes")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"study {self.study_id}"
        self.sub_title = self.app.store_label
        methods = self.query_one("#study-methods", DataTable)
        trials = self.query_one("#study-trials", DataTable)
        for column in show.TRIAL_COLUMNS:
            trials.add_column(column, key=column)
        methods.focus()
        if self.app.source.store is None:
            self.query_one("#study-head", Static).update("This source has no run store.")
            return
        self.poll_study()

    # --- reading (a thread worker: the summary reads every trial's run directory) --------------

    @work(thread=True, name="poll-study", group="study", exclusive=True, exit_on_error=False)
    def poll_study(self) -> None:
        """`emotui study status`'s summary with each method's trials, posted when it changed
        (a study at rest posts nothing), each once the previous one is painted."""
        worker = get_current_worker()
        store = self.app.source.store

        def stopped() -> bool:
            return self.polling_stopped(worker)

        last: StudyRead | None = None
        while not stopped():
            began = time.monotonic()
            paths = None
            try:
                paths = StudyStore(store.root).find(self.study_id)
                read = StudyRead(self.study_id, summarize_study(paths, store, trials=True))
            except EmotuiError as exc:  # not there yet (just launched), or another version's
                read = StudyRead(self.study_id, error=str(exc))
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                read = StudyRead(self.study_id, error=unreadable_reason(paths, exc)
                                 if paths is not None else str(exc))
            took = time.monotonic() - began
            if last is None or (read.summary, read.error) != (last.summary, last.error):
                last = read
                self.post_message(read)
                if not wait_until_handled(self, stopped):
                    return
            self.sleep_after_read(took)

    # --- painting -----------------------------------------------------------------------------

    @on(StudyRead)
    def _read(self, message: StudyRead) -> None:
        self.error = message.error
        if message.summary is not None:
            self.summary = message.summary
        self.paint()

    def on_resize(self, event: events.Resize) -> None:
        self._paint_head()

    def paint(self) -> None:
        self._paint_head()
        if self.summary is None:
            return
        metric = self.summary["metric"]["name"]
        table = self.query_one("#study-methods", DataTable)
        if not table.columns:  # the best value's column is named for the study's metric
            for column in show.METHOD_COLUMNS:
                table.add_column(f"best {metric}" if column == "best" else column, key=column)
        _fill(table, [(m["method"], show.method_cells(m, metric))
                      for m in self.summary["methods"]])
        if self.method is None and self.summary["methods"]:
            self.method = self.summary["methods"][0]["method"]
        self._paint_trials()
        # A label the app was given for the store (tests: "runs") names it; else its path.
        root = self.app.source.store.root
        base = self.app.store_label if self.app.store_label != self.app.source.label \
            else str(root)
        self.query_one("#study-notes", Static).update(show.notes_text(self.summary, root, base))

    def _paint_head(self) -> None:
        head = self.query_one("#study-head", Static)
        width = max(20, (self.size.width or self.app.size.width) - 2)
        if self.summary is None:
            head.update(Text(self.error or "reading the study…",
                             style="bold red" if self.error else "dim"))
            return
        phases = show.phase_segments(self.summary)
        phases.append(fmt.progress_bar(show.study_progress(self.summary), width=10))
        text = fmt.pack(phases, width, "  ")
        text.append("\n")
        text.append_text(fmt.pack(show.head_segments(self.summary), width, " · "))
        text.append("\n")
        text.append_text(fmt.pack(show.about_segments(self.summary), width, " · "))
        if self.error:  # read before, not now (e.g. a study.json mid-replace on NFS)
            text.append(f"\n{self.error}", style="bold red")
        head.update(text)

    def _method(self) -> dict[str, Any] | None:
        if self.summary is None:
            return None
        return next((m for m in self.summary["methods"] if m["method"] == self.method), None)

    def _paint_trials(self) -> None:
        m = self._method()
        title = self.query_one("#study-trials-title", Static)
        table = self.query_one("#study-trials", DataTable)
        if m is None:
            _fill(table, [])
            title.update("")
            return
        metric = self.summary["metric"]["name"]
        winner = (m.get("winner") or {}).get("run_id")
        rows = show.trial_rows(m)
        _fill(table, [(f"{part}-{row.get('trial')}",
                       show.trial_cells(part, row, metric, winner)) for part, row in rows])
        settings = show.winner_settings(m)
        # One line (app.tcss): the winner's settings end in … where they do not fit.
        title.update(f"trials of {fmt.method_label(m['method'])}: search "
                     f"{m['search']['finished']}/{m['search']['planned'] or '?'} finished, "
                     f"confirm {m['confirm']['finished']}/{m['confirm']['planned']}"
                     + (f" · ★ winner{': ' + settings if settings else ''}" if winner else ""))

    @on(DataTable.RowHighlighted, "#study-methods")
    def _method_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key is not None and key != self.method:
            self.method = str(key)
            self._paint_trials()

    # --- actions ------------------------------------------------------------------------------

    def _run_at_cursor(self) -> str | None:
        """The run under the cursor: a trial's, or the method's best (its winner's, its
        exported run's)."""
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id == "study-trials":
            m = self._method()
            index = focused.cursor_row
            rows = show.trial_rows(m) if m is not None else []
            if 0 <= index < len(rows):
                return rows[index][1].get("run_id")
            return None
        m = self._method()
        return show.method_run(m) if m is not None else None

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        run_id = self._run_at_cursor()
        if run_id is None:
            self.notify("No run here yet: a trial opens once it has started.",
                        severity="warning")
            return
        self.app.open_run(run_id)

    def action_compare_trials(self) -> None:
        """The compare screen on the highlighted method's trials that have a run."""
        m = self._method()
        runs = [row["run_id"] for _, row in show.trial_rows(m) if row.get("run_id")
                and row.get("state") not in ("planned", "lost")] if m else []
        if len(runs) < 2:
            self.notify("Move the cursor to a method with two or more trials first.",
                        severity="warning")
            return
        # lazy: a screen loads when first opened (114 ms)
        from emotui.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(runs))

    def action_report(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        self.notify("Writing the study's report…" if self.summary is None
                    or self.summary.get("phase") != "done" else "Finding the study's report…")
        self.write_report(stamp)

    @work(thread=True, name="write-study-report", group="report", exit_on_error=False)
    def write_report(self, stamp: str) -> None:
        """The study's own report when it is finished, else `emotui report` of its sweeps so
        far (drawing the figures takes a few seconds)."""
        try:
            files, written = control.study_report(self.app.source.store, self.study_id, stamp,
                                                  self.app.source.capabilities.refusal)
        except (EmotuiError, OSError) as exc:
            self.post_message(StudyReportReady(self.study_id, error=str(exc)))
            return
        self.post_message(StudyReportReady(self.study_id, files, written))

    @on(StudyReportReady)
    def _report_ready(self, message: StudyReportReady) -> None:
        if message.error:
            self.notify(message.error, title="No report", severity="error", markup=False)
            return
        folder = message.files[0].parent
        names = ", ".join(f.name for f in message.files)
        self.notify(f"{folder}/{names}" if len(message.files) == 1 else f"{folder} ({names})",
                    title="Report written" if message.written else "The study's report",
                    timeout=15, markup=False)
        # In a browser (emotui serve) the HTML report opens in a new tab too.
        deliver(self, next((f for f in message.files if f.suffix == ".html"), None),
                open_in_browser=True)

    def palette_commands(self) -> Iterator[PaletteCommand]:
        run = self._run_at_cursor() or "the run under the cursor"
        method = fmt.method_label(self.method) if self.method else "the highlighted method"
        yield PaletteCommand(f"Open {run}", "Its plots, logs, config and results (enter)",
                             self.action_open, ("open",))
        yield PaletteCommand(f"Compare the trials of {method}", "The compare screen on its "
                             "search and confirm runs (c)", self.action_compare_trials,
                             ("compare_trials",))
        yield PaletteCommand(f"Report of study {self.study_id}", "The finished study's report, "
                             "else `emotui report` of its sweeps so far, under the study's "
                             "folder (r)", self.action_report, ("report",))


def _fill(table: DataTable, rows: list[tuple[str, list[Any]]]) -> None:
    """Show ``rows`` (key, cells): cells updated in place when the keys are those shown (the
    cursor and scroll stay), else the table rebuilt with the cursor kept on its row's key."""
    keys = [key for key, _ in rows]
    shown = [str(row.key.value) for row in table.ordered_rows]
    if keys == shown:
        for key, cells in rows:
            for column, cell in zip(table.ordered_columns, cells):
                if table.get_cell(key, column.key) != cell:
                    table.update_cell(key, column.key, cell)
        return
    current = shown[table.cursor_row] if 0 <= table.cursor_row < len(shown) else None
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if current in keys:
        table.move_cursor(row=keys.index(current), animate=False)
