"""A study's durable state: ``<runs>/studies/<study_id>/``, plain files safe on a shared filesystem.

    sources/          the study file or sweep files as given (byte for byte)
    spec.json         the resolved study: each method's search sweep, select, confirm, budget,
                      report, export (re-validated on resume; ``schema_version``)
    study.json        the state: phase, each phase's state, each method's sweep ids, winner,
                      test results and export, the budget spent, notes (``schema_version``);
                      replaced atomically, written only by the study's controller
    controller.json   who drives the study now (host, pid, updated) and how it ended
    study.log         what happened, one timestamped line each (append-only)
    sweeps/<id>.yaml  the sweep files the study generated; each sweep's own state is an ordinary
                      sweep in <runs>/sweeps/<id>/ (`emotui sweep status <id>` works on it)
    report/           report.pdf + report.typ, report.md, report.html, report_figures/
    export/<method>/  each method's confirmed best as a plain Hugging Face folder

A study directory appears whole (written beside it, then renamed) or not at all. No locks: one
controller per study at a time, checked through controller.json's heartbeat, as for sweeps.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotui.core.errors import ConfigError, RunNotFound
from emotui.core.runstore import (
    RUN_ID_RE,
    atomic_write_json,
    atomic_write_text,
    read_json,
    unusable_store,
)
from emotui.core.status import now
from emotui.sweep import store as sweep_store

STUDIES_DIRNAME = "studies"
STATE_SCHEMA = 1
PHASES = ("search", "select", "confirm", "test", "report", "export")


@dataclass(frozen=True)
class StudyPaths:
    root: Path

    @property
    def study_id(self) -> str:
        return self.root.name

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def state(self) -> Path:
        return self.root / "study.json"

    @property
    def controller(self) -> Path:
        return self.root / "controller.json"

    @property
    def log(self) -> Path:
        return self.root / "study.log"

    @property
    def sweeps(self) -> Path:
        return self.root / "sweeps"

    def sweep_file(self, sweep_id: str) -> Path:
        return self.sweeps / f"{sweep_id}.yaml"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def export(self) -> Path:
        return self.root / "export"

    def export_dir(self, method: str) -> Path:
        return self.export / method


def search_sweep_id(study_id: str, method: str) -> str:
    return f"{study_id}-search-{method}"


def confirm_sweep_id(study_id: str, method: str) -> str:
    return f"{study_id}-confirm-{method}"


class StudyStore:
    """The studies folder inside a run store."""

    def __init__(self, runs_root: Path):
        self.runs_root = Path(runs_root)
        self.root = self.runs_root / STUDIES_DIRNAME

    def paths(self, study_id: str) -> StudyPaths:
        if not RUN_ID_RE.match(study_id) or ".." in study_id:
            raise ConfigError(f"'{study_id}' is not a valid study id (lowercase letters, digits, "
                              "'.', '_', '-'); 'emotui study ls' lists the studies")
        return StudyPaths(self.root / study_id)

    def ids(self) -> list[str]:
        try:
            return sorted(e for e in os.listdir(self.root) if not e.startswith(".")
                          and (self.root / e / "spec.json").exists())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def find(self, ref: str) -> StudyPaths:
        """A study by id, unique prefix, or unique substring."""
        if "/" in ref or ref.startswith("."):
            raise ConfigError(f"'{ref}' is not a study id; 'emotui study ls' lists the studies")
        ids = self.ids()
        if ref in ids:
            return StudyPaths(self.root / ref)
        matches = [i for i in ids if i.startswith(ref)] or [i for i in ids if ref in i]
        if len(matches) == 1:
            return StudyPaths(self.root / matches[0])
        if not matches:
            raise RunNotFound(f"no study '{ref}' in {self.root}; 'emotui study ls' lists the "
                              "studies")
        raise RunNotFound(f"'{ref}' matches {len(matches)} studies ({', '.join(matches[:5])}); "
                          "give more of the id")

    def __iter__(self) -> Iterator[StudyPaths]:
        for sid in self.ids():
            yield StudyPaths(self.root / sid)


def initial_state(study_id: str, methods: list[str]) -> dict[str, Any]:
    return {
        "schema_version": STATE_SCHEMA,
        "study_id": study_id,
        "created": now(),
        "updated": now(),
        "phase": PHASES[0],
        "ending": None,
        "ended": None,
        "phases": {phase: {"state": "pending"} for phase in PHASES},
        "methods": {m: {
            "search": {"sweep_id": search_sweep_id(study_id, m), "state": "pending"},
            "winner": None,
            "confirm": {"sweep_id": confirm_sweep_id(study_id, m), "state": "pending"},
            "test": None,
            "export": None,
        } for m in methods},
        "budget": {"wall_s": 0.0, "exhausted": False},
        "notes": [],
        "report": None,
    }


def create_study_dir(paths: StudyPaths, spec_json: dict[str, Any], sources: list[Path],
                     methods: list[str]) -> None:
    """Write the study's folder beside its place, then rename it there: a study is whole or
    absent, whenever the process stops."""
    staging = paths.root.parent / f".{paths.study_id}.{os.getpid()}.tmp"
    try:
        paths.root.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staged = StudyPaths(staging)
        staged.sources.mkdir(parents=True)
        staged.sweeps.mkdir()
        for n, source in enumerate(sources):
            shutil.copyfile(source, staged.sources / f"{n}-{Path(source).name}")
        atomic_write_json(staged.spec, {**spec_json, "study_id": paths.study_id})
        atomic_write_json(staged.state, initial_state(paths.study_id, methods))
        atomic_write_text(staged.log, "")
        try:
            os.rename(staging, paths.root)
        except OSError:
            if not paths.spec.exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process made it meanwhile
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise unusable_store(paths.root.parent.parent, exc) from None


def read_state(paths: StudyPaths) -> dict[str, Any]:
    state = read_json(paths.state)
    if state is None:
        raise ConfigError(f"{paths.root} holds no study state (study.json missing or unreadable)")
    if state.get("schema_version") != STATE_SCHEMA:
        raise ConfigError(f"study {paths.study_id} was written by another version of emotui "
                          f"(study.json schema {state.get('schema_version')!r}, this one reads "
                          f"{STATE_SCHEMA}); continue it with that version")
    return state


class StudyState:
    """study.json held in memory by the controller; every change is saved atomically (under a
    lock: the heartbeat thread adds the wall time it counts)."""

    def __init__(self, paths: StudyPaths):
        self.paths = paths
        self.data = read_state(paths)
        self.lock = threading.RLock()

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def method(self, name: str) -> dict[str, Any]:
        return self.data["methods"][name]

    def save(self) -> None:
        with self.lock:
            self.data["updated"] = now()
            atomic_write_json(self.paths.state, self.data)

    def log(self, line: str, *, note: bool = False) -> None:
        """One line in study.log; a ``note`` is also kept in study.json (status shows it)."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.lock:
            with open(self.paths.log, "a", encoding="utf-8") as handle:
                handle.write(f"{stamp} {line}\n")
            if note:
                self.data["notes"].append({"time": now(), "text": line})
                self.save()

    def phase_state(self, phase: str) -> str:
        return self.data["phases"][phase]["state"]

    def set_phase(self, phase: str, state: str, **fields: Any) -> None:
        with self.lock:
            record = self.data["phases"][phase]
            if state == "running" and record.get("state") != "running":
                record.setdefault("started", now())
            if state in ("done", "skipped"):
                record["ended"] = now()
            record.update(state=state, **fields)
            if state == "running":
                self.data["phase"] = phase
            self.save()


# -- the controller claim (sweep.store's heartbeat rule, on the study's controller.json) -------


def controller_alive(paths: StudyPaths) -> dict[str, Any] | None:
    """controller.json of a controller still driving this study (fresh heartbeat), else None."""
    return sweep_store.controller_alive(paths)  # type: ignore[arg-type]  # reads .controller


def write_controller(paths: StudyPaths, **fields: Any) -> dict[str, Any]:
    return sweep_store.write_controller(paths, **fields)  # type: ignore[arg-type]
