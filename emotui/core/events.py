"""metrics.jsonl: append-only metric events, one JSON object per line, flushed per line.

Event shapes (every event has ``time``, ``split`` and ``step``):
- train:  {"split": "train", "step", "epoch", "loss", "learning_rate", "grad_norm", "samples_per_second",
           "tokens_per_s", "pad_fraction"}
- eval:   {"split": "eval",  "step", "epoch", "loss", "accuracy", "macro_f1"}
- test:   {"split": "test",  "step", "epoch", "loss", "accuracy", "macro_f1"}
- system: {"split": "system", "step", "cpu_percent", "rss_bytes"} every few seconds, plus
          "gpu_util", "gpu_mem_used_bytes", "gpu_mem_total_bytes" on a GPU (absent without one)

The events' names and fields are spelt in core/vocabulary.py (``Event``, ``EventField``).

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

from emotui.core.vocabulary import Event, EventField
from emotui.core.runstore import RunPaths, atomic_write_text, open_for_append


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf; a diverged loss is recorded as null plus a flag the UI can show.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsWriter:
    """Appends events to metrics.jsonl; each line is written and flushed whole."""

    def __init__(self, path: Path):
        self.path = Path(path)
        # Never through a link: a metrics.jsonl replaced by one is refused (LinkedRunFile).
        self._fh = open_for_append(self.path, text=True)

    def write(self, split: str, step: int, **fields: Any) -> dict[str, Any]:
        event = {EventField.TIME: round(time.time(), 3), EventField.SPLIT: split,
                 EventField.STEP: int(step)}
        for key, value in fields.items():
            event[key] = _clean(value)
            if isinstance(value, float) and not math.isfinite(value):
                event.setdefault(EventField.NONFINITE, []).append(key)
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


def truncate_after_step(path: Path, step: int) -> int:
    """Drop events past ``step`` (resume from a checkpoint must not duplicate steps); returns
    how many lines were dropped.

    Test events are dropped too: a resumed run predicts the test split again at its end. So
    is a torn last line (a kill or a full disk mid-append), which the next append would extend
    into a broken line in the middle of the file. Nothing is deleted: the dropped lines go to
    the run's side file first (set_aside).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    lines = [line for line in raw.splitlines() if line.strip()]
    kept_lines, dropped = [], []
    for line in lines:
        event = next(iter(parse_lines([line])), None)
        later = event is None or _step(event) > step or event.get(EventField.SPLIT) == Event.TEST
        (dropped if later else kept_lines).append(line)
    if not dropped and (not raw or raw.endswith(b"\n")):
        return 0
    set_aside(path, dropped, f"past step {step}, where the run resumes")
    kept = list(parse_lines(kept_lines))
    atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))
    return len(dropped)


def _step(event: dict[str, Any]) -> float:
    try:
        return float(event.get(EventField.STEP, 0))
    except (TypeError, ValueError):
        return math.inf  # a line that names no step cannot be placed before the resume point


def set_aside_all(path: Path, why: str) -> int:
    """Move every line of metrics.jsonl ``path`` to the side file (a run that starts over);
    returns how many. The side file has them before metrics.jsonl goes."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    lines = [line for line in raw.splitlines() if line.strip()]
    set_aside(path, lines, why)
    Path(path).unlink(missing_ok=True)
    return len(lines)


def set_aside(path: Path, lines: list[bytes], why: str) -> None:
    """Append ``lines`` of metrics.jsonl ``path`` to its run's side file (RunPaths
    .metrics_set_aside) after one line saying when and why: lines a resume or a restart must
    not keep in metrics.jsonl are kept there, never deleted. Written and synced before the
    caller removes them, so a kill in between leaves them twice, never nowhere."""
    if not lines:
        return
    side = RunPaths(Path(path).parent).metrics_set_aside
    header = {"set_aside": round(time.time(), 3), "why": why, "lines": len(lines)}
    data = (json.dumps(header) + "\n").encode() + b"".join(
        line.rstrip(b"\r\n") + b"\n" for line in lines)
    with open_for_append(side) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


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
        self.more = False

    def initial_offset(self, size: int) -> int:
        return 0

    def read_complete(self, max_bytes: int | None = None) -> bytes:
        """The whole lines appended since the last call; with ``max_bytes``, about that much at
        most (to the end of the line it stops in), and ``more`` says whether more is there
        already: a reader catching up on a large file takes it a piece at a time."""
        self.restarted = False
        self.more = False
        try:
            with open(self.path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                if self.offset is None:
                    self.offset = self.initial_offset(stat.st_size)
                elif stat.st_size < self.offset or self._inode not in (None, stat.st_ino):
                    self.offset, self.restarted = 0, True
                self._inode = stat.st_ino
                fh.seek(self.offset)
                if max_bytes is None:
                    chunk = fh.read()
                else:
                    chunk = fh.read(max_bytes)
                    if len(chunk) == max_bytes and not chunk.endswith(b"\n"):
                        chunk += fh.readline()
                    self.more = self.offset + len(chunk) < stat.st_size
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return b""  # nothing to follow (yet); a reader never fails on what a file holds
        end = chunk.rfind(b"\n")
        if end < 0:
            self.more = False  # a torn last line: it waits for its newline
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


# -- large files: a piece at a time, parsing only the lines that are needed --------------------

# Read this much of a metrics file at a time: a file of hundreds of MB is never held whole.
CHUNK_BYTES = 4 * 2**20
_SPLIT = f'"{EventField.SPLIT}": "'.encode()  # as json.dumps writes it
_TRAIN, _SYSTEM = Event.TRAIN.encode(), Event.SYSTEM.encode()
_NONFINITE = f'"{EventField.NONFINITE}"'.encode()


def split_of(line: bytes) -> bytes | None:
    """The event's split as written (b"train", b"eval", ...) without parsing the line; None when
    the line does not spell it as MetricsWriter does (parse it to know)."""
    start = line.find(_SPLIT)
    if start < 0:
        return None
    start += len(_SPLIT)
    end = line.find(b'"', start)
    return line[start:end] if end > 0 else None


def parse_line(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def iter_lines(path: Path, chunk_bytes: int | None = None) -> Iterable[bytes]:
    """The file's complete lines, read a piece at a time (a torn last line is left out): what
    is held at once is a few times ``chunk_bytes`` (CHUNK_BYTES), whatever the file's size."""
    reader = FileFollower(path)
    while True:
        chunk = reader.read_complete(chunk_bytes or CHUNK_BYTES)
        if chunk:
            yield from chunk.splitlines()
        if not reader.more:
            return


def summary_events(path: Path) -> list[dict[str, Any]]:
    """The events that say how a run went, in file order, read a piece at a time: every
    evaluation and test event, every event that flags a non-finite value, and the last train
    event (the latest training loss). What a report, a sweep's table and a collapse check read
    of a metrics file of any size, holding only these."""
    out: list[dict[str, Any]] = []
    last_train: bytes | None = None
    at = 0  # where the last train event goes among the others
    for line in iter_lines(path):
        split = split_of(line)
        if split == _TRAIN and _NONFINITE not in line:
            last_train, at = line, len(out)
            continue
        if split == _SYSTEM:
            continue
        event = parse_line(line) if line.strip() else None
        if event is None:
            continue
        if split is None and event.get(EventField.SPLIT) == Event.TRAIN \
                and not event.get(EventField.NONFINITE):
            last_train, at = line, len(out)
            continue
        if split is None and event.get(EventField.SPLIT) == Event.SYSTEM:
            continue
        out.append(event)
    if last_train is not None:
        event = parse_line(last_train)
        if event is not None:
            out.insert(at, event)
    return out
