"""A W&B project as a read-only run source: the tracker source (tui/sources/tracker.py) with
W&B's defaults. wandb itself is imported by emotui.tracking only inside a fetch, never when this
module loads."""

from __future__ import annotations

from typing import Any

from emotui.tracking.wandb_api import WandbProject
from emotui.tui.sources.tracker import REFRESH_EVERY_S, TrackerRunSource, tracker_row, with_epochs

__all__ = ["REFRESH_EVERY_S", "WandbRunSource", "wandb_row", "with_epochs"]

wandb_row = tracker_row


class WandbRunSource(TrackerRunSource):
    """The runs of one W&B project (``entity/project``); nothing here can be controlled."""

    kind, tracker_label = "wandb", "W&B"

    @classmethod
    def for_path(cls, text: str, **kwargs: Any) -> "WandbRunSource":
        """``entity/project`` or ``project`` (the configured entity); ConfigError when bad."""
        return cls(WandbProject.from_path(text), **kwargs)
