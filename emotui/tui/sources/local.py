"""The local run store as a run source: polls run directories by file stamps, keeps rows.

Start-up cost matters (a store may hold 100,000 runs): the first screenful of runs (the newest)
is read from their files at once; the rest come from the run index (core.runindex: the rows of
finished runs whose status.json, results.json and config.yaml are as the index saw them) in
batches behind it, and only runs whose files changed are read. Rows are kept as
core.compactrow.CompactRow, so that holding every run of a large store stays cheap. No metrics
file is read. Afterwards only active runs are checked on every poll; finished ones every
``full_scan_every`` polls (a CLI resume or delete).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from emotui.core.compactrow import CompactRow, LayeredRow
from emotui.core.errors import EmotuiError
from emotui.core.methods import from_tag
from emotui.core.runindex import RunIndex, listing_row, stamp_of, still_stopping_now
from emotui.core.runstore import RUN_ID_RE, RunPaths, RunStore
from emotui.core.runview import read_run
from emotui.core.lifecycle import ACTIVE, FINISHED, RunState
from emotui.core.status import HEARTBEAT_STALE_S
from emotui.core.yaml_load import YamlTooLarge, load_yaml
from emotui.launch.base import cancel_requested
from emotui.launch.monitor import refresh_runs
from emotui.tui.sources.base import RowBatch, RunDetail, SourceCapabilities

log = logging.getLogger("emotui.tui")
# The index is written at most this often while the TUI runs (each write is the whole file).
INDEX_SAVE_EVERY_S = 60.0


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def load_config(path: Path) -> tuple[dict[str, Any], str]:
    """(config mapping, its YAML text); empty when absent or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
        data = load_yaml(text, str(path)) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, YamlTooLarge):
        return {}, ""
    return (data if isinstance(data, dict) else {}), text


