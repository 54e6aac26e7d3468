"""Follow a growing text log by byte offset (tail -f without inotify, which NFS lacks)."""

from __future__ import annotations

from pathlib import Path

from emotui.core.events import FileFollower


class TextTail(FileFollower):
    """``poll()`` returns the complete lines appended since the last call.

    The first poll starts at most ``backlog`` bytes from the end, so a huge log opens at once.
    A partial last line waits for its newline; a shrunk or replaced file is read from the start.
    """

    def __init__(self, path: Path, backlog: int = 256 * 1024):
        super().__init__(path, offset=None)
        self.backlog = backlog
        self._mid_line_start = False

    def initial_offset(self, size: int) -> int:
        offset = max(0, size - self.backlog)
        # Only the backlog start can land mid-line; afterwards offsets sit after a newline.
        self._mid_line_start = offset > 0 and self._byte_before(offset) != b"\n"
        return offset

    def poll(self) -> list[str]:
        chunk = self.read_complete()
        if self.restarted:
            self._mid_line_start = False  # read again from byte 0: the first line is whole
        if not chunk:
            return []
        lines = chunk.decode("utf-8", errors="replace").splitlines()
        if self._mid_line_start:
            self._mid_line_start = False
            return lines[1:]
        return lines

    def _byte_before(self, offset: int) -> bytes:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset - 1)
                return fh.read(1)
        except OSError:
            return b""
