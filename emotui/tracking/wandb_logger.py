"""Log an emotui run to W&B (``--report_to wandb``), online or offline, never in training's way.

The W&B run lives inside the run directory (``runs/<id>/wandb/``) and has the emotui run id as
its W&B id, so a requeued or resumed run continues the same W&B run and a W&B run links back to
its directory without a lookup table. Every failure (no key, a rejected key, no network, a W&B
bug) becomes one warning line; W&B then logs offline (upload later with ``emotui sync``) or stops,
and training goes on with its local files.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from emotui.core.config import RunConfig
from emotui.core.runstore import RunPaths
from emotui.core.seeds import GROUP_FIELD
from emotui.core.status import read_status
from emotui.core.vocabulary import ResultKey
from emotui.tracking import keys
from emotui.tracking.settings import (
    DEFAULT_PROJECT, STATUS_KEY, WandbSettings, base_url, explain_failure, has_credentials,
    reachable, resolve,
)

log = logging.getLogger("emotui.tracking")

INIT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
# Online finish() waits for the upload; past this W&B gives up, keeps the data on disk for
# `emotui sync`, and the run ends anyway.
FINISH_TIMEOUT_S = 60.0


class WandbLogger:
    """The RunLogger for W&B. Methods never raise: a failure disables W&B with one warning."""

    def __init__(self, config: RunConfig, paths: RunPaths):
        self.config = config
        self.paths = paths
        self.run: Any = None
        self.mode: str | None = None
        self.warning: str | None = None
        self._lock = threading.Lock()

    # -- RunLogger ------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except Exception as exc:  # noqa: BLE001 - W&B must never stop a run
            self._give_up(f"W&B logging off: {_one_line(exc)}; training goes on with local logs")
            return {"wandb_warning": self.warning}

    def log_event(self, event: dict[str, Any]) -> None:
        if self.run is None:
            return
        row = keys.event_to_wandb(event)
        if not row:
            return
        try:
            with self._lock:
                self.run.log(row)
        except Exception as exc:  # noqa: BLE001
            self._give_up(f"W&B logging stopped: {_one_line(exc)}; local logging continues")

    def finish(self, results: dict[str, Any], ok: bool) -> None:
        run = self.run
        if run is None:
            return
        try:
            with self._lock:
                summary = keys.results_to_summary(results or {})
                if summary:
                    run.summary.update(summary)
                self._log_confusion_matrix(results or {})
                run.finish(exit_code=0 if ok else 1)
        except Exception as exc:  # noqa: BLE001
            self._give_up(f"W&B could not finish the run: {_one_line(exc)}")
        finally:
            self.run = None

    # -- internals ------------------------------------------------------------------------------

    def settings(self) -> WandbSettings:
        status = read_status(self.paths)
        settings = resolve(status.get(STATUS_KEY))
        # Unless the user chose a group: the runs of one `emotui run --seeds` form a W&B group
        # (W&B then shows their mean and spread), and sweep trials are grouped by their sweep.
        if not settings.group and status.get(GROUP_FIELD):
            settings.group = str(status[GROUP_FIELD])
        if not settings.group and status.get("sweep_id"):
            settings.group = str(status["sweep_id"])
        if not settings.name:
            settings.name = self.config.run_name or self.paths.run_id
        method = self.config.method
        if method not in settings.tags:
            settings.tags = [*settings.tags, method]
        return settings

    def _start(self) -> dict[str, Any]:
        settings = self.settings()
        if settings.mode == "disabled":
            return {"wandb_mode": "disabled"}
        mode = settings.mode
        notes: list[str] = []
        if mode == "online":
            problem = None if has_credentials() else (
                "no W&B API key (set WANDB_API_KEY or run 'wandb login')")
            if problem is None:
                unreachable = reachable(timeout=CONNECT_TIMEOUT_S)
                problem = f"W&B unreachable: {unreachable}" if unreachable else None
            if problem:
                mode = "offline"
                notes.append(problem)

        import wandb

        self.paths.wandb.mkdir(exist_ok=True)
        try:
            run = self._init(wandb, settings, mode)
        except Exception as exc:  # noqa: BLE001 - rejected key, server error, timeout
            if mode != "online":
                raise
            notes.append(f"W&B online start failed: "
                         f"{explain_failure(exc, base_url(), INIT_TIMEOUT_S)}")
            mode = "offline"
            # wandb-core keeps the failed run's id registered in this process: the offline
            # copy takes a derived id (the config's emotui_run_id still links it).
            run = self._init(wandb, settings, mode, run_id=f"{self.paths.run_id}-offline")
        self.run, self.mode = run, mode
        # The study's dashboards plot against train/global_step (HF Trainer's WandbCallback).
        run.define_metric(keys.STEP_KEY)
        run.define_metric("*", step_metric=keys.STEP_KEY, step_sync=True)
        fields: dict[str, Any] = {
            "wandb_run_id": run.id,
            "wandb_url": getattr(run, "url", None) if mode == "online" else None,
            "wandb_project": getattr(run, "project", None) or settings.project,
            "wandb_entity": (getattr(run, "entity", None) or settings.entity) or None,
            "wandb_mode": mode,
            "wandb_dir": os.path.relpath(os.path.dirname(run.dir), self.paths.root)
            if getattr(run, "dir", None) else None,
        }
        if notes:
            self.warning = ("; ".join(notes) + "; logging to W&B offline instead "
                            f"(upload later: emotui sync {self.paths.run_id})")
            log.warning(self.warning)
            fields["wandb_warning"] = self.warning
        return fields

    def _init(self, wandb: Any, settings: WandbSettings, mode: str,
              run_id: str | None = None) -> Any:
        init_settings = wandb.Settings(
            base_url=base_url(),  # the server the reachability check probed
            init_timeout=INIT_TIMEOUT_S,
            finish_timeout=FINISH_TIMEOUT_S,
            console="off",  # emotui already captures stdout/stderr into the run directory
            silent=True,
            # No git remote (it can hold credentials) or code snapshot in W&B's metadata.
            disable_git=True,
            disable_code=True,
            save_code=False,
            # W&B records argv with the host metadata; leave both out when argv holds a token.
            x_disable_meta=_argv_has_secret(),
            reinit="create_new",
        )
        in_sweep_agent = bool(os.environ.get("WANDB_SWEEP_ID"))
        project, group = settings.project, settings.group
        if in_sweep_agent:
            # The agent has set the run id, project and sweep (W&B groups by sweep itself);
            # emotui's defaults must not contradict them.
            if project == DEFAULT_PROJECT and not os.environ.get("WANDB_PROJECT"):
                project = None
            if group and group == read_status(self.paths).get("sweep_id"):
                group = None
        return wandb.init(
            # Under `wandb agent` the agent assigns the id; otherwise the emotui run id.
            id=(os.environ.get("WANDB_RUN_ID") or None) if in_sweep_agent
            else (run_id or self.paths.run_id),
            resume="allow" if mode == "online" and not in_sweep_agent else None,
            project=project,
            entity=settings.entity,
            group=group,
            tags=settings.tags or None,
            name=settings.name,
            notes=settings.notes,
            job_type=settings.job_type,
            config=keys.wandb_config(self.config.to_dict(), self.paths.run_id),
            dir=str(self.paths.wandb.parent),  # wandb adds the "wandb" folder itself
            mode=mode,
            settings=init_settings,
        )

    def _log_confusion_matrix(self, results: dict[str, Any]) -> None:
        matrix = results.get(ResultKey.CONFUSION_MATRIX)
        names = results.get(ResultKey.LABEL_NAMES)
        if not (isinstance(matrix, list) and matrix and isinstance(matrix[0], list)):
            return
        names = list(names) if names and len(names) == len(matrix) else [
            str(i) for i in range(len(matrix))]
        import wandb

        # The table wandb.plot.confusion_matrix builds, from counts rather than predictions.
        table = wandb.Table(columns=["Actual", "Predicted", "nPredictions"])
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                table.add_data(names[i], names[j], int(count))
        chart = wandb.plot_table(
            "wandb/confusion_matrix/v1", table,
            {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
            {"title": "Test confusion matrix"},
        )
        self.run.log({"test/confusion_matrix": chart})

    def _give_up(self, message: str) -> None:
        self.warning = message
        log.warning(message)
        run, self.run = self.run, None
        if run is not None:
            try:
                run.finish(exit_code=1)
            except Exception:  # noqa: BLE001 - already failing; the warning above says so
                log.debug("W&B finish after failure also failed", exc_info=True)


_SECRET_FLAGS = ("--token", "--hub_token", "--hub-token", "--push_to_hub_token",
                 "--push-to-hub-token", "--api_key", "--api-key")


def _argv_has_secret() -> bool:
    import sys

    return any(arg.split("=", 1)[0] in _SECRET_FLAGS for arg in sys.argv)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
