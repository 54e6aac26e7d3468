"""Read a trackio project where trackio keeps it, without importing trackio.

trackio stores each project in one SQLite database, ``$TRACKIO_DIR/<project>.db`` (default
``$HF_HOME/trackio``, i.e. ``~/.cache/huggingface/trackio``): a ``configs`` table (one row per
run: run_id, run_name, config JSON, created_at) and a ``metrics`` table (one row per log call:
run_id, run_name, step, timestamp, metrics JSON). On a network filesystem trackio writes
append-only JSONL fragments to ``$TRACKIO_DIR/inbox/`` instead, until its dashboard imports
them: those are read too, so runs logged from a cluster's compute nodes show at once.

The database is opened read-only (``mode=ro``); nothing here writes, and trackio's own dashboard
can run beside it. Runs become the records ``emotui.tracking.keys.record_to_row`` maps onto
emotui's columns: a run's summary is the last value of each key it logged (emotui's runs log
their results last, as W&B's summary), its state ``running`` while it logged in the last minute,
``completed``/``failed`` when emotui recorded its end, else unknown (trackio keeps no state).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from emotui.core.errors import EmotuiError
from emotui.tracking.keys import parse_time

DB_EXT = ".db"
INBOX = "inbox"
# The key emotui logs last: 0 when the run completed, 1 when it failed.
EXIT_KEY = "emotui/exit_code"
# A run that logged within this many seconds and recorded no end is taken as running.
ACTIVE_WITHIN_S = 60.0
# trackio's spellings of the non-finite floats JSON cannot hold.
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class TrackioUnavailable(EmotuiError):
    """A trackio project that cannot be read (no database, not a trackio database)."""

    exit_code = 1


def trackio_dir(environ: dict[str, str] | None = None) -> Path:
    """Where trackio keeps its projects: $TRACKIO_DIR, else $HF_HOME/trackio (as trackio)."""
    env = os.environ if environ is None else environ
    if env.get("TRACKIO_DIR"):
        return Path(env["TRACKIO_DIR"]).expanduser()
    hf_home = env.get("HF_HOME") or str(
        Path(env.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    return Path(hf_home).expanduser() / "trackio"


def canonical_name(project: str) -> str:
    """The project's file name as trackio spells it: [A-Za-z0-9_-] only, else 'default'."""
    safe = "".join(c for c in project if c.isalnum() or c in ("-", "_")).rstrip()
    return safe or "default"


def project_db(project: str, root: Path | None = None) -> Path:
    return (root or trackio_dir()) / f"{canonical_name(project)}{DB_EXT}"


def _value(value: Any) -> Any:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    return value


def _loads(blob: Any) -> dict[str, Any]:
    try:
        data = json.loads(blob)
    except (TypeError, ValueError):
        return {}
    return {str(k): _value(v) for k, v in data.items()} if isinstance(data, dict) else {}


# One logged row: (trackio run id, run name, step, ISO timestamp, metrics, log id).
LogRow = tuple[str, str, int, str, dict[str, Any], Any]


