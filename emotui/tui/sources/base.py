"""The run-source interface the screens depend on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

if TYPE_CHECKING:
    from emotui.core.runstore import RunStore


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


@dataclass(frozen=True)
class SourceCapabilities:
    """What a run source can do; the screens ask this, never the source's attributes."""

    # New runs and sweeps can be launched into its run store (``RunSource.store``).
    can_launch: bool = False
    # Its runs can be cancelled, resumed, deleted (a source mixing local and remote runs: its
    # local ones; ``RunSource.is_controllable`` answers per run).
    can_cancel: bool = False
    can_resume: bool = False
    can_delete: bool = False
    # ``request_refresh()`` fetches its remote runs again at the next poll (a W&B project).
    can_refresh: bool = False
    # The notice every refused launch or control action shows when the source is look-only on
    # purpose (a read-only session: tui/sources/read_only.py); None: the screens' own words.
    refusal: str | None = None

    @property
    def read_only(self) -> bool:
        """Its runs can only be looked at: nothing is launched, cancelled, resumed or deleted."""
        return not (self.can_launch or self.can_cancel or self.can_resume or self.can_delete)


READ_ONLY = SourceCapabilities()


class RunSource(Protocol):
    """A place runs come from: the local store, W&B, ..."""

    # Which source this is (local:/path/to/runs, wandb:entity/project); ``label`` is for people.
    name: str
    label: str
    capabilities: SourceCapabilities
    # The run store new runs go into and the run actions act on; None for a remote-only source.
    store: RunStore | None

    def poll(self) -> Iterator[RowBatch]:
        """Batches of new or changed rows since the last call (the first call yields them all)."""
        ...

    def detail(self, run_id: str) -> RunDetail:
        """One run's status, config, results and the files to tail."""
        ...

    def is_controllable(self, run_id: str) -> bool:
        """Whether this run can be cancelled, resumed or deleted here (a W&B-only row: no)."""
        ...

    def request_refresh(self) -> None:
        """Fetch the remote runs again at the next poll (nothing to do without can_refresh)."""
        ...


class ReadOnlyRunSource:
    """What a source that only shows runs (a remote project) answers to everything else."""

    name: str
    capabilities = READ_ONLY
    store = None

    @property
    def label(self) -> str:
        return self.name

    def is_controllable(self, run_id: str) -> bool:
        return False

    def request_refresh(self) -> None:
        return None
