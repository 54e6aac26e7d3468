"""A tracker's project as a read-only run source (a W&B project, a trackio project: whatever
``emotui.tracking.trackers.Tracker.project`` gives; emotui.tracking does the talking).

Rows come from the tracker's cache at once; a refresh runs on its own daemon thread (W&B can
take its full timeout to answer, or not answer), so ``poll`` never waits on the network or a
busy database. A failed refresh is one notice in the next batch; the rows read before stay. A
run's curves are read the first time its detail is asked for (on the detail or compare screen's
worker thread), then served from memory until the next refresh. The tracker's library is never
imported here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

import yaml

from emotui.core.lifecycle import IN_FLIGHT
from emotui.core.vocabulary import ResultKey
from emotui.tracking.keys import EPOCH_KEY, STEP_KEY, is_number, record_to_row
from emotui.tracking.sources import record_detail
from emotui.core.errors import EmotuiError
from emotui.tracking.wandb_api import ProjectRuns
from emotui.tui.sources.base import ReadOnlyRunSource, RowBatch, RunDetail, SourceCapabilities

if TYPE_CHECKING:
    from emotui.tracking.trackers import TrackerProject

log = logging.getLogger("emotui.tui")
# How often a project is read again while the TUI is open, unless the tracker says.
REFRESH_EVERY_S = 300.0


def tracker_row(record: dict[str, Any]) -> dict[str, Any] | None:
    """A tracker's run record as a table row (None for a record without an id)."""
    row = record_to_row(record)
    if not row.get("run_id"):
        return None
    row.setdefault(ResultKey.COLLAPSED, (record.get("summary") or {}).get(ResultKey.COLLAPSED))
    row["stale"] = False
    if row.get("ended") is None and row.get("status") not in IN_FLIGHT:
        # W&B gives the start, not the end: a finished run's end is its start plus its
        # training time when the summary has one; otherwise its elapsed time is unknown ("-"),
        # not zero.
        runtime = row.get(ResultKey.TRAIN_RUNTIME_S)
        if row.get("started") is not None and is_number(runtime):
            row["ended"] = row["started"] + runtime
        else:
            row["started"] = None
    return row


