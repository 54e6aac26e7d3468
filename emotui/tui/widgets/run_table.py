"""The live run table: cells are updated in place, so the cursor and scroll never jump."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from emotui.tui import formatting as fmt


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[dict[str, Any], float], Any]
    # The raw value sorted on (numbers sort as numbers, None last).
    raw: Callable[[dict[str, Any], float], Any]


def _get(name: str) -> Callable[[dict[str, Any], float], Any]:
    return lambda row, now: row.get(name)


COLUMNS = (
    Column("sel", " ", lambda r, n: "", lambda r, n: None),
    Column("id", "run", lambda r, n: fmt.run_id_text(r), lambda r, n: fmt.id_sort_value(r)),
    Column("state", "state", lambda r, n: fmt.state_text(r), _get("status")),
    Column("method", "method", lambda r, n: fmt.method_label(r.get("method")), _get("method")),
    Column("progress", "progress", lambda r, n: fmt.progress_bar(r.get("progress")),
           _get("progress")),
    Column("eta", "ETA", lambda r, n: fmt.duration(fmt.eta(r, n)), fmt.eta),
    Column("epoch", "ep", lambda r, n: fmt.epoch_label(r), _get("epoch")),
    Column("eval", "eval acc", lambda r, n: fmt.percent(r.get("eval_accuracy")),
           _get("eval_accuracy")),
    Column("test", "test acc", lambda r, n: fmt.percent(r.get("test_accuracy")),
           _get("test_accuracy")),
    Column("elapsed", "elapsed", lambda r, n: fmt.duration(fmt.elapsed(r, n)), fmt.elapsed),
    Column("gpu", "GPU", lambda r, n: fmt.gpu_text(r), _get("gpu_util")),
    Column("hparams", "hyperparameters", lambda r, n: fmt.hyperparameters(r),
           lambda r, n: fmt.hyperparameters(r)),
    Column("backend", "backend", lambda r, n: fmt.backend_label(r), fmt.backend_label),
    Column("reason", "reason", lambda r, n: r.get("reason") or "", _get("reason")),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
# Cells that move with the clock alone: repainted every second while a run runs.
CLOCK_COLUMNS = ("elapsed", "eta")
_BY_KEY = {c.key: c for c in COLUMNS}
SELECTED_MARK = Text("●", style="bold cyan")


def _text(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


class RunTable(DataTable):
    """Rows keyed by run id; ``show`` adds or updates, ``drop`` removes; nothing is rebuilt."""

    def __init__(self, *, clock: Callable[[], float] = time.time, **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.clock = clock
        self.rows_by_id: dict[str, dict[str, Any]] = {}
        self.selected: set[str] = set()
        self.sort_column = "id"
        self.sort_reverse = True

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, key=column.key)

    # --- rows ---------------------------------------------------------------------------------

    def _cells(self, row: dict[str, Any], now: float) -> list[Any]:
        # Text, never str: DataTable would parse a str as markup (a reason may hold "[...]").
        cells = [_text(c.cell(row, now)) for c in COLUMNS]
        cells[0] = SELECTED_MARK if row["run_id"] in self.selected else Text("")
        return cells

    def _update_dimensions(self, new_rows) -> None:  # type: ignore[override]
        """Column widths from cell lengths instead of a Rich measurement of every cell.

        Why: DataTable measures each cell of each new row through Rich (tenths of a millisecond
        apiece), which made loading a 10,000-run store take tens of seconds. Every cell here is
        one line of text, so its width is its length. (Overrides a private DataTable method;
        textual is pinned below 9 and the snapshot tests would show a change.)
        """
        columns = self.ordered_columns
        for row_key in new_rows:
            data = self._data.get(row_key)
            if data is None:
                continue
            for column in columns:
                width = cell_len(_text(data.get(column.key)).plain)
                if width > column.content_width:
                    column.content_width = width
        total = sum(c.get_render_width(self) for c in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(total + self._row_label_column_width,
                                 self._total_row_height + header)

    def show(self, rows: list[dict[str, Any]]) -> int:
        """Add rows not in the table, update changed cells of those that are. Returns added."""
        now = self.clock()
        new = []
        for row in rows:
            rid = row["run_id"]
            old = self.rows_by_id.get(rid)
            self.rows_by_id[rid] = row
            if old is None:
                new.append(row)
                continue
            for column, value in zip(COLUMNS[1:], self._cells(row, now)[1:]):
                if _text(column.cell(old, now)) != value or column.key in CLOCK_COLUMNS:
                    self._update(rid, column.key, value)
        if new:
            # Batch insert: add_rows lays out once for the whole batch.
            self.add_rows_keyed([(r["run_id"], self._cells(r, now)) for r in new])
        return len(new)

    def add_rows_keyed(self, rows: list[tuple[str, list[Any]]]) -> None:
        for key, cells in rows:
            self.add_row(*cells, key=key)

    def drop(self, run_ids: list[str]) -> None:
        for rid in run_ids:
            self.rows_by_id.pop(rid, None)
            self.selected.discard(rid)
            try:
                self.remove_row(rid)
            except RowDoesNotExist:
                pass

    def _update(self, rid: str, column: str, value: Any) -> None:
        value = _text(value)
        try:
            self.update_cell(rid, column, value, update_width=False)
            width = cell_len(value.plain)
            col = self.columns.get(ColumnKey(column))
            if col is not None and width > col.content_width:
                col.content_width = width
                self._require_update_dimensions = True
        except (CellDoesNotExist, RowDoesNotExist):
            pass

    def tick(self) -> None:
        """Advance the clock cells of running runs: elapsed counts up, the ETA counts down
        (between two of the job's position refreshes, core.progress moves both on)."""
        now = self.clock()
        for rid, row in self.rows_by_id.items():
            if row.get("status") == "running" and rid in self.rows:
                for key in CLOCK_COLUMNS:
                    self._update(rid, key, _BY_KEY[key].cell(row, now))

    # --- cursor, selection, order -------------------------------------------------------------

    @property
    def current_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    def toggle_selected(self, rid: str) -> None:
        if rid in self.selected:
            self.selected.discard(rid)
            self._update(rid, "sel", Text(""))
        else:
            self.selected.add(rid)
            self._update(rid, "sel", SELECTED_MARK)

    def visible_selection(self) -> list[str]:
        """The selected runs the table shows (a filter may hide others), in table order."""
        if not self.selected:
            return []
        order = [row.key.value for row in self.ordered_rows]  # as shown, not as added
        return [rid for rid in order if rid in self.selected]

    def chosen(self) -> list[str]:
        """What an action applies to: the selected runs in view, else the run under the cursor
        (a selection hidden by a filter is never acted on unseen)."""
        shown = self.visible_selection()
        if shown:
            return shown
        current = self.current_id
        return [current] if current else []

    def clear_selection(self) -> None:
        """Forget the selection (an action used it); the marks go from the rows."""
        for rid in list(self.selected):
            self.toggle_selected(rid)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self.resort()

    @property
    def default_order(self) -> bool:
        return self.sort_column == "id" and self.sort_reverse

    def resort(self) -> None:
        """Re-order rows by the sort column; empty values stay last in either direction."""
        current = self.current_id
        raw, now = _BY_KEY[self.sort_column].raw, self.clock()
        keyed = [(fmt.sort_key(raw(self.rows_by_id[k.value], now)), k.value) for k in self.rows]
        present = sorted((kv for kv in keyed if kv[0][0] < 2), reverse=self.sort_reverse)
        # Ties broken by run id, newest first, whatever the direction.
        present = sorted(present, key=lambda kv: kv[0], reverse=self.sort_reverse)
        empty = [kv for kv in keyed if kv[0][0] == 2]
        position = {rid: i for i, (_, rid) in enumerate([*present, *empty])}
        # The id cell may carry a source badge after a space ("full1 W&B"); ids have no spaces.
        self.sort("id", key=lambda cell: position[str(cell).split(" ", 1)[0]])
        if current is not None and current in self.rows:
            self.move_cursor(row=self.get_row_index(current), animate=False)
