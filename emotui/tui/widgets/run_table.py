"""The live run table: every run of a store, of which only the lines on screen are rendered.

A store may hold 100,000 runs. Textual's DataTable keeps a styled cell object per cell (about
5 KB a row) and measures each one as it is added; this table keeps the rows as they come (one
mapping per run, core.compactrow) and the order they are shown in, and renders a line only when
it is on screen (the Line API, toolong's ``LogLines`` is the model). Column widths grow to fit
the widest cell rendered so far, so no cell is ever measured that nobody looked at. Updating a
row repaints its line if it is visible; nothing is rebuilt.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from emotui.tui.widgets.run_columns import (  # noqa: F401  (COLUMN_KEYS: the screen's import)
    COLUMN_KEYS,
    COLUMNS,
    SELECTED_MARK,
    OrderedRow,
    Row,
    RowKey,
    ShownIds,
    as_text,
    column_order,
    one_line,
    sorted_run_ids,
)

_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}
PADDING = 1  # a space either side of each cell, as DataTable draws them
# Rendered cells kept for lines scrolled away and back (a screenful is about 50 rows).
_CELL_CACHE = 1024


class RunTable(ScrollView, can_focus=True):
    """Rows keyed by run id; ``show`` adds or updates, ``drop`` removes; nothing is rebuilt."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "scroll_top", "Top", show=False),
        Binding("ctrl+end", "scroll_bottom", "Bottom", show=False),
        Binding("home", "scroll_top", "Top", show=False),
        Binding("end", "scroll_bottom", "Bottom", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
    ]

    COMPONENT_CLASSES = {"run-table--header", "run-table--cursor", "run-table--even-row",
                         "run-table--odd-row"}

    DEFAULT_CSS = """
    RunTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .run-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .run-table--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .run-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .run-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .run-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .run-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .run-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class RowSelected(Message):
        """Enter (or a click on the highlighted row) on a run."""

        def __init__(self, table: "RunTable", run_id: str):
            super().__init__()
            self.table = table
            self.run_id = run_id

        @property
        def control(self) -> "RunTable":
            return self.table

    class HeaderSelected(Message):
        """A click on a column's header."""

        def __init__(self, table: "RunTable", column_key: str):
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> "RunTable":
            return self.table

    def __init__(self, *, clock: Callable[[], float] = time.time, **kwargs: Any):
        super().__init__(**kwargs)
        self.clock = clock
        self.rows_by_id: dict[str, Row] = {}
        self.selected: set[str] = set()
        self.sort_column = "id"
        self.sort_reverse = True
        self._order: list[str] = []  # run ids in the order shown
        self._position: dict[str, int] = {}
        self._cursor = 0
        # At least the label's width (the selection column's is one space: a mark "●" then
        # moves nothing), as DataTable sized them.
        self._widths = [cell_len(c.label) for c in COLUMNS]
        self._columns = column_order(0)  # indices of COLUMNS in the order drawn
        self._cells: dict[str, tuple[Row, bool, int | None, list[Text]]] = {}

    # --- rows ---------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def rows(self) -> ShownIds:
        return ShownIds(self.rows_by_id)

    @property
    def ordered_rows(self) -> list[OrderedRow]:
        return [OrderedRow(RowKey(rid)) for rid in self._order]

    def show(self, rows: list[Row]) -> int:
        """Add rows not in the table (at the end), update those that are. Returns added."""
        added = 0
        visible = self._visible_span()
        for row in rows:
            rid = row["run_id"]
            if rid not in self.rows_by_id:
                self._position[rid] = len(self._order)
                self._order.append(rid)
                added += 1
            elif visible[0] <= self._position.get(rid, -1) < visible[1]:
                self.refresh_row(rid)
            self.rows_by_id[rid] = row
        if added:
            self._resized()
            if visible[1] > len(self._order) - added:  # new rows land on screen
                self.refresh()
        return added

    def drop(self, run_ids: list[str]) -> None:
        """Rows of runs that are gone: no longer shown, nor selected."""
        self.selected.difference_update(run_ids)
        self.hide(run_ids)

    def hide(self, run_ids: list[str]) -> None:
        """Rows a filter no longer lets through: no longer shown; selected ones stay selected
        (the status line counts them as hidden)."""
        gone = {rid for rid in run_ids if rid in self.rows_by_id}
        if not gone:
            return
        current = self.current_id
        for rid in gone:
            self.rows_by_id.pop(rid, None)
            self._cells.pop(rid, None)
        self._set_order([rid for rid in self._order if rid not in gone], keep=current)

    def clear(self) -> None:
        self.rows_by_id.clear()
        self._cells.clear()
        self._order, self._position, self._cursor = [], {}, 0
        self._resized()
        self.refresh()

    def _set_order(self, order: list[str], keep: str | None = None) -> None:
        self._order = order
        self._position = {rid: i for i, rid in enumerate(order)}
        if keep is not None and keep in self._position:
            self._cursor = self._position[keep]
        self._cursor = max(0, min(self._cursor, len(order) - 1))
        self._resized()
        self._scroll_cursor_into_view()
        self.refresh()

    def _resized(self) -> None:
        width = sum(w + 2 * PADDING for w in self._widths)
        self.virtual_size = Size(width, len(self._order) + 1)

    def cells(self, rid: str, now: float | None = None) -> list[Text]:
        """The cells of a shown run as the table renders them now."""
        row = self.rows_by_id[rid]
        now = self.clock() if now is None else now
        selected = rid in self.selected
        # The clock cells of an unfinished run move every second: keyed on the second.
        second = int(now) if row.get("status") in ("running", "queued", "preempted") else None
        cached = self._cells.get(rid)
        if cached is not None and cached[0] is row and cached[1] == selected \
                and cached[2] == second:
            return cached[3]
        # Text, never str: a str cell would be read as markup (a reason may hold "[...]").
        cells = [one_line(as_text(c.cell(row, now))) for c in COLUMNS]
        cells[0] = SELECTED_MARK if selected else Text("")
        if len(self._cells) >= _CELL_CACHE:
            self._cells.pop(next(iter(self._cells)))
        self._cells[rid] = (row, selected, second, cells)
        return cells

    def get_cell(self, rid: str, column: str) -> Text:
        return self.cells(rid)[_INDEX[column]]

    def get_row_at(self, index: int) -> list[Text]:
        return self.cells(self._order[index])

    def get_row_index(self, rid: str) -> int:
        return self._position[rid]

    def refresh_row(self, rid: str) -> None:
        position = self._position.get(rid)
        if position is not None:
            self.refresh(Region(0, 1 + position - int(self.scroll_y), self.size.width, 1))

    def tick(self) -> None:
        """Advance the clock cells of running runs on screen: elapsed counts up, the ETA counts
        down (between two of the job's position refreshes, core.progress moves both on)."""
        start, end = self._visible_span()
        for rid in self._order[start:end]:
            if self.rows_by_id[rid].get("status") == "running":
                self.refresh_row(rid)

    # --- rendering ----------------------------------------------------------------------------

    @property
    def page_rows(self) -> int:
        """How many rows fit on screen: the height less the header and a horizontal
        scrollbar (``size`` counts the scrollbars' lines)."""
        return max(0, self.scrollable_content_region.height - 1)

    def _visible_span(self) -> tuple[int, int]:
        top = int(self.scroll_y)
        return top, top + self.page_rows

    def render_lines(self, crop: Region) -> list[Strip]:
        # Measure the rows about to be drawn first: a wider cell widens its column for every
        # line of this frame, never for half of them.
        start, end = self._visible_span()
        now = self.clock()
        widths = self._widths
        grown = False
        for rid in self._order[start:end]:
            for i, cell in enumerate(self.cells(rid, now)):
                width = cell.cell_len
                if width > widths[i]:
                    widths[i], grown = width, True
        if grown:
            self._resized()
        self._columns = column_order(self.size.width)  # importance first when narrow
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_x)
        base = self.rich_style
        if y == 0:
            line = self._line([Text(c.label) for c in COLUMNS],
                              self.get_component_rich_style("run-table--header"))
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            style = self.get_component_rich_style(
                "run-table--even-row" if index % 2 == 0 else "run-table--odd-row")
            over = None
            if index == self._cursor:
                cursor = self.get_component_rich_style("run-table--cursor")
                style += cursor
                # The cursor's colours win over a cell's own (a red "failed" stays readable on
                # the cursor's background), as DataTable draws its cursor.
                over = Style.from_color(cursor.color, cursor.bgcolor)
            line = self._line(self.cells(self._order[index]), style, over)
        strip = Strip(line)
        return strip.crop_extend(scroll_x, scroll_x + width, line[-1].style if line else base)

    def _line(self, cells: list[Text], style: Style, over: Style | None = None
              ) -> list[Segment]:
        """One line of cells, each padded to its column's width (a longer one cut with an
        ellipsis); ``over`` is laid over every cell's own style."""
        console = self.app.console
        out: list[Segment] = []
        pad = " " * PADDING
        for i in self._columns:
            cell, width = cells[i], self._widths[i]
            text = cell.copy() if cell.cell_len > width else cell
            if text is not cell:
                text.truncate(width, overflow="ellipsis")
            out.append(Segment(pad, style))
            # A Text without spans renders without its own style: it is applied here.
            cell_style = style + console.get_style(text.style) if text.style else style
            for segment in text.render(console):
                if segment.text:
                    seg_style = cell_style + segment.style if segment.style else cell_style
                    out.append(Segment(segment.text, seg_style + over if over else seg_style))
            out.append(Segment(" " * (width - text.cell_len) + pad, style))
        return out

    # --- cursor, selection, order -------------------------------------------------------------

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def current_id(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self._cursor, len(self._order) - 1)]

    def move_cursor(self, *, row: int | None = None, column: int | None = None,
                    animate: bool = False, scroll: bool = True) -> None:
        if row is None or not self._order:
            return
        old = self._cursor
        self._cursor = max(0, min(row, len(self._order) - 1))
        if scroll:
            self._scroll_cursor_into_view()
        if old != self._cursor:
            for index in (old, self._cursor):
                if index < len(self._order):
                    self.refresh_row(self._order[index])

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.page_rows)
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - max(1, self.page_rows))

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + max(1, self.page_rows))

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_select_cursor(self) -> None:
        rid = self.current_id
        if rid is not None:
            self.post_message(self.RowSelected(self, rid))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = offset.x + int(self.scroll_x)
            for i in self._columns:
                x -= self._widths[i] + 2 * PADDING
                if x < 0:
                    self.post_message(self.HeaderSelected(self, COLUMNS[i].key))
                    break
            return
        index = int(self.scroll_y) + offset.y - 1
        if index < len(self._order):
            event.stop()
            if index == self._cursor:
                self.action_select_cursor()
            else:
                self.move_cursor(row=index)

    def toggle_selected(self, rid: str) -> None:
        if rid in self.selected:
            self.selected.discard(rid)
        else:
            self.selected.add(rid)
        self.refresh_row(rid)

    def visible_selection(self) -> list[str]:
        """The selected runs the table shows (a filter may hide others), in table order."""
        if not self.selected:
            return []
        return [rid for rid in self._order if rid in self.selected]

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
        self._set_order(sorted_run_ids(self.rows_by_id, self.sort_column, self.sort_reverse,
                                       self.clock()), keep=self.current_id)
