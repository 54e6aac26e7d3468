"""W&B as an emotui tracker: ``wandb_logger`` writes, ``wandb_api`` reads a project (cached),
``settings`` holds its settings and where they come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emotui.tracking.settings import WANDB_SETTINGS
from emotui.tracking.trackers import Tracker

if TYPE_CHECKING:
    from emotui.core.config import RunConfig
    from emotui.core.runstore import RunPaths
    from emotui.tracking import RunLogger
    from emotui.tracking.wandb_api import WandbProject


def _logger(config: "RunConfig", paths: "RunPaths") -> "RunLogger":
    from emotui.tracking.wandb_logger import WandbLogger  # lazy: keeps `emotui --help` fast (3 ms)

    return WandbLogger(config, paths)


def _project(text: str | None) -> "WandbProject":
    from emotui.tracking.wandb_api import WandbProject  # lazy: keeps `emotui --help` fast (4 ms)

    return WandbProject.from_path(text)


TRACKER = Tracker(
    name="wandb", label="W&B", settings=WANDB_SETTINGS, logger=_logger, project=_project,
    flags_help="Defaults: the --config file's wandb: section, then WANDB_* variables, then the "
    "wandb: section of ~/.config/emotui/config.yaml. The API key comes from WANDB_API_KEY or "
    "'wandb login' only.",
    refresh_every_s=300.0,
)
