"""A TUI in a pseudo-terminal of its own, for key-to-screen latency: a key is written to the
terminal and the time is taken when the app has written the text that answers it.

Why not tmux: a tmux measurement polls ``capture-pane`` (a new process every few ms), which on a
2-core machine competes with the app it measures and rounds every figure up to its poll. Here a
thread reads the terminal as the app writes to it, so a frame's arrival time is when the app
wrote it; what a terminal emulator then takes to draw it (about a millisecond) is not counted.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import termios
import threading
import time
from typing import Callable

# Escape sequences (CSI, OSC, two-byte ESC x): stripped before looking for text, so a phrase
# written with colours between its words still reads as written.
_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class PtyApp:
    """``command`` (argv) in a terminal ``width`` x ``height``; everything it writes is kept
    with the time it arrived."""

    def __init__(self, command: list[str], env: dict[str, str], width: int = 160,
                 height: int = 50):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self._chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the app exited (EIO on Linux)
                data = b""
            with self._arrived:
                if data:
                    self._chunks.append((time.perf_counter(), data))
                self._arrived.notify_all()
            if not data:
                return

    def mark(self) -> int:
        """Where the output is now: wait() looks only at what arrives after it."""
        with self._lock:
            return len(self._chunks)

    def send(self, keys: bytes) -> float:
        """Write keys as typed; the time they were written."""
        os.write(self.master, keys)
        return time.perf_counter()

    def wait(self, text: str, since: int, timeout: float) -> float | None:
        """The arrival time of the output that, with what came after ``since``, first holds
        ``text``; None if it did not come within ``timeout`` seconds."""
        needle = text.encode()
        return self.wait_for(lambda seen: needle in seen, since, timeout)

    def wait_for(self, test: Callable[[bytes], bool], since: int,
                 timeout: float) -> float | None:
        """As wait(), for the first output for which ``test`` holds of the text (escapes
        stripped) that came after ``since``: its last 4 KiB and the piece just read."""
        deadline = time.perf_counter() + timeout
        seen = b""
        index = since
        with self._arrived:
            while True:
                while index < len(self._chunks):
                    at, data = self._chunks[index]
                    index += 1
                    # Stripped piece by piece, with the tail of the text before (a phrase
                    # or an escape may be split across two reads).
                    seen = _ESCAPES.sub(b"", seen[-4096:] + data)
                    if test(seen):
                        return at
                left = deadline - time.perf_counter()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self._arrived.wait(min(left, 0.5))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass
