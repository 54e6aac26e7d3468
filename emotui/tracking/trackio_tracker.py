"""Hugging Face trackio as an emotui tracker: offline, into a local SQLite database.

A run with ``--report_to trackio`` logs its config, its training and evaluation metrics and its
results under W&B's key names (``train/loss``, ``eval/accuracy``, ``test/accuracy``, step
``train/global_step``) into the trackio project the user names, in trackio's own database
(``$TRACKIO_DIR``; trackio's dashboard shows it: ``trackio show --project NAME``). The trackio run
is named by the emotui run id, so a resumed run continues it and compare links it back. Nothing
goes over the network while training: a Space named with ``--trackio-space-id`` is recorded in
the project, and ``trackio sync --project NAME`` uploads it when the user chooses.

Precedence, lowest first: the user config's ``trackio:`` section < TRACKIO_PROJECT /
TRACKIO_SPACE_ID < the run's own choices (flags or a ``--config`` file's ``trackio:`` section),
which travel in status.json (``trackio_settings``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from emotui.core.errors import ConfigError
from emotui.core.settings import Schema, layer_settings, setting
from emotui.core.userconfig import user_layer
from emotui.tracking.trackers import Tracker

if TYPE_CHECKING:
    from emotui.core.config import RunConfig
    from emotui.core.runstore import RunPaths
    from emotui.tracking import RunLogger
    from emotui.tracking.wandb_api import ProjectRuns

DEFAULT_PROJECT = "emotui"
# Keys of the user config's trackio: section that are emotui's own (the project the TUI shows).
EMOTUI_KEYS = frozenset({"tui_project"})
ENV_VARS = {"project": "TRACKIO_PROJECT", "space_id": "TRACKIO_SPACE_ID"}
SECRET_KEYS = frozenset({"token", "hf_token", "write_token", "api_key", "key", "password"})


@dataclass
class TrackioSettings:
    """Where a run logs in trackio (never a token)."""

    project: str = setting(DEFAULT_PROJECT, "trackio project (its database: "
                           "$TRACKIO_DIR/<project>.db)", metavar="NAME")
    space_id: str | None = setting(
        None, "Hugging Face Space the project belongs to: recorded only; 'trackio sync "
        "--project NAME' uploads it later", metavar="USER/SPACE")
    group: str | None = setting(None, "trackio run group (sweep trials: the sweep id)",
                                metavar="NAME")


def _refuse_secrets(key: str, raw_key: str, source: str) -> None:
    if key.lower() in SECRET_KEYS:
        raise ConfigError(f"'trackio: {raw_key}' in {source}: emotui takes no token from files "
                          "(trackio logs locally; 'huggingface-cli login' holds the token for "
                          "'trackio sync')")


TRACKIO_SETTINGS = Schema.of(
    TrackioSettings, "trackio", prefix="trackio ", others=EMOTUI_KEYS, skip_empty=True,
    fold_case=True, flag_prefix="trackio", dest_prefix="trackio_", underscore_flags="second",
    refuse=_refuse_secrets,
)


def resolve(run_choices: Mapping[str, Any] | None = None, *,
            user: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> TrackioSettings:
    """The effective settings: user config < environment < the run's own choices."""
    env = os.environ if environ is None else environ
    user_config = user_layer("trackio") if user is None else ("user config", user)
    return layer_settings(TRACKIO_SETTINGS, [
        user_config,
        ("the environment", {key: env[var] for key, var in ENV_VARS.items() if env.get(var)}),
        ("the run's settings", run_choices or {}),
    ]).build()


class TrackioProject:
    """One trackio project as a run source: read from its database on each refresh."""

    def __init__(self, project: str, db: Path):
        self.entity = None
        self.project = project
        self.db = db

    @property
    def path(self) -> str:
        return self.project

    @classmethod
    def from_text(cls, text: str | None) -> "TrackioProject":
        """A project name (empty: the configured one) or the path of its ``.db`` file."""
        # lazy: keeps `emotui --help` fast (5 ms)
        from emotui.tracking.trackio_store import canonical_name, project_db

        text = (text or "").strip()
        if text.endswith(".db") or os.sep in text:
            path = Path(text).expanduser()
            return cls(path.stem, path)
        project = text or resolve().project
        if canonical_name(project) != project:
            raise ConfigError(f"'{project}' is not a trackio project name (letters, digits, "
                              "- and _; or the path of its .db file)")
        return cls(project, project_db(project))

    def cached(self) -> "ProjectRuns | None":
        return None  # the database is local: read it, nothing to cache

    def refresh(self) -> "ProjectRuns":
        # lazy: keeps `emotui --help` fast (8 ms)
        from emotui.tracking.trackio_store import TrackioDatabase
        from emotui.tracking.wandb_api import ProjectRuns

        records = TrackioDatabase(self.db, self.project).records()
        return ProjectRuns(None, self.project, records, time.time())

    def load(self, *, refresh: bool = False) -> "ProjectRuns":
        return self.refresh()

    def history(self, run_id: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        from emotui.tracking.trackio_store import TrackioDatabase  # lazy: as in refresh

        return TrackioDatabase(self.db, self.project).history(run_id)


def _logger(config: "RunConfig", paths: "RunPaths") -> "RunLogger":
    # lazy: trackio_logger imports this module (and keeps `emotui --help` fast: 6 ms)
    from emotui.tracking.trackio_logger import TrackioLogger

    return TrackioLogger(config, paths)


TRACKER = Tracker(
    name="trackio", label="trackio", settings=TRACKIO_SETTINGS, logger=_logger,
    project=TrackioProject.from_text,
    flags_help="Defaults: the --config file's trackio: section, then TRACKIO_PROJECT and "
    "TRACKIO_SPACE_ID, then the trackio: section of ~/.config/emotui/config.yaml. Runs are "
    "written to trackio's local database ($TRACKIO_DIR, default ~/.cache/huggingface/trackio), "
    "never uploaded while training.",
    refresh_every_s=5.0,
)
