"""Experiment trackers (W&B). The train layer reports through ``open_logger``; nothing here is
imported at start-up, and W&B itself is imported only when a run asks for it."""

from __future__ import annotations

from typing import Any, Protocol

from emotui.core.config import RunConfig
from emotui.core.runstore import RunPaths


class RunLogger(Protocol):
    """What the training loop calls; every method must be cheap and must never raise."""

    def start(self) -> dict[str, Any]:
        """Open the tracker run; returns fields for status.json (e.g. wandb_run_id, wandb_url)."""

    def log_event(self, event: dict[str, Any]) -> None:
        """One metrics.jsonl event (train step, eval epoch, test)."""

    def finish(self, results: dict[str, Any], ok: bool) -> None:
        """Final results (results.json contents); ok is False when the run failed."""


class NullLogger:
    """report_to none."""

    def start(self) -> dict[str, Any]:
        return {}

    def log_event(self, event: dict[str, Any]) -> None:
        pass

    def finish(self, results: dict[str, Any], ok: bool) -> None:
        pass


def open_logger(config: RunConfig, paths: RunPaths) -> RunLogger:
    if config.report_to in ("wandb", "all"):
        from emotui.tracking.wandb_logger import WandbLogger

        return WandbLogger(config, paths)
    return NullLogger()
