"""Read W&B offline runs (``wandb/offline-run-*/run-*.wandb``) without syncing them.

wandb 0.31 writes no config.yaml or summary file offline and ships no reader, so this is one. The
file is a 7-byte header (``:W&B``, magic 0xBEE1 little-endian, version byte) followed by LevelDB
log framing: 32 KiB blocks of records, each ``crc32(4, LE) length(2, LE) type(1) payload``,
type FULL/FIRST/MIDDLE/LAST for records that fit or span blocks, a block tail shorter than a
header zero-padded. The checksum is zlib's CRC-32 of the type byte then the payload (not
LevelDB's masked CRC-32C). Each payload is a ``wandb.proto.wandb_internal_pb2.Record``.

A file still being written (or cut by a crash) ends in a torn record: reading stops there, keeps
everything before it and says so (``torn``). A torn file that cannot be a run being written —
one cut before its run record, or one whose run W&B's own log in the run folder says finished —
was truncated: it lists as ``unreadable`` with the reason (``problem``), never as a running run.
The run id comes from the file name (``run-<id>.wandb``) when the file lost its run record.

Reading records needs wandb's protobuf classes: without an importable wandb, a one-line
WandbUnavailable ("W&B unavailable: ...").
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from emotui.core.errors import EmotuiError

MAGIC_PREFIX = b":W&B"
MAGIC = 0xBEE1
HEADER = struct.Struct("<4sHB")  # ident, magic, version
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type
BLOCK_SIZE = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
OFFLINE_GLOB = "offline-run-*"
# A run file untouched this long with no exit record is taken as crashed, not running.
STALE_AFTER_S = 60.0


class WandbFileError(EmotuiError):
    """A file that is not a W&B run file (wrong header)."""


class WandbUnavailable(EmotuiError):
    """wandb cannot be imported, so its records cannot be decoded."""


def _record_class():
    """wandb's protobuf Record, or WandbUnavailable in one line."""
    try:
        from wandb.proto import wandb_internal_pb2 as pb
    except Exception as exc:  # noqa: BLE001 - ImportError, or wandb failing as it imports
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise WandbUnavailable(f"W&B unavailable: wandb cannot be imported ({detail}); it is "
                               "needed to read W&B offline runs: pip install wandb") from None
    return pb.Record


@dataclass
class Framing:
    """The payloads of a .wandb file and how the file ended."""

    payloads: list[bytes]
    torn: bool = False
    # Byte offset where reading stopped (the file's size when it ended cleanly).
    end: int = 0


def read_framing(data: bytes, *, source: str = "data") -> Framing:
    if len(data) < HEADER.size:
        # An empty or header-only file: a run that has just started.
        if MAGIC_PREFIX.startswith(data[:4]):
            return Framing([], torn=bool(data), end=len(data))
        raise WandbFileError(f"{source} is not a W&B run file (no ':W&B' header)")
    ident, magic, _version = HEADER.unpack_from(data, 0)
    if ident != MAGIC_PREFIX or magic != MAGIC:
        raise WandbFileError(f"{source} is not a W&B run file (bad header)")
    payloads: list[bytes] = []
    pending: bytearray | None = None
    offset = HEADER.size
    size = len(data)
    while offset < size:
        left_in_block = BLOCK_SIZE - offset % BLOCK_SIZE
        if left_in_block < RECORD_HEADER.size:
            offset += left_in_block  # zero padding at the end of a block
            continue
        if offset + RECORD_HEADER.size > size:
            return Framing(payloads, torn=True, end=offset)
        crc, length, kind = RECORD_HEADER.unpack_from(data, offset)
        if crc == 0 and length == 0 and kind == 0:
            # Zeros where a record should start: preallocated space after the last write.
            if not any(data[offset:min(size, offset + left_in_block)]):
                if offset + left_in_block >= size:
                    return Framing(payloads, torn=pending is not None, end=offset)
                offset += left_in_block
                continue
        start, stop = offset + RECORD_HEADER.size, offset + RECORD_HEADER.size + length
        if length > left_in_block - RECORD_HEADER.size or stop > size:
            return Framing(payloads, torn=True, end=offset)
        payload = data[start:stop]
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc or kind not in (1, 2, 3, 4):
            return Framing(payloads, torn=True, end=offset)
        offset = stop
        if kind == FULL:
            payloads.append(payload)
            pending = None
        elif kind == FIRST:
            pending = bytearray(payload)
        elif kind == MIDDLE and pending is not None:
            pending += payload
        elif kind == LAST and pending is not None:
            pending += payload
            payloads.append(bytes(pending))
            pending = None
    return Framing(payloads, torn=pending is not None, end=offset)


# ---------------------------------------------------------------------------------------------
# Records -> run
# ---------------------------------------------------------------------------------------------


@dataclass
class OfflineRun:
    """What one offline W&B run recorded: config, history rows, summary, how it ended."""

    id: str | None = None
    name: str | None = None
    project: str | None = None
    entity: str | None = None
    group: str | None = None
    job_type: str | None = None
    notes: str | None = None
    sweep: str | None = None
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    created: float | None = None
    exit_code: int | None = None
    runtime_s: float | None = None
    files: list[Path] = field(default_factory=list)
    torn: bool = False
    synced: bool = False
    modified: float | None = None
    # Why the run's file cannot be read as a run (truncated): it lists as unreadable.
    problem: str | None = None

    @property
    def state(self) -> str:
        """W&B's word for how the run stands: finished, failed, running or crashed; or
        "unreadable" (``problem`` says why)."""
        if self.problem is not None:
            return "unreadable"
        if self.exit_code is not None:
            return "finished" if self.exit_code == 0 else "failed"
        if self.modified is not None and time.time() - self.modified < STALE_AFTER_S:
            return "running"
        return "crashed"

    def to_record(self) -> dict[str, Any]:
        """The normalized run record that ``keys.record_to_row`` maps onto emotui's columns."""
        reason = self.problem
        if self.state == "crashed":
            reason = "W&B offline file has no exit record (crashed or killed)"
        return {
            "id": self.id,
            "name": self.name,
            "entity": self.entity,
            "project": self.project,
            "state": self.state,
            "reason": reason,
            "config": self.config,
            "summary": public_items(self.summary),
            "tags": list(self.tags),
            "group": self.group,
            "sweep": self.sweep,
            "created": self.created,
            "url": None,
            "source": "wandb-offline",
            "path": str(self.files[-1].parent) if self.files else None,
            "synced": self.synced,
            "torn": self.torn,
        }


