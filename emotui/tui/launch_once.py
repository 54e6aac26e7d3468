"""A launch dialog's submit happens once, however often it is pressed: the press runs on a worker
thread, and a second press (or Enter in a field as well as the button) must not start a second
run, sweep or study. The launch form and the new-study dialog share it."""

from __future__ import annotations

import threading
from typing import Callable

from emotui.core.errors import EmotuiError


class LaunchOnce:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.launched = False

    def __call__(self, launch: Callable[[], str]) -> tuple[str | None, str | None] | None:
        """(what was launched, None) or (None, the one-line error: nothing was launched, another
        press may try again); None when an earlier press launched."""
        with self._lock:
            if self.launched:
                return None
            try:
                launched = launch()
            except EmotuiError as exc:
                return None, str(exc)
            self.launched = True
            return launched, None