def _connect(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise TrackioUnavailable(f"no trackio project at {db} (trackio keeps its projects in "
                                 "$TRACKIO_DIR, by default ~/.cache/huggingface/trackio)")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        conn.execute("SELECT 1 FROM metrics LIMIT 1")
    except sqlite3.Error as exc:
        raise TrackioUnavailable(f"{db} is not a readable trackio database ({exc})") from None
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _db_rows(conn: sqlite3.Connection, where: str = "",
             params: tuple = ()) -> Iterable[LogRow]:
    # Databases written before trackio 0.24 have no run_id: the name is the run.
    run_id = "run_id" if "run_id" in _columns(conn, "metrics") else "run_name"
    log_id = "log_id" if "log_id" in _columns(conn, "metrics") else "NULL"
    for rid, name, step, stamp, blob, lid in conn.execute(
            f"SELECT {run_id}, run_name, step, timestamp, metrics, {log_id} FROM metrics "
            f"{where} ORDER BY id", params):
        yield str(rid), str(name), int(step or 0), str(stamp or ""), _loads(blob), lid


def _inbox_rows(root: Path, project: str, seen: set[str]) -> list[tuple]:
    """Fragments trackio wrote instead of the database (a network filesystem) and no
    dashboard has imported yet; a record already in the database (its log_id) is skipped."""
    inbox = root / INBOX
    if not inbox.is_dir():
        return []
    rows = []
    for path in sorted(inbox.rglob("*.jsonl")):
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            continue  # imported (and deleted) while listed
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a fragment is replaced whole; a bad line is not ours to judge
            if not isinstance(record, dict) or record.get("kind") != "metric":
                continue
            if canonical_name(str(record.get("project") or "")) != canonical_name(project):
                continue
            if record.get("log_id") and record["log_id"] in seen:
                continue
            name = str(record.get("run") or "")
            rows.append((str(record.get("run_id") or name), name, int(record.get("step") or 0),
                         str(record.get("timestamp") or ""),
                         {str(k): _value(v) for k, v in (record.get("metrics") or {}).items()},
                         record.get("config")))
    return rows


class TrackioDatabase:
    """One project's database (and inbox fragments), read on each call."""

    def __init__(self, db: Path, project: str | None = None):
        self.db = Path(db)
        self.project = project or self.db.stem
        self.root = self.db.parent

    def _read(self) -> tuple[dict[str, dict[str, Any]], list[LogRow], str | None]:
        configs: dict[str, dict[str, Any]] = {}
        rows: list[LogRow] = []
        space = None
        with _connect(self.db) as conn:
            try:
                run_id = "run_id" if "run_id" in _columns(conn, "configs") else "run_name"
                for rid, blob in conn.execute(f"SELECT {run_id}, config FROM configs"):
                    configs[str(rid)] = _loads(blob)
                space = next((v for (v,) in conn.execute(
                    "SELECT value FROM project_metadata WHERE key = 'space_id'")), None)
            except sqlite3.Error:
                pass  # an older database without these tables: runs without config
            rows = list(_db_rows(conn))
        seen = {row[5] for row in rows if row[5]}
        for *row, config in _inbox_rows(self.root, self.project, seen):
            rows.append(tuple(row[:5]) + (None,))
            if config and row[0] not in configs:
                configs[row[0]] = {str(k): _value(v) for k, v in config.items()}
        return configs, rows, space

    def records(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every run of the project as a record (``keys.record_to_row``'s input), oldest
        first."""
        configs, rows, space = self._read()
        now = time.time() if now is None else now
        runs: dict[str, dict[str, Any]] = {}
        for rid, name, _step, stamp, metrics, *_ in rows:
            run = runs.setdefault(rid, {"name": name, "summary": {}, "first": stamp,
                                        "last": stamp})
            run["summary"].update(metrics)
            run["last"] = max(run["last"], stamp)
            run["first"] = min(run["first"], stamp) if run["first"] else stamp
        for rid in configs:
            runs.setdefault(rid, {"name": rid, "summary": {}, "first": "", "last": ""})
        names = [run["name"] for run in runs.values()]
        records = []
        for rid, run in runs.items():
            config = configs.get(rid, {})
            name = run["name"] or rid
            # A name logged by several runs (trackio's resume="never") keeps them apart.
            shown = name if names.count(name) == 1 else f"{name}~{rid[:8]}"
            summary = run["summary"]
            last = parse_time(run["last"]) if run["last"] else None
            state, reason = _state(summary, last, now)
            created = parse_time(run["first"]) if run["first"] else parse_time(
                config.get("_Created"))
            records.append({
                "id": shown,
                "name": name,
                "entity": None,
                "project": self.project,
                "state": state,
                "reason": reason,
                "config": {k: v for k, v in config.items() if not k.startswith("_")},
                "summary": {k: v for k, v in summary.items() if not k.startswith("_")},
                "tags": [],
                "group": config.get("_Group"),
                "sweep": None,
                "created": created,
                "url": None,
                "space_id": space,
                "trackio_id": rid,
                "source": "trackio",
                "tracker": "trackio",
            })
        records.sort(key=lambda r: (r["created"] or 0.0, r["id"]))
        return records

    def history(self, shown_id: str) -> list[dict[str, Any]]:
        """A run's logged rows as W&B history rows (``_step``, ``_timestamp``)."""
        wanted = shown_id.rsplit("~", 1)
        _configs, rows, _space = self._read()
        out = []
        for rid, name, step, stamp, metrics, *_ in rows:
            if name == shown_id or (len(wanted) == 2 and name == wanted[0]
                                    and rid.startswith(wanted[1])):
                out.append({**metrics, "_step": step, "_timestamp": parse_time(stamp)})
        return out


def _state(summary: dict[str, Any], last: float | None,
           now: float) -> tuple[str | None, str | None]:
    code = summary.get(EXIT_KEY)
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        return ("finished", None) if code == 0 else ("failed", None)
    if last is not None and now - last < ACTIVE_WITHIN_S:
        return "running", None
    return None, "trackio records no end state; no log in the last minute"
