"""Home: the live table of runs, with filters, sort, selection and the run actions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, Input, Select, Static
from textual.worker import Worker, get_current_worker

from emotui.core import heap
from emotui.tui import formatting as fmt
from emotui.tui.commands import PaletteCommand
from emotui.tui.messages import (
    FormPrefillLoaded,
    ReportWritten,
    RowsUpdated,
    RunControlled,
    wait_until_handled,
)
from emotui.tui.notices import ending_notice, run_endings
from emotui.tui.outcomes import notify_controlled, notify_report, report_outcome
from emotui.tui.screens.run_actions import RunActions
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.widgets.run_table import COLUMN_KEYS, COLUMNS, RunTable
from emotui.tui.worker_errors import RETRY_S, WorkerErrors

_SORTABLE = COLUMN_KEYS[1:]
# Above this many runs, typing in the filter refilters when the typing pauses this long (or at
# enter), not at every key: a pass over 100,000 rows takes a fair part of a second.
FILTER_SETTLE_ROWS = 5000
FILTER_SETTLE_S = 0.15
# The row fields the text filter looks in (besides the method's label and the state shown).
_FILTERED_FIELDS = ("run_id", "status", "method", "reason", "model_name_or_path", "backend",
                    "job_id", "sweep_id", "source", "name")
_LABELS = {c.key: c.label for c in COLUMNS}


class RunsScreen(RunActions, WorkerErrors, Screen):
    """Every run of the source, updated in place as the run directories change; the actions on
    the chosen runs (cancel, resume, delete) are RunActions'."""

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("n", "launch", "New run"),
        Binding("e", "launch_from", "New from run"),
        Binding("space", "toggle_select", "Select"),
        Binding("c", "compare", "Compare"),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("r", "resume_run", "Resume"),
        Binding("d", "delete_run", "Delete"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("f", "cycle_state", "State filter", show=False),
        Binding("m", "cycle_method", "Method filter", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("w", "sweeps", "Sweeps"),
        Binding("u", "studies", "Studies"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("R", "refresh_remote", "Refresh W&B", show=False),
    ]

    def __init__(self, poll_interval: float = 1.0):
        super().__init__()
        self.poll_interval = poll_interval
        self.all_rows: dict[str, dict] = {}
        self.scanning = True
        self._wake = threading.Event()
        self._closing = False
        self._shown_filter: tuple | None = None  # the filter the table's rows were chosen by
        self._refilter_timer = None
        # run id -> (row, its filter text): built once per row, not at every key typed.
        self._hay: dict[str, tuple[dict, str]] = {}

    @property
    def source(self):
        return self.app.source

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            yield Input(placeholder="/ filter: id, method, reason, model...", id="filter-text",
                        compact=True)
            yield Select([(s, s) for s in fmt.STATES], prompt="any state (f)", id="filter-state",
                         compact=True)
            yield Select([(fmt.method_label(m), m) for m in fmt.METHODS],
                         prompt="any method (m)", id="filter-method", compact=True)
        yield RunTable(id="runs", clock=self.app.clock)
        yield Static("", id="runs-status")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "emotui"
        self.sub_title = self.app.store_label
        self.query_one(RunTable).focus()
        self.poll_runs()
        self.set_interval(1.0, self._tick)
        self._paint_status()

    # --- polling (thread worker: reads files, posts batches) ------------------------------------

    @work(thread=True, name="poll-runs", group="runs", exclusive=True, exit_on_error=False)
    def poll_runs(self) -> None:
        """Post what each poll found, and only that: a poll that found nothing new posts
        nothing (the screen, shown or not, would repaint for nothing at every interval, and the
        app would never be idle). Back-pressure: a batch is posted once the previous one is
        painted, so a busy UI thread never gets a growing queue of batches to catch up on."""
        worker = get_current_worker()

        def stopped() -> bool:
            return worker.is_cancelled or self._closing

        scanned = False  # the end of the first scan was posted: the table is loaded
        while not stopped():
            for batch in self.source.poll():
                if stopped():
                    return
                if not (batch.changed or batch.removed or batch.notices
                        or (batch.complete and not scanned)):
                    continue
                scanned = scanned or batch.complete
                self.post_message(RowsUpdated(batch))
                if not wait_until_handled(self, stopped):
                    return
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def on_unmount(self) -> None:
        self._closing = True
        self._wake.set()  # the poll thread returns now instead of after its interval

    def restart_failed(self, worker: Worker) -> float | None:
        """Polling that raised starts again (worker_errors reports the error once)."""
        if worker.name != "poll-runs" or self._closing:
            return None
        self.set_timer(RETRY_S, self.poll_runs)
        return RETRY_S

    def refresh_now(self) -> None:
        """Poll again without waiting for the interval (after submit, cancel, delete)."""
        self._wake.set()

    @on(RowsUpdated)
    def _paint_rows(self, message: RowsUpdated) -> None:
        batch = message.batch
        table = self.query_one(RunTable)
        for rid in batch.removed:
            self.all_rows.pop(rid, None)
            self._hay.pop(rid, None)
        table.drop(batch.removed)
        for notice in batch.notices:
            self.notify(notice, title="Tracker", severity="warning", timeout=8)
        for row, outcome in run_endings(self.all_rows, batch.changed):
            title, text, severity = ending_notice(row, outcome)
            self.notify(text, title=title, severity=severity, timeout=10)
        for row in batch.changed:
            self.all_rows[row["run_id"]] = row
        match = self._matcher()
        visible = [r for r in batch.changed if r["run_id"] in table.rows_by_id or match(r)]
        added = table.show(visible)
        # The source yields newest first, which is the default order: while the first scan
        # streams in, re-sorting every batch would be wasted work on a large store. Rows of
        # another source (W&B) come after the local ones, in their own order: sorted in.
        foreign = any((r.get("source") or "local") != "local" for r in visible)
        if added and (not self.scanning or not table.default_order or foreign):
            table.resort()
        if batch.complete and self.scanning:
            self.scanning = False
            if not table.default_order:
                table.resort()
            # What the app holds from now on lives as long as it does (core/heap.py): once
            # the table is on screen, the collector stops walking it at every full pass.
            if self.app.freeze_heap:
                self.call_after_refresh(heap.freeze_long_lived)
        self._paint_status()

    def _tick(self) -> None:
        # Under another screen (not a dialog) the table is not seen: it catches up when shown.
        stack = self.app.screen_stack
        if stack[-1] is self or (stack[-1].is_modal and len(stack) > 1 and stack[-2] is self):
            self.query_one(RunTable).tick()

    def on_screen_resume(self) -> None:
        self._tick()

    # --- filters and sort ---------------------------------------------------------------------

    def _filter(self) -> tuple:
        """The filters as set now: (state, method, the text's words)."""
        state = self.query_one("#filter-state", Select).value
        method = self.query_one("#filter-method", Select).value
        words = tuple(self.query_one("#filter-text", Input).value.strip().lower().split())
        return state, method, words

    def _matcher(self, chosen: tuple | None = None):
        """A predicate for the filters (read once, applied to many rows)."""
        state, method, words = chosen if chosen is not None else self._filter()
        hays = self._hay

        def hay_of(row: dict) -> str:
            kept = hays.get(row["run_id"])
            if kept is not None and kept[0] is row:
                return kept[1]
            hay = (" ".join(str(row.get(k) or "") for k in _FILTERED_FIELDS) + " "
                   + fmt.method_label(row.get("method")) + " "
                   + fmt.state_text(row).plain).lower()
            hays[row["run_id"]] = (row, hay)
            return hay

        def matches(row: dict) -> bool:
            if state is not Select.NULL and row.get("status") != state:
                return False
            if method is not Select.NULL and row.get("method") != method:
                return False
            if words:
                hay = hay_of(row)
                return all(word in hay for word in words)
            return True

        return matches

    def _narrows(self, chosen: tuple) -> bool:
        """Whether every row the filters ``chosen`` let through is shown now (they ask what the
        shown rows' filter asked, and more): typing on in the filter box."""
        if self._shown_filter is None:
            return False
        state, method, words = chosen
        was_state, was_method, was_words = self._shown_filter
        return (was_state in (Select.NULL, state) and was_method in (Select.NULL, method)
                and all(any(old in word for word in words) for old in was_words))

    def refilter(self) -> None:
        """Rebuild the visible rows after a filter change (a user action, not a live update)."""
        if self._refilter_timer is not None:
            self._refilter_timer.stop()
            self._refilter_timer = None
        table = self.query_one(RunTable)
        current = table.current_id
        chosen = self._filter()
        match = self._matcher(chosen)
        if self._narrows(chosen):
            # Only the rows shown can still match: they are looked at, in their order.
            table.hide([rid for rid, row in table.rows_by_id.items() if not match(row)])
        else:
            table.clear()
            table.rows_by_id.clear()
            table.show([r for r in sorted(self.all_rows.values(), key=lambda r: r["run_id"],
                                          reverse=True) if match(r)])
            table.resort()
        self._shown_filter = chosen
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        self._paint_status()

    @on(Input.Changed, "#filter-text")
    def _filter_text_changed(self) -> None:
        if len(self.all_rows) <= FILTER_SETTLE_ROWS:
            self.refilter()
            return
        # A large store: once the typing pauses (the text typed shows meanwhile).
        if self._refilter_timer is not None:
            self._refilter_timer.stop()
        self._refilter_timer = self.set_timer(FILTER_SETTLE_S, self.refilter)

    @on(Select.Changed)
    def _filter_changed(self) -> None:
        self.refilter()

    @on(Input.Submitted, "#filter-text")
    def _filter_done(self) -> None:
        if self._refilter_timer is not None:
            self.refilter()  # what was typed last, now
        self.query_one(RunTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter-text", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#filter-text", Input).value = ""
        self.query_one("#filter-state", Select).clear()
        self.query_one("#filter-method", Select).clear()
        self.query_one(RunTable).focus()

    def _cycle(self, select_id: str, values: tuple[str, ...]) -> None:
        select = self.query_one(select_id, Select)
        order = [Select.NULL, *values]
        index = next((i for i, v in enumerate(order) if v == select.value), 0)
        nxt = order[(index + 1) % len(order)]
        if nxt is Select.NULL:
            select.clear()
        else:
            select.value = nxt

    def action_cycle_state(self) -> None:
        self._cycle("#filter-state", fmt.STATES)

    def action_cycle_method(self) -> None:
        self._cycle("#filter-method", fmt.METHODS)

    def action_cycle_sort(self) -> None:
        table = self.query_one(RunTable)
        index = _SORTABLE.index(table.sort_column) if table.sort_column in _SORTABLE else -1
        table.sort_by(_SORTABLE[(index + 1) % len(_SORTABLE)], reverse=False)
        self._paint_status()

    def action_reverse_sort(self) -> None:
        table = self.query_one(RunTable)
        table.sort_by(table.sort_column, reverse=not table.sort_reverse)
        self._paint_status()

    @on(RunTable.HeaderSelected)
    def _header_clicked(self, event: RunTable.HeaderSelected) -> None:
        if event.column_key in _SORTABLE:
            self.query_one(RunTable).sort_by(event.column_key)
            self._paint_status()

    def _paint_status(self) -> None:
        table = self.query_one(RunTable)
        arrow = "↓" if table.sort_reverse else "↑"
        parts = [fmt.plural(len(self.all_rows), "run"), f"{table.row_count:,} shown"]
        if table.selected:
            hidden = len(table.selected) - len(table.visible_selection())
            parts.append(f"{len(table.selected)} selected"
                         + (f" ({hidden} hidden by the filter)" if hidden else ""))
        parts.append(f"sort: {_LABELS[table.sort_column]} {arrow}")
        if self.scanning:
            parts.append("loading…")
        elif not self.all_rows:  # a new store: say how to fill it
            parts = ["No runs yet: n starts a new run; `emotui demo` in a shell trains three "
                     "small ones"]
        self.query_one("#runs-status", Static).update(" · ".join(parts))

    # --- actions ------------------------------------------------------------------------------

    @on(RunTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        rid = self.query_one(RunTable).current_id
        if rid:
            # lazy: keeps the TUI's start fast (149 ms)
            from emotui.tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(rid))

    def action_toggle_select(self) -> None:
        table = self.query_one(RunTable)
        rid = table.current_id
        if rid:
            table.toggle_selected(rid)
            if table.cursor_row < table.row_count - 1:
                table.move_cursor(row=table.cursor_row + 1, animate=False)
            self._paint_status()

    def action_launch(self) -> None:
        self.app.open_launch()

    def action_launch_from(self) -> None:
        """The launch form filled in with the highlighted run's config."""
        if not self.source.capabilities.can_launch:
            self.notify(self.source.capabilities.refusal
                        or "This source has no run store to launch into.", severity="warning")
            return
        rid = self.query_one(RunTable).current_id
        if rid:
            self.load_prefill(rid)

    @work(thread=True, name="load-prefill", group="prefill", exclusive=True, exit_on_error=False)
    def load_prefill(self, run_id: str) -> None:
        detail = self.source.detail(run_id)
        self.post_message(FormPrefillLoaded(run_id, detail.config, detail.row.get("backend")))

    @on(FormPrefillLoaded)
    def _open_prefilled(self, message: FormPrefillLoaded) -> None:
        # lazy: keeps the TUI's start fast (55 ms)
        from emotui.tui.screens.launch import LaunchScreen

        if not message.config:
            self.notify(f"{message.run_id} has no readable config.yaml to start from.",
                        severity="warning")
            return
        self.app.push_screen(LaunchScreen.from_run(message.run_id, message.config,
                                                   message.backend),
                             callback=lambda _: self.refresh_now())

    def action_sweeps(self) -> None:
        # lazy: keeps the TUI's start fast (9 ms)
        from emotui.tui.screens.sweeps import SweepsScreen

        self.app.push_screen(SweepsScreen(lambda: dict(self.all_rows)))

    def action_studies(self) -> None:
        self.app.open_studies()

    def action_compare(self) -> None:
        chosen = self.query_one(RunTable).chosen()
        if len(chosen) < 2:
            self.notify("Select two or more runs with space, then press c.", severity="warning")
            return
        # lazy: keeps the TUI's start fast (125 ms)
        from emotui.tui.screens.compare import CompareScreen

        self._selection_used()
        self.app.push_screen(CompareScreen(chosen))

    def action_write_report(self) -> None:
        """`emotui report` of the chosen local runs, as HTML in the export folder (the palette's
        "Report of ..."; the compare and sweeps screens have it on r)."""
        chosen = self.query_one(RunTable).chosen()
        local = [rid for rid in chosen if self.source.is_controllable(rid)]
        if not local:
            self.notify("A report is written from local runs: select some with space (W&B rows: "
                        "compare them, then r).", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        self._selection_used()
        self.write_report(local, self.app.export_dir / f"report-{stamp}.html")

    @work(thread=True, name="write-report", group="report", exit_on_error=False)
    def write_report(self, run_ids: list[str], path: Path) -> None:
        """`emotui report` of the runs (drawing its figures takes a few seconds)."""
        self.post_message(report_outcome(self.source.store, run_ids, path))

    @on(ReportWritten)
    def _report_written(self, message: ReportWritten) -> None:
        notify_report(self, message)

    def palette_commands(self) -> Iterator[PaletteCommand]:
        """The palette's names for this screen's actions, saying which runs they act on."""
        table = self.query_one(RunTable)
        current = table.current_id or "the highlighted run"
        chosen = table.chosen()
        runs = (f"the {len(chosen)} selected runs" if len(chosen) > 1
                else f"{chosen[0]}" if chosen else "the highlighted run")
        yield PaletteCommand(f"Open {current}", "Its plots, logs, config and results (enter)",
                             self.action_open, ("open",))
        yield PaletteCommand(f"New run from {current}", "The launch form filled in with its "
                             "config (e)", self.action_launch_from, ("launch_from",))
        yield PaletteCommand("Compare selected runs", "Side by side: config, metrics, curves, "
                             "the Pareto view (space selects, c)", self.action_compare,
                             ("compare",))
        yield PaletteCommand(f"Report of {runs}", "emotui report, written as HTML to "
                             f"{self.app.export_dir}", self.action_write_report)
        yield PaletteCommand(f"Cancel {runs}", "Stop the job; its last checkpoint stays (x)",
                             self.action_cancel_run, ("cancel_run",))
        yield PaletteCommand(f"Resume {runs}", "Start again from the last checkpoint (r)",
                             self.action_resume_run, ("resume_run",))
        yield PaletteCommand(f"Delete {runs}", "Remove the run directory, after a question (d)",
                             self.action_delete_run, ("delete_run",))
        yield PaletteCommand("Sweeps", "Trials grouped under their sweep (w)",
                             self.action_sweeps, ("sweeps",))
        yield PaletteCommand("Studies", "Each study's phases, methods, budget and ETA (u)",
                             self.action_studies, ("studies",))

    def _selection_used(self) -> None:
        """An action took the selection: it ends there, so a later key acts on what the
        cursor shows, not on runs chosen for something else."""
        self.query_one(RunTable).clear_selection()
        self._paint_status()

    def action_refresh_remote(self) -> None:
        if not self.source.capabilities.can_refresh:
            self.notify("No W&B or trackio project is shown (emotui --wandb ENTITY/PROJECT, "
                        "--trackio PROJECT).")
            return
        self.source.request_refresh()
        self.refresh_now()
        self.notify("Refreshing the tracker's runs…", title="Tracker")

    @on(RunControlled)
    def _run_controlled(self, message: RunControlled) -> None:
        notify_controlled(self, message)
        self.refresh_now()
