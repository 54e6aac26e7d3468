"""The local run store as a run source: polls run directories by file mtimes, caches rows.

Start-up cost matters (a store may hold 10,000 runs): a row needs status.json, results.json and
the config (parsed once per run, with libyaml when present); no metrics file is read. Runs are
loaded newest first in batches so the first screenful appears at once. Afterwards only active runs
are checked on every poll; finished ones every ``full_scan_every`` polls (a CLI resume or delete).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from emotui.core.errors import EmotuiError
from emotui.core.methods import from_tag
from emotui.core.results import KEY_HYPERPARAMETERS, summarize
from emotui.core.runstore import RUN_ID_RE, RunPaths, RunStore, read_json
from emotui.core.runview import read_run, read_yaml_object
from emotui.core.lifecycle import ACTIVE, FINISHED, RunState
from emotui.core.status import HEARTBEAT_STALE_S
from emotui.launch.base import cancel_requested
from emotui.tui.sources.base import RowBatch, RunDetail, SourceCapabilities

log = logging.getLogger("emotui.tui")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mtime(path: Path) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def load_config(path: Path) -> tuple[dict[str, Any], str]:
    """(config mapping, its YAML text); empty when absent or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_Loader) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}, ""
    return (data if isinstance(data, dict) else {}), text


# The config keys a table row shows; only these are parsed for the table (see table_config).
TABLE_CONFIG_KEYS = frozenset({*KEY_HYPERPARAMETERS, "method", "peft_method"})


def table_config(path: Path) -> dict[str, Any] | None:
    """The few config keys a table row needs, without parsing the whole config.yaml; None
    when the file is there but holds no mapping (core.runview then says what is wrong).

    Parsing ~90 keys with PyYAML costs milliseconds per run: seconds for a large store. A
    top-level key's block (its line plus indented continuation lines) is valid YAML by itself,
    so only the wanted blocks are parsed; anything unexpected falls back to a full parse.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError):
        return None
    kept: list[str] = []
    keep = False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith(("-", "#")):
            keep = line.split(":", 1)[0].strip() in TABLE_CONFIG_KEYS
        if keep:
            kept.append(line)
    try:
        data = yaml.load("\n".join(kept), Loader=_Loader) if kept else {}
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict) or not kept:
        data, problem = read_yaml_object(path)
        if problem is not None:
            return None
    return data or {}


class LocalRunSource:
    """Runs in a local (or NFS-mounted) run store directory."""

    capabilities = SourceCapabilities(can_launch=True, can_cancel=True, can_resume=True,
                                      can_delete=True)

    def __init__(self, root: str | os.PathLike | None, *, batch_size: int = 500,
                 first_batch_size: int = 60,
                 full_scan_every: int = 10, clock: Callable[[], float] = time.time,
                 ask_backends_every: int | None = 10):
        self.store = RunStore(root)
        self.name = f"local:{self.store.root}"
        self.batch_size = batch_size
        # The first batch is one screenful, so the first frame does not wait for the rest.
        self.first_batch_size = first_batch_size
        self.full_scan_every = full_scan_every
        self.clock = clock
        self._stamps: dict[str, tuple[int | None, int | None]] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._rows: dict[str, dict[str, Any]] = {}
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

    def _row(self, run_id: str, stamps: tuple) -> dict[str, Any] | None:
        paths = self.paths(run_id)
        if stamps[0] is None:
            return None  # being created: no status.json yet
        config = self._configs.get(run_id)
        if config is None:
            config = table_config(paths.config)
            if config:
                self._configs[run_id] = config
        # No config (unreadable): summarize reads config.yaml itself and says what is wrong.
        row = summarize(paths, config=config or None)
        if not row.get("method"):
            tag = run_id.split("-")[2] if run_id.count("-") >= 3 else ""
            spec = from_tag(tag)
            row["method"] = spec.name if spec else None
        row["collapsed"] = None
        if stamps[1] is not None:
            row["collapsed"] = (read_json(paths.results) or {}).get("collapsed")
        # A running job that stopped touching its heartbeat may be lost (node died, OOM-killed).
        row["stale"] = row.get("status") == RunState.RUNNING.value and self._stale(paths)
        # Someone asked it to stop (here, the CLI, another TUI): shown as stopping until it has.
        row["cancel_requested"] = row.get("status") in ACTIVE and cancel_requested(paths)
        row["source"] = "local"
        return row

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
        limit = self.first_batch_size if not self._rows else self.batch_size
        # Newest first, so the top of the default ordering fills first.
        for rid in sorted(present, reverse=True):
            row = self._rows.get(rid)
            active = row is None or row.get("status") not in FINISHED
            if not (full or active):
                continue
            paths = self.paths(rid)
            running = row is not None and row.get("status") == RunState.RUNNING.value
            waiting = row is not None and row.get("status") in ACTIVE
            stamps = (_mtime(paths.status), _mtime(paths.results),
                      self._stale(paths) if running else False,
                      cancel_requested(paths) if waiting else False)
            if stamps == self._stamps.get(rid):
                continue
            fresh = self._row(rid, stamps)
            if fresh is None:
                continue
            self._stamps[rid] = stamps
            if fresh == row:
                continue
            self._rows[rid] = fresh
            batch.changed.append(fresh)
            if len(batch.changed) >= limit:
                batch.known, batch.complete = len(self._rows), False
                yield batch
                batch, limit = RowBatch(), self.batch_size
        batch.known, batch.complete = len(self._rows), True
        yield batch

    def _ask_backends(self) -> None:
        active = [self.paths(rid) for rid, row in self._rows.items()
                  if row.get("status") not in FINISHED]
        if not active:
            return
        try:
            from emotui.launch.monitor import refresh_runs

            refresh_runs(active)  # writes terminal states to status.json; the scan sees them
        except (ImportError, EmotuiError, OSError) as exc:
            log.warning("could not refresh run states: %s", exc)

    def _forget(self, run_id: str) -> None:
        self._rows.pop(run_id, None)
        self._stamps.pop(run_id, None)
        self._configs.pop(run_id, None)

    def detail(self, run_id: str) -> RunDetail:
        paths = self.paths(run_id)
        config, text = load_config(paths.config)
        row = self._row(run_id, (_mtime(paths.status), _mtime(paths.results))) \
            or {"run_id": run_id}
        # Only fields of the expected types; the row says what is wrong. The YAML parsed above
        # is reused (an unreadable one is read again, for the reason).
        view = read_run(paths, config or None)
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
