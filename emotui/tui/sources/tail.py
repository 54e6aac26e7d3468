"""Follow a growing text file by byte offset (tail -f without inotify, which NFS lacks)."""

from __future__ import annotations

import os
from pathlib import Path


class TextTail:
    """``poll()`` returns the complete lines appended since the last call.

    The first poll starts at most ``backlog`` bytes from the end, so a huge log opens at once.
    A partial last line waits for its newline; a shrunk or replaced file is read from the start.
    """

    def __init__(self, path: Path, backlog: int = 256 * 1024):
        self.path = Path(path)
        self.backlog = backlog
        self.offset: int | None = None
        self._inode: int | None = None

    def poll(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                if self.offset is None:
                    self.offset = max(0, stat.st_size - self.backlog)
                elif stat.st_size < self.offset or self._inode not in (None, stat.st_ino):
                    self.offset = 0
                self._inode = stat.st_ino
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        skip_partial = self.offset > 0 and self._started_mid_line()
        self.offset += end + 1
        lines = chunk[: end + 1].decode("utf-8", errors="replace").splitlines()
        return lines[1:] if skip_partial else lines

    def _started_mid_line(self) -> bool:
        # Only the backlog start can land mid-line; afterwards offsets sit after a newline.
        if getattr(self, "_checked", False):
            return False
        self._checked = True
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset - 1)
                return fh.read(1) != b"\n"
        except OSError:
            return False
