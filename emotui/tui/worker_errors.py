"""Where an unexpected error in a TUI worker becomes UI: one handler, one notification, one log.

A worker's expected failures (a run that cannot be cancelled, a report that cannot be written)
are messages it posts (tui.outcomes). Anything else it raises is a bug: the worker runs with
``exit_on_error=False``, so it ends the worker and never the app, and the screen that started it
(``WorkerErrors``, harlequin's ``on_worker_state_changed`` is the model) writes the traceback to
the TUI's log (``tui.log`` in the user's state folder) and shows one notification naming what
failed and where the traceback is. A screen whose worker is a loop (polling the store, following
a run) starts it again after RETRY_S; the same error again is not notified again.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from textual.worker import Worker, WorkerState

from emotui.core.userconfig import user_state_dir

LOG_FILE = "tui.log"
MAX_LOG_BYTES = 1_000_000  # then the log moves to tui.log.1 (one old file kept)
RETRY_S = 5.0

# What the user was waiting for when each named worker failed.
WHAT_FAILED = {
    "poll-runs": "Reading the run store",
    "follow-run": "Following the run",
    "load-prefill": "Reading the run's config",
    "cancel-runs": "Cancelling", "cancel-run": "Cancelling",
    "resume-runs": "Resuming", "resume-run": "Resuming",
    "delete-runs": "Deleting",
    "load-compare": "Loading the comparison",
    "export-comparison": "Exporting the comparison",
    "write-report": "Writing the report", "write-sweep-report": "Writing the report",
    "submit-run": "Submitting the run",
    "launch-sweep": "Launching the sweep",
    "poll-studies": "Reading the studies", "poll-study": "Reading the study",
    "find-studies": "Listing the studies", "find-study-files": "Looking for study files",
    "plan-study": "Reading the study file", "launch-study": "Launching the study",
    "write-study-report": "Writing the study's report",
}


def log_path() -> Path:
    """The TUI's own log: tracebacks of what went wrong in its workers."""
    return user_state_dir() / LOG_FILE


def _fallback_log() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"emotui-{uid}-{LOG_FILE}"


def write_details(where: str, worker: Worker, error: BaseException) -> tuple[Path | None, str]:
    """Append the worker's traceback to the TUI's log (a temporary file when the state folder
    cannot be written): (the file, "") or (None, why nothing could be written)."""
    entry = (f"{time.strftime('%Y-%m-%d %H:%M:%S')} {where}: worker {worker.name!r} "
             f"(group {worker.group!r}) failed\n"
             + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    why = ""
    for path in (log_path(), _fallback_log()):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
                path.replace(path.with_name(path.name + ".1"))
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(entry + "\n")
            return path, ""
        except OSError as exc:
            why = f"{path}: {exc.strerror or exc}"
    return None, why


def failure_notice(worker: Worker, error: BaseException, log: Path | None, why: str,
                   retry_s: float | None) -> tuple[str, str]:
    """(title, text) of the notification for a worker that raised ``error``."""
    what = WHAT_FAILED.get(worker.name) or f"The {worker.name or 'background'} task"
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text += (f"\nThe traceback is in {log}." if log is not None
             else f"\nThe traceback could not be written ({why}).")
    if retry_s is not None:
        text += f" Trying again every {retry_s:g} s."
    return f"{what} failed", text


class WorkerErrors:
    """Mixed into every screen that starts workers (and the app): reports a worker that raised.

    ``restart_failed(worker)`` is the screen's hook for a worker that should run again (a loop):
    it starts it again later and returns the delay in seconds, or None.
    """

    def restart_failed(self, worker: Worker) -> float | None:
        return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        worker, error = event.worker, event.worker.error
        retry_s = self.restart_failed(worker)
        seen = getattr(self, "_worker_errors_seen", None)
        if seen is None:
            seen = self._worker_errors_seen = set()
        key = (worker.name, type(error).__name__, str(error))
        if key in seen:
            return  # a loop that failed the same way again: logged and told once already
        seen.add(key)
        log, why = write_details(type(self).__name__, worker, error)
        title, text = failure_notice(worker, error, log, why, retry_s)
        node: Any = self
        node.notify(text, title=title, severity="error", timeout=20, markup=False)
