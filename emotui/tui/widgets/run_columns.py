"""The run table's columns (what each shows of a row, what it sorts on, and the order a sort by
one puts the rows in) and the names of its rows as DataTable gave them
(tui/widgets/run_table.py draws them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from rich.text import Text

from emotui.core.vocabulary import ResultKey
from emotui.tui import formatting as fmt

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[Row, float], Any]
    # The raw value sorted on (numbers sort as numbers, None last).
    raw: Callable[[Row, float], Any]


def _get(name: str) -> Callable[[Row, float], Any]:
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
    Column("eval", "eval acc", lambda r, n: fmt.percent(r.get(ResultKey.EVAL_ACCURACY)),
           _get(ResultKey.EVAL_ACCURACY)),
    Column("test", "test acc", lambda r, n: fmt.percent(r.get(ResultKey.TEST_ACCURACY)),
           _get(ResultKey.TEST_ACCURACY)),
    Column("elapsed", "elapsed", lambda r, n: fmt.duration(fmt.elapsed(r, n)), fmt.elapsed),
    Column("gpu", "GPU", lambda r, n: fmt.gpu_text(r), _get("gpu_util")),
    Column("hparams", "hyperparameters", lambda r, n: fmt.hyperparameters(r),
           lambda r, n: fmt.hyperparameters(r)),
    Column("backend", "backend", lambda r, n: fmt.backend_label(r), fmt.backend_label),
    Column("reason", "reason", lambda r, n: r.get("reason") or "", _get("reason")),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_BY_KEY = {c.key: c for c in COLUMNS}

# Below this width (an 80-column terminal) the columns stand in order of importance, so what
# fits on screen is what a person picks a run by: its state, method and accuracies, how long it
# has left and why it ended; its progress bar, times, settings and backend are a scroll away.
NARROW_WIDTH = 120
NARROW_ORDER = ("sel", "id", "state", "method", "eval", "test", "eta", "reason", "progress",
                "epoch", "elapsed", "gpu", "hparams", "backend")
_WIDE = tuple(range(len(COLUMNS)))
_NARROW = tuple(COLUMN_KEYS.index(key) for key in NARROW_ORDER)


def column_order(width: int) -> tuple[int, ...]:
    """The indices of COLUMNS in the order a table ``width`` cells wide shows them."""
    return _NARROW if 0 < width < NARROW_WIDTH else _WIDE


def sorted_run_ids(rows: Mapping[str, Row], column: str, reverse: bool,
                   now: float) -> list[str]:
    """The run ids of ``rows`` in ``column``'s order (``reverse``: descending); runs whose value
    is empty last in either direction."""
    raw = _BY_KEY[column].raw
    # In the order the rows came (as DataTable kept them), so empty values keep theirs.
    keyed = [(fmt.sort_key(raw(row, now)), rid) for rid, row in rows.items()]
    # Ties broken by run id, newest first, whatever the direction: newest first, then a
    # stable sort on the value (reverse=True keeps equal values in their order too).
    present = sorted((kv for kv in keyed if kv[0][0] < 2), key=lambda kv: kv[1], reverse=True)
    present = sorted(present, key=lambda kv: kv[0], reverse=reverse)
    empty = [kv for kv in keyed if kv[0][0] == 2]
    return [rid for _, rid in [*present, *empty]]


SELECTED_MARK = Text("●", style="bold cyan")


def as_text(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


def one_line(text: Text) -> Text:
    """A cell is one line: its first (a reason may hold a traceback's), as DataTable showed."""
    return text.split("\n")[0] if "\n" in text.plain else text


@dataclass(frozen=True)
class RowKey:
    """A shown row's key, as DataTable names it (``.value`` is the run id)."""

    value: str


@dataclass(frozen=True)
class OrderedRow:
    key: RowKey


class ShownIds:
    """The run ids the table shows: ``rid in table.rows``; iterating gives keys (``.value``)."""

    def __init__(self, rows: Mapping[str, Any]):
        self._rows = rows  # run id -> row, in the order the rows came (as DataTable's)

    def __contains__(self, item: object) -> bool:
        return getattr(item, "value", item) in self._rows

    def __iter__(self) -> Iterator[RowKey]:
        return (RowKey(rid) for rid in self._rows)

    def __len__(self) -> int:
        return len(self._rows)