class LocalRunSource:
    """Runs in a local (or NFS-mounted) run store directory."""

    capabilities = SourceCapabilities(can_launch=True, can_cancel=True, can_resume=True,
                                      can_delete=True)

    def __init__(self, root: str | os.PathLike | None, *, batch_size: int = 2000,
                 first_batch_size: int = 60,
                 full_scan_every: int = 10, clock: Callable[[], float] = time.time,
                 ask_backends_every: int | None = 10, cache_dir: Path | None = None):
        self.store = RunStore(root)
        self.name = f"local:{self.store.root}"
        self.batch_size = batch_size
        # The first batch is one screenful, so the first frame does not wait for the rest.
        self.first_batch_size = first_batch_size
        self.full_scan_every = full_scan_every
        self.clock = clock
        self.index = RunIndex(self.store.root, cache_dir, compact=True)
        self._saved_at: float | None = None
        # Per run as last seen: its files' stamp, or (stamp, stale, cancel asked, claim held)
        # when one of those holds (a large store is mostly finished runs: a string each).
        self._stamps: dict[str, str | tuple] = {}
        self._rows: dict[str, LayeredRow] = {}
        self._detail: tuple[str, tuple, RunDetail] | None = None  # the last one read
        self._polls = 0
        # Every N polls the launch layer is asked about active runs (one batched squeue, the
        # process table): a job killed without a word is then recorded as failed, not "running".
        self.ask_backends_every = ask_backends_every

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def label(self) -> str:
        return str(self.root)

    def paths(self, run_id: str) -> RunPaths:
        return RunPaths(self.root / run_id)

    def is_controllable(self, run_id: str) -> bool:
        return True

    def request_refresh(self) -> None:
        return None  # every poll reads the run directories afresh

    def _list_ids(self) -> set[str]:
        try:
            with os.scandir(self.root) as entries:
                return {e.name for e in entries
                        if e.is_dir() and RUN_ID_RE.match(e.name) and ".." not in e.name}
        except OSError:  # not there yet, or gone (an unmounted share): no runs to show
            return set()

    def _stale(self, paths: RunPaths) -> bool:
        beat = _mtime(paths.heartbeat)
        return beat is not None and self.clock() - beat / 1e9 > HEARTBEAT_STALE_S

    def _row(self, run_id: str, stamp: str, *, load_index: bool = True) -> LayeredRow:
        """The run's row: its files' part (core.runindex), what is live, and this source's."""
        return self._decorate(run_id, self.index.file_row(run_id, stamp, load=load_index))

    def _decorate(self, run_id: str, row: CompactRow) -> LayeredRow:
        """The row with what is live and this source's keys laid over it (no copy of it)."""
        paths = self.paths(run_id)
        status = row.get("status")
        extra: dict[str, Any] = {}
        if not row.get("method"):
            tag = run_id.split("-")[2] if run_id.count("-") >= 3 else ""
            spec = from_tag(tag)
            extra["method"] = spec.name if spec else None
        if still_stopping_now(self.root, row):
            extra["still_stopping"] = True
        # A running job that stopped touching its heartbeat may be lost (node died, OOM-killed).
        extra["stale"] = status == RunState.RUNNING.value and self._stale(paths)
        # Someone asked it to stop (here, the CLI, another TUI): shown as stopping until it has.
        extra["cancel_requested"] = status in ACTIVE and cancel_requested(paths)
        extra["source"] = "local"
        return row.extended(extra)

    def _seen(self, stamp: str, paths: RunPaths, row: Any) -> str | tuple:
        """What a poll compares to know whether a row changed: its files' stamp, and what of
        it may change without its files changing."""
        status = row.get("status") if row is not None else None
        live = (status == RunState.RUNNING.value and self._stale(paths),
                status in ACTIVE and cancel_requested(paths),
                bool(row is not None and row.get("still_stopping")
                     and os.path.exists(paths.claim)))
        return (stamp, *live) if any(live) else stamp

    def poll(self) -> Iterator[RowBatch]:
        self._polls += 1
        if self.ask_backends_every and self._polls % self.ask_backends_every == 0:
            self._ask_backends()
        full = self._polls == 1 or self._polls % self.full_scan_every == 0
        present = self._list_ids()
        removed = [rid for rid in self._rows if rid not in present]
        for rid in removed:
            self._forget(rid)
        batch = RowBatch(removed=removed)
        first = not self._rows
        limit = self.first_batch_size if first else self.batch_size
        # Newest first, so the top of the default ordering fills first.
        for rid in sorted(present, reverse=True):
            row = self._rows.get(rid)
            active = row is None or row.get("status") not in FINISHED
            if not (full or active):
                continue
            stamp = stamp_of(self.root, rid)
            if stamp is None:
                continue  # being created: no status.json yet
            paths = self.paths(rid)
            if self._seen(stamp, paths, row) == self._stamps.get(rid):
                continue
            # The first screenful is read from the run folders; the index file is loaded
            # behind it.
            fresh = self._row(rid, stamp, load_index=not first)
            self._stamps[rid] = self._seen(self.index.shared_stamp(rid, stamp), paths, fresh)
            if fresh == row:
                continue
            self._rows[rid] = fresh
            batch.changed.append(fresh)
            if len(batch.changed) >= limit:
                batch.known, batch.complete = len(self._rows), False
                yield batch
                batch, limit, first = RowBatch(), self.batch_size, False
        batch.known, batch.complete = len(self._rows), True
        yield batch
        if full:  # once the screen has the rows: writing the index of a large store takes a while
            self.index.keep_only(present)
            self._save_index()

    def _save_index(self) -> None:
        now = time.monotonic()
        if self._saved_at is None or now - self._saved_at >= INDEX_SAVE_EVERY_S:
            self.index.save()
            self._saved_at = now

    def _ask_backends(self) -> None:
        active = [self.paths(rid) for rid, row in self._rows.items()
                  if row.get("status") not in FINISHED]
        if not active:
            return
        try:
            refresh_runs(active)  # writes terminal states to status.json; the scan sees them
        except (ImportError, EmotuiError, OSError) as exc:
            log.warning("could not refresh run states: %s", exc)

    def _forget(self, run_id: str) -> None:
        self._rows.pop(run_id, None)
        self._stamps.pop(run_id, None)

    def detail(self, run_id: str) -> RunDetail:
        """The run's files as the detail screen shows them; read again only when they changed
        (the screen asks twice a second, and a results.json of a thousand classes is large)."""
        paths = self.paths(run_id)
        cached = self._detail
        stamp = stamp_of(self.root, run_id)
        key = self._seen(stamp or "", paths, cached[2].row if cached and cached[0] == run_id
                         else None)
        if cached is not None and cached[0] == run_id and cached[1] == key and stamp:
            return cached[2]
        detail = self._read_detail(run_id)
        self._detail = (run_id, key, detail)
        return detail

    def _read_detail(self, run_id: str) -> RunDetail:
        paths = self.paths(run_id)
        config, text = load_config(paths.config)
        # Only fields of the expected types; the row says what is wrong. The YAML parsed above
        # is reused (an unreadable one is read again, for the reason), and the files are read
        # once for the row too (a results.json of a thousand classes is megabytes).
        view = read_run(paths, config or None)
        # The row is read here, not through the index: the poll thread owns it.
        row = dict(self._decorate(run_id, CompactRow.of(listing_row(paths, view)))) \
            if paths.status.exists() else {"run_id": run_id}
        return RunDetail(
            run_id=run_id,
            row=row,
            status=view.status,
            config=view.config,
            config_text=text,
            results=view.results or {},
            metrics_path=paths.metrics,
            log_paths={"stdout": paths.stdout, "stderr": paths.stderr},
        )
