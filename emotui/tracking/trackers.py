"""What emotui needs of an experiment tracker, the same for each one (W&B, trackio, ...).

A tracker is one module of this package defining ``TRACKER = Tracker(...)``, named in
``emotui.core.trackers.TRACKERS``. From it follow: ``--report_to`` (a ``RunLogger`` per run),
its flags (``--<name>-<setting>``, in ``emotui run``, ``sweep``, ``study``) and the ``<name>:``
section of a ``--config`` file and of the user config, the run's choices kept in status.json
(``<name>_settings``) so a job elsewhere logs where the user asked, ``emotui compare --<name>
PROJECT`` and the TUI's ``--<name> PROJECT`` rows, merged into the local run they belong to by
one rule (``emotui.tracking.sources.merge_rows``).

Loading a tracker's module must stay cheap: the tracker's library is imported only by its
logger (in the job) or its reader (when a project is read).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from emotui.core.settings import Schema, layer_settings
from emotui.core.trackers import TRACKERS, tracker_spec

if TYPE_CHECKING:
    from emotui.core.config import RunConfig
    from emotui.core.runstore import RunPaths
    from emotui.tracking import RunLogger
    from emotui.tracking.wandb_api import ProjectRuns


class TrackerProject(Protocol):
    """One project of a tracker, read for tables: run records (``keys.record_to_row``'s
    input) and a run's history rows (``keys.history_to_events``'s input)."""

    def cached(self) -> "ProjectRuns | None":
        """What is known without asking the tracker (a cache; None: nothing)."""
        ...

    def refresh(self) -> "ProjectRuns":
        """Read the project now (raises the tracker's ``EmotuiError`` when it cannot)."""
        ...

    def load(self, *, refresh: bool = False) -> "ProjectRuns":
        """The cache unless ``refresh`` or none, else ``refresh()``."""
        ...

    def history(self, run_id: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        """One run's logged rows, oldest first."""
        ...


@dataclass(frozen=True)
class Tracker:
    """One experiment tracker, as the rest of emotui sees it."""

    name: str  # the report_to value; flags --<name>-..., the <name>: section, --<name> PROJECT
    label: str  # for people: "W&B", "trackio"
    settings: Schema  # the run's choices (project, ...); never a secret
    # The logger of one run (called in the job; imports the tracker's library).
    logger: Callable[["RunConfig", "RunPaths"], "RunLogger"]
    # A project named on the command line or in the user config (None: the configured one).
    project: Callable[[str | None], TrackerProject]
    flags_help: str = ""  # the description of its flags' group
    # How often the TUI reads a shown project again (a remote API: minutes; a local file: s).
    refresh_every_s: float = 300.0

    @property
    def status_key(self) -> str:
        """Where a run's own choices travel in its status.json."""
        return f"{self.name}_settings"

    def run_choices(self, flags: Mapping[str, Any] | None,
                    sections: Mapping[str, Any] | None = None, *,
                    config_file: str | None = None) -> dict[str, Any]:
        """The run's own choices: the ``--config`` file's ``<name>:`` section overridden by
        ``flags`` (this tracker's settings given on the command line)."""
        return layer_settings(self.settings, [
            (f"{config_file or '--config'} ({self.name}:)", (sections or {}).get(self.name)),
            ("command line", dict(flags or {})),
        ]).values


def tracker(name: str) -> Tracker:
    """The tracker registered under ``name`` (its module imported now)."""
    return importlib.import_module(tracker_spec(name).module).TRACKER


def all_trackers() -> list[Tracker]:
    return [tracker(spec.name) for spec in TRACKERS]