def public_items(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if not k.startswith("_")}


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text


def _item_path(item: Any) -> list[str]:
    nested = list(getattr(item, "nested_key", []) or [])
    return nested if nested else [item.key]


def _assign(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[path[-1]] = value


def _remove(target: dict[str, Any], path: list[str]) -> None:
    for part in path[:-1]:
        target = target.get(part)
        if not isinstance(target, dict):
            return
    target.pop(path[-1], None)


def apply_records(run: OfflineRun, payloads: Iterable[bytes]) -> None:
    record_class = _record_class()
    for payload in payloads:
        record = record_class()
        try:
            record.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError; one bad record is skipped
            continue
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.id = r.run_id or run.id
            run.project = r.project or run.project
            run.entity = r.entity or run.entity
            run.name = r.display_name or run.name
            run.group = r.run_group or run.group
            run.job_type = r.job_type or run.job_type
            run.notes = r.notes or run.notes
            run.sweep = r.sweep_id or run.sweep
            run.tags = list(r.tags) or run.tags
            if r.HasField("start_time") and run.created is None:
                run.created = r.start_time.seconds + r.start_time.nanos / 1e9
            for item in r.config.update:
                _assign(run.config, _item_path(item), _loads(item.value_json))
        elif kind == "config":
            for item in record.config.update:
                _assign(run.config, _item_path(item), _loads(item.value_json))
            for item in record.config.remove:
                _remove(run.config, _item_path(item))
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                path = _item_path(item)
                _assign(row, path if len(path) > 1 else [path[0]], _loads(item.value_json))
            if record.history.HasField("step") and "_step" not in row:
                row["_step"] = record.history.step.num
            run.history.append(row)
        elif kind == "summary":
            for item in record.summary.update:
                _assign(run.summary, _item_path(item), _loads(item.value_json))
            for item in record.summary.remove:
                _remove(run.summary, _item_path(item))
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
            run.runtime_s = float(record.exit.runtime)
    run.config.pop("_wandb", None)


def read_run_file(path: Path, into: OfflineRun | None = None) -> OfflineRun:
    """One .wandb file (or several of one resumed run, applied in order via ``into``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WandbFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    framing = read_framing(data, source=str(path))
    run = into if into is not None else OfflineRun()
    apply_records(run, framing.payloads)
    run.files.append(path)
    run.torn = run.torn or framing.torn
    if framing.torn and run.exit_code is None:
        run.problem = _truncated(path, run, framing, len(data))
    if run.id is None and path.name.startswith("run-") and path.suffix == ".wandb":
        run.id = path.stem[len("run-"):]  # the file lost its run record: its name keeps the id
    run.synced = path.with_name(path.name + ".synced").exists()
    try:
        run.modified = max(run.modified or 0.0, os.stat(path).st_mtime)
    except OSError:
        pass
    # History rows are complete; the summary may lag them when the file was cut short.
    if run.history:
        for key, value in run.history[-1].items():
            run.summary.setdefault(key, value)
    return run


def _truncated(path: Path, run: OfflineRun, framing: Framing, size: int) -> str | None:
    """Why a torn file without an exit record is not a run being written, or None when it may
    be one: a file cut before its run record (a live run writes that first), or one whose run
    W&B's log says finished (it would have written its exit record)."""
    where = f"{path.name} is cut short at byte {framing.end} of {size}"
    if run.id is None:
        return f"{where}, before its run record (truncated?)"
    if _finished_by_log(path):
        return f"{where}: its run finished (W&B's debug-internal.log says so) but the file " \
            "lost its end (truncated?)"
    return None


def _finished_by_log(path: Path) -> bool:
    """Whether wandb-core's log beside the run file ends with its "all finished" line."""
    log = path.parent / "logs" / "debug-internal.log"
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 4096))
            tail = fh.read()
    except OSError:
        return False
    return b'"stream: all finished"' in tail


def find_run_files(path: Path) -> list[Path]:
    """The offline run files at path: a .wandb file, an offline-run-* folder, a wandb/ folder,
    or a folder holding wandb/ (an emotui run directory, a study output folder). Oldest first."""
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    candidates: list[Path] = []
    if path.name.startswith("offline-run-"):
        candidates = sorted(path.glob("run-*.wandb"))
    else:
        for folder in (path, path / "wandb"):
            for run_dir in sorted(folder.glob(OFFLINE_GLOB)):
                candidates += sorted(run_dir.glob("run-*.wandb"))
    return candidates


def read_offline_runs(path: Path) -> list[OfflineRun]:
    """Every offline run under path, one per W&B run id (resumed runs' files merged in order)."""
    runs: dict[str, OfflineRun] = {}
    order: list[str] = []
    for file in find_run_files(path):
        run_id = file.stem.split("-", 1)[-1]  # run-<id>.wandb
        if run_id not in runs:
            runs[run_id] = OfflineRun()
            order.append(run_id)
        read_run_file(file, into=runs[run_id])
    return [runs[r] for r in order]
