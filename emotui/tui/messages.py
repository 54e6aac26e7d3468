"""Messages workers post to the screens that own them. Small dataclasses; handlers paint."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from textual.message import Message
from textual.message_pump import MessagePump

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
    """A run's curves as the worker following it has them now (thinned: a few thousand points
    whatever the file's size), one message per poll."""

    run_id: str
    series: Any  # tui.widgets.plots.MetricSeries, a copy the worker no longer touches
    # Its charts as tui.widgets.plot_grid.PlotGrid.prebuild made them on the worker's thread.
    charts: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResultsReady(Message):
    """A run's results laid out for the Results tab off the UI thread (tui/results_view.py:
    above 30 classes the most confused pairs and a block of the matrix, not every cell)."""

    view: Any  # tui.results_view.ResultsView


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


@dataclass
class ComparisonLoaded(Message):
    """The config, results and table row of each run being compared."""

    runs: list[dict[str, Any]]


@dataclass
class RunControlled(Message):
    """A control action (cancel, resume, delete) done on one run: what happened, or why not."""

    verb: str  # as the notification titles it: Cancel, Resume, Deleted
    run_id: str
    note: str | None = None  # what the launch layer said happened (e.g. "already completed")
    error: str | None = None  # the one-line error when the action failed


@dataclass
class FormPrefillLoaded(Message):
    """A run's config, read to fill in the launch form ("new run from this one")."""

    run_id: str
    config: dict[str, Any]
    backend: str | None = None


@dataclass
class RunSubmitted(Message):
    """The launch form's run was submitted to its backend (run_id), or why not (error)."""

    backend: str
    run_id: str | None = None
    error: str | None = None


@dataclass
class SweepStarted(Message):
    """The launch form's sweep controller was started (sweep_id), or why not (error)."""

    backend: str
    sweep_id: str | None = None
    error: str | None = None
    # What the sweep will cost (emotui sweep FILE --dry-run's estimate lines).
    estimate: list[str] = field(default_factory=list)


@dataclass
class ComparisonExported(Message):
    """The comparison table was written to path in a format, or why not (error)."""

    format: str
    path: Path
    error: str | None = None


@dataclass
class ReportWritten(Message):
    """A report (emotui report) of the compared runs or of a sweep was written, or why not."""

    path: Path | None
    error: str | None = None


@dataclass
class StudiesListed(Message):
    """The store's studies, one row each (study.summary.list_studies), read again."""

    rows: list[dict[str, Any]]


@dataclass
class StudiesToPick(Message):
    """The store's studies for the palette's "Open study…" (study.summary.list_studies)."""

    rows: list[dict[str, Any]]


@dataclass
class StudyRead(Message):
    """One study's status with its trials (study.summary.summarize_study), or why not."""

    study_id: str
    summary: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class StudyFilesFound(Message):
    """Study files (YAML with ``methods:``) near the current folder, for the study launcher."""

    files: list[str]


@dataclass
class StudyPlanned(Message):
    """A study file read for the launcher: its id and plan (emotui study --dry-run), or why
    it cannot run."""

    file: str
    study_id: str | None = None
    lines: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class StudyStarted(Message):
    """The launcher's study controller was started (study_id), or why not (error)."""

    backend: str
    study_id: str | None = None
    error: str | None = None


@dataclass
class StudyReportReady(Message):
    """A study's report: its files (written now, or the study's own), or why there is none."""

    study_id: str
    files: list[Path] = field(default_factory=list)
    written: bool = False
    error: str | None = None


def wait_until_handled(node: MessagePump, stopped: Callable[[], bool]) -> bool:
    """On a worker's thread: wait until ``node`` has handled what was posted to it so far.

    Back-pressure for pollers: the next poll's messages are posted once these are painted, so a
    UI thread slowed down (a loaded machine, a huge repaint) never faces a queue that grows
    faster than it empties. False when ``stopped()`` came first or the node is closing.
    """
    handled = threading.Event()
    if not node.call_later(handled.set):  # runs after the messages posted before it
        return False
    while not handled.wait(0.1):
        if stopped():
            return False
    return True
