"""The rows of a whole run store, read cheaply: a derived index in the user cache.

A listing (`emotui ls`, `compare`, the TUI) needs one row per run (core.results.summarize:
status.json, results.json and the config keys it shows). Reading and checking three files per
run costs about a millisecond; a store of 100,000 runs then takes minutes. Finished runs never
change unless someone touches their files, so their rows are kept in one file in the user cache
(``<cache>/runindex/<hash of the store's path>.jsonl``) with what each row was read from: the
(mtime, size, inode) of status.json, results.json and config.yaml. A listing stats those three
files per run and reads only the runs whose files differ from what the index saw.

The run directory stays the source of truth: the index is derived, never read by anything that
acts on a run, and rebuilt entry by entry whenever it disagrees (a file replaced, edited in
place, deleted; a run added or removed). An index of another format version
(``core.schema.INDEX_SCHEMA``), of another store, written by other code (``code_stamp``: an
emotui that reads a row otherwise, or has other columns), or that does not parse is ignored
and written again. Several processes on several machines may share a cache folder (an NFS home):
each writes the whole index to a temporary file of its own and renames it over the old one,
so a reader sees one complete index or another, both correct for the entries whose stamps
match; no lock is taken. Nothing in the run directory is written (readers never write).

What is not a function of those three files stays live: whether a finished run's process still
holds its claim (``still_stopping``) is asked at each listing when its claim.json exists; the
states of active runs are asked of their backends by the caller (launch.monitor.refresh_runs)
before it reads them (``store_rows``: every run but those the index holds as finished with
unchanged files).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from emotui import __version__
from emotui.core import heap, results, runview
from emotui.core.compactrow import CompactRow
from emotui.core.lifecycle import FINISHED
from emotui.core.results import summary_from_files
from emotui.core.runstore import RUN_ID_RE, RunPaths, atomic_write_text, unusable_store
from emotui.core.schema import INDEX_SCHEMA, SCHEMA_KEY
from emotui.core.userconfig import user_cache_dir

log = logging.getLogger("emotui")

# Row keys derived from the files besides summarize's: listings that show them take them, the
# others leave them out (cli/runs_cmd.py, tracking/sources.py). The collapse flag is in every
# row (core.results.summary_from_files): every listing shows it.
EXTRA_KEYS = ("wandb_run_id", "wandb_url", "wandb_project")
_FILES = ("status.json", "results.json", "config.yaml")


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "-"
    except OSError:
        return "?"  # there but unreadable: the row says why; read again every time
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def stamp_of(root: Path | str, run_id: str) -> str | None:
    """What the run's row is keyed on: (mtime, size, inode) of status.json, results.json and
    config.yaml, as one string; None when it has no status.json (not a run, or one being
    created). Each write of these files replaces them (a new inode) or changes their mtime."""
    # Paths by concatenation: os.path.join costs as much as the stat itself at 100,000 runs.
    folder = f"{root}{os.sep}{run_id}{os.sep}"
    status = _stat(folder + _FILES[0])
    if status == "-":
        return None
    return f"{status}|{_stat(folder + _FILES[1])}|{_stat(folder + _FILES[2])}"


def listing_row(paths: RunPaths, view: Any = None) -> dict[str, Any]:
    """The run's row as its files give it (core.results.summary_from_files) plus EXTRA_KEYS;
    ``view``: the run's core.runview.read_run when the caller has read it already."""
    view = view if view is not None else runview.read_run(paths)
    row = summary_from_files(paths, view=view)
    status = view.status
    project = "/".join(p for p in (status.get("wandb_entity"), status.get("wandb_project")) if p)
    row.update(wandb_run_id=status.get("wandb_run_id"), wandb_url=status.get("wandb_url"),
               wandb_project=project or None)
    return row


_CODE_STAMP: str | None = None


def code_stamp() -> str:
    """What computed the rows: a hash of emotui's version and of its core modules, where a
    row is read (core.results, core.runview), its columns and the methods' settings are
    defined. Another emotui (an upgrade, a checkout edited) rebuilds the index rather than
    serve rows without a column it now shows. About 2 ms, once per process."""
    global _CODE_STAMP
    if _CODE_STAMP is None:
        digest = hashlib.sha256(__version__.encode())
        for path in sorted(Path(__file__).parent.glob("*.py")):
            try:
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
            except OSError:
                digest.update(path.name.encode() + b"\0?")
        _CODE_STAMP = digest.hexdigest()[:16]
    return _CODE_STAMP


def index_path(root: Path, cache_dir: Path | None = None) -> Path:
    key = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return (cache_dir or user_cache_dir()) / "runindex" / f"{key}.jsonl"