def with_epochs(events: list[dict[str, Any]], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Events with an epoch wherever it can be known, so W&B curves share the local runs' x axis.

    W&B history is fetched one key at a time against the step, so eval rows come without
    ``train/epoch``: take it from another event at the same step, else from the run's
    steps per epoch (its summary's final step over its final epoch).
    """
    at_step = {e["step"]: e["epoch"] for e in events if is_number(e.get("epoch"))}
    steps, epochs = summary.get(STEP_KEY), summary.get(EPOCH_KEY)
    per_epoch = steps / epochs if is_number(steps) and is_number(epochs) and epochs > 0 \
        and steps > 0 else None
    out = []
    for event in events:
        if not is_number(event.get("epoch")):
            epoch = at_step.get(event.get("step"))
            if epoch is None and per_epoch and is_number(event.get("step")):
                epoch = round(event["step"] / per_epoch, 3)
            if epoch is not None:
                event = dict(event, epoch=epoch)
        out.append(event)
    return out


class TrackerRunSource(ReadOnlyRunSource):
    """The runs of one tracker project; nothing here can be controlled."""

    capabilities = SourceCapabilities(can_refresh=True)
    # The tracker's name (rows' source, this source's name) and its label for people.
    kind, tracker_label = "wandb", "W&B"

    def __init__(self, project: "TrackerProject", *, refresh_every: float = REFRESH_EVERY_S,
                 clock: Callable[[], float] = time.monotonic, kind: str | None = None,
                 label: str | None = None):
        self.project = project
        self.kind = kind or self.kind
        self.tracker_label = label or self.tracker_label
        self.path = f"{project.entity}/{project.project}" if project.entity else project.project
        self.name = f"{self.kind}:{self.path}"
        self.refresh_every = refresh_every
        self.clock = clock
        self._records: dict[str, dict[str, Any]] = {}
        self._rows: dict[str, dict[str, Any]] = {}
        self._histories: dict[str, tuple[list[dict[str, Any]], str | None]] = {}
        self._lock = threading.Lock()
        self._fetched: ProjectRuns | None = None
        self._failure: str | None = None
        self._thread: threading.Thread | None = None
        self._next_refresh = 0.0
        self._polls = 0

    @property
    def label(self) -> str:
        return f"{self.tracker_label} {self.path}"

    # --- refreshing (a daemon thread; poll only collects what it left) ------------------------

    def request_refresh(self) -> None:
        """Fetch again at the next poll (the user asked)."""
        self._next_refresh = 0.0

    @property
    def refreshing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_refresh(self) -> None:
        self._next_refresh = self.clock() + self.refresh_every
        self._thread = threading.Thread(target=self._refresh, name=f"{self.kind}-refresh",
                                        daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        try:
            runs = self.project.refresh()
        except EmotuiError as exc:  # WandbUnavailable, TrackioUnavailable: said in one line
            failure = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug below must not take the TUI down
            log.exception("%s refresh failed", self.tracker_label)
            failure = f"{self.tracker_label} refresh failed: {type(exc).__name__}: {exc}"
        else:
            with self._lock:
                self._fetched, self._failure = runs, None
            return
        with self._lock:
            self._failure = (failure.splitlines()[0] if failure
                             else f"{self.tracker_label} refresh failed")

    # --- RunSource ------------------------------------------------------------------------------

    def poll(self) -> Iterator[RowBatch]:
        self._polls += 1
        batch = RowBatch()
        if self._polls == 1:
            try:
                cached = self.project.cached()
            except Exception as exc:  # noqa: BLE001 - an odd cache file is no reason to stop
                log.warning("%s cache unreadable: %s", self.tracker_label, exc)
                cached = None
            if cached is not None:
                self._apply(cached.records, batch)
        if not self.refreshing and self.clock() >= self._next_refresh:
            self._start_refresh()
        with self._lock:
            fetched, failure = self._fetched, self._failure
            self._fetched = self._failure = None
        if fetched is not None:
            self._apply(fetched.records, batch)
            self._histories.clear()  # curves may have grown; fetched again when next shown
        if failure:
            shown = " (showing cached runs)" if self._rows else ""
            batch.notices.append(f"{self.label}: {failure}{shown}")
        batch.known, batch.complete = len(self._rows), True
        yield batch

    def _apply(self, records: list[dict[str, Any]], batch: RowBatch) -> None:
        """Replace the project's rows with these records' rows; the differences go in batch."""
        rows: dict[str, dict[str, Any]] = {}
        by_id: dict[str, dict[str, Any]] = {}
        for record in records:
            row = tracker_row(record)
            if row is not None:
                rows[row["run_id"]] = row
                by_id[row["run_id"]] = record
        removed = [rid for rid in self._rows if rid not in rows]
        changed = [row for rid, row in rows.items() if self._rows.get(rid) != row]
        self._rows, self._records = rows, by_id
        gone = set(removed)
        batch.changed = [r for r in batch.changed if r["run_id"] not in gone] + changed
        batch.removed += removed

    def rows(self) -> dict[str, dict[str, Any]]:
        return dict(self._rows)

    def _history(self, run_id: str) -> tuple[list[dict[str, Any]], str | None]:
        known = self._histories.get(run_id)
        if known is not None:
            return known
        try:
            found: tuple[list[dict[str, Any]], str | None] = (self.project.history(run_id), None)
        except EmotuiError as exc:
            found = ([], str(exc).splitlines()[0])
        except Exception as exc:  # noqa: BLE001 - as in _refresh
            log.exception("%s history of %s failed", self.tracker_label, run_id)
            found = ([], f"{type(exc).__name__}: {exc}")
        self._histories[run_id] = found  # the detail screen asks every half second
        return found

    def detail(self, run_id: str) -> RunDetail:
        record = self._records.get(run_id)
        if record is None:
            return RunDetail(run_id=run_id, row={"run_id": run_id, "source": self.kind},
                             status={}, config={}, config_text="", results={}, events=[])
        history, problem = self._history(run_id)
        found = record_detail(record, history)
        row = dict(self._rows.get(run_id) or found["row"])
        if problem and not history:
            row["reason"] = f"curves unavailable: {problem}"
        config = found["config"]
        try:
            text = yaml.safe_dump(config, sort_keys=True, allow_unicode=True)
        except yaml.YAMLError:
            text = ""
        status = {"state": row.get("status"), "source": self.kind,
                  f"{self.kind}_url": row.get(f"{self.kind}_url")}
        return RunDetail(run_id=run_id, row=row, status=status, config=config,
                         config_text=text, results=found["results"],
                         events=with_epochs(found["events"], found["summary"]))
