"""Studies: every study of the run store with its phase and progress, as `emotui study ls`
lists them; enter opens one, n launches a new one from a study file."""

from __future__ import annotations

import time
from typing import Any, Iterator

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import get_current_worker

from emotui.study.summary import list_studies
from emotui.tui import study_format as show
from emotui.tui.commands import PaletteCommand
from emotui.tui.messages import StudiesListed, wait_until_handled
from emotui.tui.screens.polling import PollingScreen
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.worker_errors import WorkerErrors


class StudiesScreen(WorkerErrors, PollingScreen, Screen):
    """The studies of the store, newest first, read again while shown."""

    POLL_WORKER = "poll-studies"
    POLL_METHOD = "poll_studies"

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        # Above the table's own enter, so the footer shows it.
        Binding("enter", "open", "Open study", priority=True),
        Binding("n", "new_study", "New study"),
    ]

    def __init__(self, poll_interval: float = 2.0):
        super().__init__()
        self.init_polling(poll_interval)
        self.rows: list[dict[str, Any]] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="studies-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="studies-status", classes="status-line")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "studies"
        self.sub_title = self.app.store_label
        table = self.query_one(DataTable)
        for column in show.STUDY_COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self._paint_status()
        if self.app.source.store is not None:
            self.poll_studies()

    # --- reading (a thread worker: list_studies reads every study's files) ---------------------

    @work(thread=True, name="poll-studies", group="studies", exclusive=True,
          exit_on_error=False)
    def poll_studies(self) -> None:
        """`emotui study ls`'s rows, posted when they changed (an unchanged store posts
        nothing), each once the previous one is painted."""
        worker = get_current_worker()

        def stopped() -> bool:
            return self.polling_stopped(worker)

        last: list[dict[str, Any]] | None = None
        while not stopped():
            began = time.monotonic()
            rows = list_studies(self.app.source.store)
            took = time.monotonic() - began
            if rows != last:
                last = rows
                self.post_message(StudiesListed(rows))
                if not wait_until_handled(self, stopped):
                    return
            self.sleep_after_read(took)

    @on(StudiesListed)
    def _paint(self, message: StudiesListed) -> None:
        self.rows = list(reversed(message.rows))  # newest first
        self.loaded = True
        table = self.query_one(DataTable)
        current = self.current_id()
        table.clear()
        for row in self.rows:
            table.add_row(*show.study_cells(row), key=row["study_id"])
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self._paint_status()

    def _paint_status(self) -> None:
        if self.app.source.store is None:
            text = "This source has no run store: studies live in a local run store."
        elif not self.loaded:
            text = "loading…"
        elif not self.rows:
            text = "No studies yet: n launches one from a study file (emotui study FILE)."
        else:
            running = sum(1 for r in self.rows if r.get("alive"))
            text = (f"{len(self.rows)} stud{'ies' if len(self.rows) != 1 else 'y'}"
                    + (f" · {running} running" if running else "")
                    + " · enter opens a study · n: a new study")
        self.query_one("#studies-status", Static).update(text)

    # --- actions ------------------------------------------------------------------------------

    def current_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key is not None and key.value is not None else None

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        study_id = self.current_id()
        if study_id is not None:
            self.app.open_study(study_id)

    def action_new_study(self) -> None:
        self.app.open_study_launch()

    def palette_commands(self) -> Iterator[PaletteCommand]:
        current = self.current_id() or "the highlighted study"
        yield PaletteCommand(f"Open {current}", "Its phases, methods, budget, ETA and trials "
                             "(enter)", self.action_open, ("open",))
