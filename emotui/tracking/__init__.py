"""Experiment trackers (W&B, trackio; their interface: emotui.tracking.trackers). The train
layer reports through ``open_logger``; nothing here is imported at start-up, and a tracker's
library is imported only when a run asks for it."""

from __future__ import annotations

from typing import Any, Protocol

from emotui.core.config import RunConfig
from emotui.core.runstore import RunPaths
from emotui.core.trackers import reported_to
from emotui.tracking.trackers import tracker


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


class FanOutLogger:
    """Several trackers (report_to all): each told everything, in turn."""

    def __init__(self, loggers: list[RunLogger]):
        self.loggers = loggers

    def start(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for logger in self.loggers:
            fields.update(logger.start() or {})
        return fields

    def log_event(self, event: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_event(event)

    def finish(self, results: dict[str, Any], ok: bool) -> None:
        for logger in self.loggers:
            logger.finish(results, ok)


def open_logger(config: RunConfig, paths: RunPaths) -> RunLogger:
    """The loggers of the trackers ``report_to`` names (emotui.core.trackers), one or several."""
    loggers = [tracker(spec.name).logger(config, paths) for spec in reported_to(config.report_to)]
    if not loggers:
        return NullLogger()
    return loggers[0] if len(loggers) == 1 else FanOutLogger(loggers)
