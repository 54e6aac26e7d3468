"""Tables for people and for scripts: one list of columns, two renderings.

On a terminal, a Rich table in human units (92.85%, 22.7M, 91.6 MB, 4m12s) whose values are
never wrapped or cut: when the terminal is too narrow, whole columns are left out, the least
important first, and a note names them. Piped or redirected, the same rows as TSV: a header of
machine names, then one line per row with every value whole, in machine units (fractions, raw
counts, seconds), for cut, awk, sort and pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from emotui.core.export import tsv_cell

GAP = 2  # spaces between columns
FREE_TEXT_MIN = 12  # a free-text column (a reason, a note) is worth showing from this width


@dataclass(frozen=True)
class Column:
    """One column: its machine name and value, and how a person reads it."""

    key: str  # the TSV header / JSON key
    header: str  # the terminal header
    human: Callable[[dict[str, Any]], str | Text]
    machine: Callable[[dict[str, Any]], Any] | None = None  # default: row[key]
    numeric: bool = False  # right-aligned
    drop: int = 0  # 0: always shown; when the terminal is narrow, the highest goes first
    free_text: bool = False  # may be shortened with '…' (never a number or an id)
    terminal: bool = True  # False: for scripts only (the terminal shows it inside another)

    def machine_value(self, row: dict[str, Any]) -> Any:
        return self.machine(row) if self.machine else row.get(self.key)


def for_scripts(console: Console) -> bool:
    """Whether output goes to a pipe or file (machine units, nothing cut) rather than a person."""
    return not console.is_terminal


def tsv(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> str:
    lines = ["\t".join(c.key for c in columns)]
    # Column.machine_value, looked up once per column rather than once per cell.
    values = [c.machine or (lambda row, key=c.key: row.get(key)) for c in columns]
    lines += ["\t".join([tsv_cell(value(row)) for value in values]) for row in rows]
    return "\n".join(lines) + "\n"


def _width(cell: str | Text) -> int:
    return Text(cell).cell_len if isinstance(cell, str) else cell.cell_len


def fit(columns: Sequence[Column], cells: list[list[str | Text]], width: int
        ) -> tuple[list[int], list[Column]]:
    """(indices of the columns shown, the columns left out) so the table fits ``width``."""
    needed = []
    for i, column in enumerate(columns):
        widest = max([_width(row[i]) for row in cells] + [_width(column.header)])
        needed.append(min(widest, max(FREE_TEXT_MIN, _width(column.header)))
                      if column.free_text else widest)
    # A column with nothing in it (no run has a reason, none is running for an ETA) takes no room.
    shown = [i for i in range(len(columns)) if any(_width(row[i]) for row in cells)]

    def total() -> int:
        return sum(needed[i] for i in shown) + GAP * (len(shown) - 1)

    by_drop = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: (
        -columns[i].drop, -i))
    empty = [i for i in range(len(columns)) if i not in shown]
    for index in by_drop:
        if total() <= width:
            break
        if index in shown:
            shown.remove(index)
    hidden = [c for i, c in enumerate(columns) if i not in shown and i not in empty]
    return shown, hidden


def human_table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], width: int
                ) -> tuple[Table, list[Column]]:
    """The terminal table at ``width`` columns, and the columns it had to leave out."""
    cells = [[column.human(row) for column in columns] for row in rows]
    shown, hidden = fit(columns, cells, width)
    widest = {i: max([_width(row[i]) for row in cells] + [_width(columns[i].header)])
              for i in shown}
    free = [i for i in shown if columns[i].free_text]
    # What the fixed columns leave is shared by the free-text ones (cut with '…' beyond it).
    left = width - sum(widest[i] for i in shown if i not in free) - GAP * (len(shown) - 1)
    for i in free:
        widest[i] = max(1, min(widest[i], left // len(free)))
    table = Table(box=None, padding=(0, GAP // 2), pad_edge=False, show_edge=False,
                  header_style="bold")
    for i in shown:
        column = columns[i]
        table.add_column(column.header, justify="right" if column.numeric else "left",
                         no_wrap=True, width=widest[i],
                         overflow="ellipsis" if column.free_text else "crop")
    for row in cells:
        table.add_row(*[row[i] if isinstance(row[i], Text) else Text(row[i]) for i in shown])
    return table, hidden


def table_width(table: Table) -> int:
    widths = [c.width or 0 for c in table.columns]
    return sum(widths) + GAP * (len(widths) - 1)


def print_table(console: Console, columns: Sequence[Column], rows: Sequence[dict[str, Any]], *,
                hint: str = "| cat shows all") -> None:
    """Rows as TSV when piped, else as a table fitted to the terminal."""
    if for_scripts(console):
        console.file.write(tsv(columns, rows))
        console.file.flush()
        return
    table, hidden = human_table([c for c in columns if c.terminal], rows, console.width)
    # Wider than the terminal only when the columns that are never hidden do not fit: the
    # terminal then folds whole lines, but no value is cut.
    console.print(table, width=max(console.width, table_width(table)))
    if hidden:
        names = ", ".join(c.header for c in hidden)
        console.print(Text(f"hidden at {console.width} columns: {names} ({hint})", style="dim"))