def scan_ids(root: Path) -> list[str]:
    """The names in the store that may be runs (core.runstore.RUN_ID_RE), newest first."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except OSError as exc:  # a file where the store should be, no permission to list it
        raise unusable_store(Path(root), exc) from None
    return sorted((n for n in names if RUN_ID_RE.match(n) and ".." not in n), reverse=True)


# Index lines parsed in one call of the JSON parser: a third of the time of a call per line,
# and what is parsed but not yet made into rows stays a few MB (the whole 100,000-run index
# parsed at once raised the TUI's resident memory by a third, never given back).
_LINES_PER_PARSE = 2000


def _entries_of(lines: Iterable[bytes]) -> Iterator[Any]:
    """The index's run lines (read as they are parsed: the file is never held whole), each
    parsed, or None where a line does not parse."""
    lines = iter(lines)
    while True:
        read = list(itertools.islice(lines, _LINES_PER_PARSE))
        if not read:
            return
        batch = [line for line in read if line.strip()]
        try:
            parsed = json.loads(b"[" + b",".join(batch) + b"]")
            if isinstance(parsed, list) and len(parsed) == len(batch):
                yield from parsed
                continue
        except (ValueError, RecursionError):
            pass
        for line in batch:  # a broken line: the others of its batch one by one
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):
                yield None


class RunIndex:
    """The index of one run store: the rows of its finished runs, each with the stamp of the
    files it was read from. ``row()`` gives a run's row, read again when its files changed.

    ``compact``: rows are kept and given as core.compactrow.CompactRow (a view of every run of
    a large store, the TUI); else as fresh dicts. Only finished runs are kept: an active run's
    files change every few seconds, and its row is read from them each time.

    The file is JSON lines: a header ({schema_version, root, code, shapes}), then one line per
    run, ``[run_id, stamp, shape, *values]`` (``shapes[shape]`` names the values). A line that
    does not parse costs its run a read; a header of another version, code or store, the whole
    file.
    """

    def __init__(self, root: Path, cache_dir: Path | None = None, *, compact: bool = False,
                 read_row: Callable[[RunPaths], dict[str, Any]] = listing_row):
        self.root = Path(root)
        self.cache_dir = cache_dir
        self.compact = compact
        self.read_row = read_row
        self._entries: dict[str, tuple[str, Any]] = {}
        self._loaded = False
        self._dirty = False
        self._early: set[str] = set()  # runs read before the file was (file_row(load=False))

    @property
    def path(self) -> Path:
        return index_path(self.root, self.cache_dir)

    def __len__(self) -> int:
        return len(self._entries)

    # -- the file --------------------------------------------------------------------------

    def load(self) -> None:
        """Read the index file once; a missing, foreign or broken one leaves it empty (every
        row is then read from its run, and the index written again)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            fh = open(self.path, "rb")
        except OSError:
            return
        with fh, heap.paused():
            try:
                header = json.loads(fh.readline())
                ok = (isinstance(header, dict) and header.get(SCHEMA_KEY) == INDEX_SCHEMA
                      and header.get("root") == str(self.root)
                      and header.get("code") == code_stamp())
                shapes = [tuple(str(k) for k in keys) for keys in header["shapes"]] if ok else []
            except (OSError, ValueError, KeyError, TypeError, RecursionError):
                ok = False
            if not ok:
                log.info("run index %s is of another version, code or store: rebuilt",
                         self.path)
                self._dirty = True
                return
            make = self._make_row
            entries = self._entries
            for entry in _entries_of(fh):
                try:
                    run_id, stamp, shape, *values = entry
                    keys = shapes[shape]
                    if len(keys) != len(values) or not isinstance(stamp, str):
                        raise ValueError("does not fit its shape")
                except (ValueError, TypeError, IndexError, RecursionError):
                    self._dirty = True  # a broken line: its run is read again
                    continue
                early = entries.get(run_id)
                if early is None:
                    entries[run_id] = (stamp, make(keys, values))
                elif early[0] == stamp:
                    self._early.discard(run_id)  # read before the index, as the index has it
        if self._early:
            self._dirty = True  # rows read before the index that it lacks or has older
        self._early.clear()

    def _make_row(self, keys: tuple[str, ...], values: list[Any]) -> Any:
        if self.compact:
            return CompactRow.from_values(keys, values)
        return dict(zip(keys, values))

    def save(self) -> None:
        """Write the index if it changed: the whole file to a temporary of this process, then
        renamed over the old one (several writers: the last one's stays, each complete)."""
        if not self._dirty:
            return
        shapes: dict[tuple[str, ...], int] = {}
        lines = []
        for run_id, (stamp, row) in self._entries.items():
            keys = tuple(row.keys())
            shape = shapes.setdefault(keys, len(shapes))
            lines.append(json.dumps([run_id, stamp, shape, *row.values()],
                                    separators=(",", ":"), default=str))
        header = json.dumps({SCHEMA_KEY: INDEX_SCHEMA, "root": str(self.root),
                             "code": code_stamp(), "shapes": [list(keys) for keys in shapes]})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, header + "\n" + "".join(line + "\n" for line in lines))
        except OSError as exc:
            log.info("run index %s not written: %s", self.path, exc)
            return
        self._dirty = False

    # -- rows ------------------------------------------------------------------------------

    def known_finished(self, run_id: str, stamp: str) -> bool:
        """Whether the index holds the run as finished, read from the files as they are now
        (``stamp``): nothing needs to ask its backend."""
        self.load()
        entry = self._entries.get(run_id)
        return entry is not None and entry[0] == stamp

    def file_row(self, run_id: str, stamp: str, *, load: bool = True) -> Any:
        """The run's row as its files give it (no live part): from the index when its stamp is
        ``stamp``, else read from the run (and kept when the run is finished). Shared: a dict
        given here must not be changed (``row`` gives a copy). ``load=False`` reads the run
        without loading the index file first (the first screenful of a large store)."""
        if load:
            self.load()
        entry = self._entries.get(run_id)
        if entry is not None and entry[0] == stamp:
            return entry[1]
        row = self.read_row(RunPaths(self.root / run_id))
        if self.compact:
            row = CompactRow.of(row)
        if row.get("status") in FINISHED and "?" not in stamp.split("|"):
            self._entries[run_id] = (stamp, row)
            if self._loaded:
                self._dirty = True
            else:
                self._early.add(run_id)
        elif self._entries.pop(run_id, None) is not None:
            self._dirty = True
        return row

    def shared_stamp(self, run_id: str, stamp: str) -> str:
        """``stamp``, as the very string the index holds when it holds the same (a view that
        keeps every run's stamp keeps one string per run, not two)."""
        entry = self._entries.get(run_id)
        return entry[0] if entry is not None and entry[0] == stamp else stamp

    def row(self, run_id: str, stamp: str | None = None) -> Any:
        """The run's row now (``still_stopping`` asked live); None when it has no
        status.json."""
        stamp = stamp if stamp is not None else stamp_of(self.root, run_id)
        if stamp is None:
            self.forget(run_id)
            return None
        row = self.file_row(run_id, stamp)
        stopping = still_stopping_now(self.root, row)
        if self.compact:
            return row.extended({"still_stopping": True}) if stopping else row
        row = dict(row)
        if stopping:
            row["still_stopping"] = True
        return row

    def rows(self, run_ids: Iterable[str] | None = None) -> list[Any]:
        """Rows of the runs (every run of the store, newest first, when None); runs that are
        gone leave the index when the whole store was listed."""
        self.load()
        whole = run_ids is None
        ids = scan_ids(self.root) if whole else list(run_ids)
        out = []
        for run_id in ids:
            row = self.row(run_id)
            if row is not None:
                out.append(row)
        if whole:
            self.keep_only(ids)
        return out

    def keep_only(self, present: Iterable[str]) -> None:
        """Forget the runs not in ``present`` (the whole store as just listed)."""
        self.load()
        present = set(present)
        gone = [rid for rid in self._entries if rid not in present]
        for rid in gone:
            del self._entries[rid]
        self._dirty = self._dirty or bool(gone)

    def forget(self, run_id: str) -> None:
        if self._entries.pop(run_id, None) is not None:
            self._dirty = True


