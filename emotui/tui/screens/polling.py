"""A screen that follows files while it is shown: one thread worker reads them in a loop, posts
what changed, and sleeps between reads; closing the screen stops it, coming back wakes it, and a
worker that failed is started again after RETRY_S (tui.worker_errors).

The studies list and a study's screen are such screens. Each names its loop's worker
(``POLL_WORKER``) and the method that starts it (``POLL_METHOD``)."""

from __future__ import annotations

import threading

from textual.worker import Worker

from emotui.tui.worker_errors import RETRY_S


class PollingScreen:
    """Mixed into a Screen (before it, after WorkerErrors)."""

    POLL_WORKER = ""
    POLL_METHOD = ""

    def init_polling(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._closing = False

    def polling_stopped(self, worker: Worker) -> bool:
        return worker.is_cancelled or self._closing

    def sleep_after_read(self, took: float) -> None:
        """Until the next read: a read of many files on a slow filesystem never takes most of
        the time (at least four times its own length)."""
        self._wake.wait(max(self.poll_interval, 4 * took))
        self._wake.clear()

    def on_unmount(self) -> None:
        self._closing = True
        self._wake.set()

    def restart_failed(self, worker: Worker) -> float | None:
        if worker.name != self.POLL_WORKER or self._closing:
            return None
        self.set_timer(RETRY_S, getattr(self, self.POLL_METHOD))  # type: ignore[attr-defined]
        return RETRY_S

    def on_screen_resume(self) -> None:
        self._wake.set()  # back from a run, a study or the launcher: read again now
