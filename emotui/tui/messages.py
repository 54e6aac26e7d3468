"""Messages workers post to the screens that own them. Small dataclasses; handlers paint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from emotui.tui.sources.base import RowBatch, RunDetail


@dataclass
class RowsUpdated(Message):
    """New or changed run rows (one poll's batch) from the run source."""

    batch: RowBatch


@dataclass
class DetailLoaded(Message):
    """A run's status, config and results, (re)read."""

    detail: RunDetail


@dataclass
class MetricsArrived(Message):
    """Metric events appended since the last poll, coalesced into one message per poll."""

    run_id: str
    events: list[dict[str, Any]]
    # The file was replaced (resume truncation): drop what was plotted and take these.
    restarted: bool = False


@dataclass
class LogLinesArrived(Message):
    """Lines appended to a run's stdout.log or stderr.log since the last poll."""

    run_id: str
    stream: str
    lines: list[str] = field(default_factory=list)


@dataclass
class CurvesLoaded(Message):
    """Eval-accuracy curves of the runs being compared: run id -> [(epoch, accuracy)]."""

    curves: dict[str, list[tuple[float, float]]]
