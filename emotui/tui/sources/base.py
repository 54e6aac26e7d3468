"""The run-source interface the screens depend on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol


@dataclass
class RowBatch:
    """Rows that appeared or changed since the previous poll, and ids that disappeared."""

    changed: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # How many runs the source knows after this batch, and whether the scan is complete.
    known: int = 0
    complete: bool = True
    # One-line messages for the user (a remote source that could not refresh, say).
    notices: list[str] = field(default_factory=list)


@dataclass
class RunDetail:
    """Everything the detail screen shows that is not streamed (streams come from the pollers)."""

    run_id: str
    row: dict[str, Any]
    status: dict[str, Any]
    config: dict[str, Any]
    config_text: str
    results: dict[str, Any]
    # Files the detail screen tails; None when the source has no files (a remote source).
    metrics_path: Path | None = None
    log_paths: dict[str, Path] = field(default_factory=dict)
    # A source without files (W&B) gives the run's metric events here instead (metrics.jsonl
    # shapes, e.g. emotui.tracking.sources.record_detail()["events"]).
    events: list[dict[str, Any]] | None = None


class RunSource(Protocol):
    """A place runs come from: the local store, W&B, ..."""

    name: str
    # Whether runs of this source can be cancelled, resumed and deleted from the TUI.
    controllable: bool

    def poll(self) -> Iterator[RowBatch]:
        """Batches of new or changed rows since the last call (the first call yields them all)."""
        ...

    def detail(self, run_id: str) -> RunDetail:
        """One run's status, config, results and the files to tail."""
        ...