def still_stopping_now(root: Path, row: Any) -> bool:
    """Whether the run is recorded finished but a live process still holds its claim (a cancel
    saving its checkpoint): asked now, never kept in the index."""
    if row.get("status") not in FINISHED:
        return False
    folder = f"{root}{os.sep}{row['run_id']}"
    # access(), not exists(): no exception made for the common answer, a missing file.
    return os.access(f"{folder}{os.sep}claim.json", os.F_OK) and \
        results.still_stopping(RunPaths(Path(folder)))


def store_rows(root: Path, *, refresh: Callable[[list[RunPaths]], Any] | None = None,
               extras: bool = False, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every run's row, oldest first, as `emotui ls` and `compare` list them. ``refresh`` is
    called first with the runs that may be active (the launch layer asks their backends and
    records what ended): finished runs whose files are as the index saw them are not asked.
    ``extras``: keep EXTRA_KEYS in the rows."""
    with heap.paused():
        return _store_rows(RunIndex(Path(root), cache_dir), refresh, extras)


def _store_rows(index: RunIndex, refresh: Callable[[list[RunPaths]], Any] | None,
                extras: bool) -> list[dict[str, Any]]:
    index.load()
    ids = scan_ids(index.root)
    ids.reverse()  # oldest first, as RunStore lists them (ids sort by creation time)
    stamps = {rid: stamp_of(index.root, rid) for rid in ids}
    if refresh is not None:
        maybe_active = [rid for rid, stamp in stamps.items()
                        if stamp is not None and not index.known_finished(rid, stamp)]
        if maybe_active:
            refresh([RunPaths(index.root / rid) for rid in maybe_active])
            for rid in maybe_active:  # what the backends found is in their status.json now
                stamps[rid] = stamp_of(index.root, rid)
    present = {rid: stamp for rid, stamp in stamps.items() if stamp is not None}
    rows = [index.file_row(rid, stamp) for rid, stamp in present.items()]
    index.keep_only(present)
    index.save()
    # The index is saved and dropped: its rows become the listing's own, changed in place
    # rather than copied (100,000 copies are a tenth of a second).
    root = index.root
    for row in rows:
        if not extras:
            for key in EXTRA_KEYS:
                row.pop(key, None)
        if still_stopping_now(root, row):
            row["still_stopping"] = True
    return rows
