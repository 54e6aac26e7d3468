"""metrics.jsonl: append-only metric events, one JSON object per line, flushed per line.

Event shapes (every event has ``time``, ``split`` and ``step``):
- train:  {"split": "train", "step", "epoch", "loss", "learning_rate", "grad_norm", "samples_per_second",
           "tokens_per_s", "pad_fraction"}
- eval:   {"split": "eval",  "step", "epoch", "loss", "accuracy", "macro_f1"}
- test:   {"split": "test",  "step", "epoch", "loss", "accuracy", "macro_f1"}
- system: {"split": "system", "step", "cpu_percent", "rss_bytes"} every few seconds, plus
          "gpu_util", "gpu_mem_used_bytes", "gpu_mem_total_bytes" on a GPU (absent without one)

Readers poll with a byte offset (inotify does not fire on NFS) and leave a torn last line for
the next poll.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf; a diverged loss is recorded as null plus a flag the UI can show.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsWriter:
    """Appends events to metrics.jsonl; each line is written and flushed whole."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, split: str, step: int, **fields: Any) -> dict[str, Any]:
        event = {"time": round(time.time(), 3), "split": split, "step": int(step)}
        for key, value in fields.items():
            event[key] = _clean(value)
            if isinstance(value, float) and not math.isfinite(value):
                event.setdefault("nonfinite", []).append(key)
        self._fh.write(json.dumps(event) + "\n")
        self._fh.flush()
        return event

    def close(self) -> None:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except (OSError, ValueError):
            pass  # already closed, or the filesystem went away: nothing left to save
        self._fh.close()

    def __enter__(self) -> "MetricsWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def truncate_after_step(path: Path, step: int) -> None:
    """Drop events past ``step`` (resume from a checkpoint must not duplicate steps).

    Test events are dropped too: a resumed run predicts the test split again at its end. So
    is a torn last line (a kill or a full disk mid-append), which the next append would extend
    into a broken line in the middle of the file.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return
    lines = [line for line in raw.splitlines() if line.strip()]
    events = list(parse_lines(lines))
    kept = [e for e in events if int(e.get("step", 0)) <= step and e.get("split") != "test"]
    if len(kept) == len(events) == len(lines) and (not raw or raw.endswith(b"\n")):
        return
    from emotui.core.runstore import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))


class FileFollower:
    """Follows a growing file by byte offset (tail -f without inotify, which NFS lacks).

    ``read_complete()`` returns the whole lines appended since the last call; a torn last line
    waits for its newline. A shrunk or replaced file (resume truncation writes a new one) is read
    from the start, and ``restarted`` says so for that call.
    """

    def __init__(self, path: Path, offset: int | None = 0):
        self.path = Path(path)
        self.offset = offset  # None: let initial_offset() choose at the first read
        self._inode: int | None = None
        self.restarted = False

    def initial_offset(self, size: int) -> int:
        return 0

    def read_complete(self) -> bytes:
        self.restarted = False
        try:
            with open(self.path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                if self.offset is None:
                    self.offset = self.initial_offset(stat.st_size)
                elif stat.st_size < self.offset or self._inode not in (None, stat.st_ino):
                    self.offset, self.restarted = 0, True
                self._inode = stat.st_ino
                fh.seek(self.offset)
                chunk = fh.read()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return b""  # nothing to follow (yet); a reader never fails on what a file holds
        end = chunk.rfind(b"\n")
        if end < 0:
            return b""
        self.offset += end + 1
        return chunk[: end + 1]


class MetricsReader(FileFollower):
    """Incremental reader: ``poll()`` returns the events appended since the last call;
    after a poll with ``restarted`` set, consumers drop what they had and take the lot."""

    def poll(self) -> list[dict[str, Any]]:
        return list(parse_lines(self.read_complete().splitlines()))


def parse_lines(lines: Iterable[bytes | str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # a torn or foreign line: skip it rather than stop the reader
        if isinstance(event, dict):
            yield event


def read_all(path: Path) -> list[dict[str, Any]]:
    return MetricsReader(path).poll()
