"""Log an emotui run to trackio (``--report_to trackio``), offline, never in training's way.

The trackio run's id and name are the emotui run id (a resumed run continues it; compare links
it back), its config the resolved run config with ``emotui_run_id``, its rows the metric events
under W&B's keys, and its last row the results (trackio has no summary: a reader takes each
key's last value) with ``emotui/exit_code``. trackio writes from its own thread; any failure
becomes one warning line and training goes on with its local files.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from typing import Any

from emotui.core.config import RunConfig
from emotui.core.runstore import RunPaths
from emotui.core.seeds import GROUP_FIELD
from emotui.core.status import read_status
from emotui.tracking import keys
from emotui.tracking.trackio_store import EXIT_KEY, trackio_dir
from emotui.tracking.trackio_tracker import TRACKER, TrackioSettings, resolve

log = logging.getLogger("emotui.tracking")


class TrackioLogger:
    """The RunLogger for trackio. Methods never raise: a failure disables trackio."""

    def __init__(self, config: RunConfig, paths: RunPaths):
        self.config = config
        self.paths = paths
        self.run: Any = None
        self.warning: str | None = None
        self.last_step = 0
        self._lock = threading.Lock()

    def settings(self) -> TrackioSettings:
        status = read_status(self.paths)
        settings = resolve(status.get(TRACKER.status_key))
        # As for W&B: seed replicas form a group, a sweep's trials are grouped by their sweep.
        if not settings.group and status.get(GROUP_FIELD):
            settings.group = str(status[GROUP_FIELD])
        if not settings.group and status.get("sweep_id"):
            settings.group = str(status["sweep_id"])
        return settings

    # -- RunLogger ------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except Exception as exc:  # noqa: BLE001 - trackio must never stop a run
            self._give_up(f"trackio logging off: {_one_line(exc)}; training goes on with "
                          "local logs")
            return {"trackio_warning": self.warning}

    def log_event(self, event: dict[str, Any]) -> None:
        if self.run is None:
            return
        row = keys.event_to_wandb(event)
        if not row:
            return
        step = row.get(keys.STEP_KEY)
        try:
            with self._lock:
                if step is not None:
                    self.last_step = max(self.last_step, int(step))
                self.run.log(row, step=step)
        except Exception as exc:  # noqa: BLE001
            self._give_up(f"trackio logging stopped: {_one_line(exc)}; local logging continues")

    def finish(self, results: dict[str, Any], ok: bool) -> None:
        run = self.run
        if run is None:
            return
        try:
            with self._lock:
                summary = keys.results_to_summary(results or {})
                summary[EXIT_KEY] = 0 if ok else 1
                run.log(summary, step=self.last_step)
                # trackio prints "Uploading logs" while its thread writes the database.
                with contextlib.redirect_stdout(io.StringIO()):
                    run.finish()
        except Exception as exc:  # noqa: BLE001
            self._give_up(f"trackio could not finish the run: {_one_line(exc)}")
        finally:
            self.run = None

    # -- internals ------------------------------------------------------------------------------

    def _start(self) -> dict[str, Any]:
        settings = self.settings()
        run_id = self.paths.run_id
        config = {k: v for k, v in keys.wandb_config(self.config.to_dict(), run_id).items()
                  if not str(k).startswith("_")}  # trackio reserves _keys
        from trackio.run import Run
        from trackio.sqlite_storage import SQLiteStorage

        class OfflineRun(Run):
            """trackio's Run, which otherwise asks the Hub who the user is (a network call
            with the user's token, to label the run): emotui logs offline."""

            def _get_username(self) -> str | None:
                return None

        if settings.space_id:
            # trackio sync --project NAME uploads the project to this Space later.
            SQLiteStorage.set_project_metadata(settings.project, "space_id", settings.space_id)
        self.run = OfflineRun(url=None, project=settings.project, client=None, name=run_id,
                              run_id=run_id, group=settings.group, config=config,
                              auto_log_gpu=False, auto_log_cpu=False)
        return {"trackio_project": settings.project, "trackio_run_id": run_id,
                "trackio_dir": str(trackio_dir())}

    def _give_up(self, message: str) -> None:
        self.warning = message
        log.warning(message)
        run, self.run = self.run, None
        if run is not None:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    run.finish()
            except Exception:  # noqa: BLE001 - already failing; the warning above says so
                log.debug("trackio finish after failure also failed", exc_info=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
