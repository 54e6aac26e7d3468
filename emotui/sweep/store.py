"""A sweep's durable state: ``<runs>/sweeps/<sweep_id>/``, plain files safe on a shared filesystem.

    sweep.yaml        the sweep file as given (byte for byte)
    spec.json         the resolved sweep (parameters, --set overrides, metric, seed, backend)
    trials/0003.json  one file per trial: its index, swept values, run id (optuna number for
                      bayes); written only by the controller that holds the sweep's token,
                      replaced atomically
    controller.json   who drives the sweep now (host, pid, updated, token) and how it ended
    optuna.journal    the bayes sampler's study (Optuna JournalStorage, append-only)

Each trial is also an ordinary run directory in the run store whose status.json carries
``sweep_id`` and ``sweep_trial``; the run directory is the truth about the trial's state.
No locks: one controller per sweep at a time, checked through controller.json: the process it
names (this machine), or its heartbeat (another machine; a heartbeat in the future is judged by
whether it changes, and ``sweep resume --force`` takes it over).

A trial record that cannot be read (overwritten, cut short, not a record) is rebuilt from the run
that names the trial in its status.json (``read_trials``), with a one-line ``warning`` on the
record in memory: its run is never started again as if it were new. The controller writes the
rebuilt record back; readers only warn.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotui.core.clock import age_of, ahead_by, quiet_for
from emotui.core.errors import ConfigError, RunNotFound
from emotui.core.lifecycle import RunState
from emotui.core.processes import process_alive, process_identity
from emotui.core.results import load_config_dict
from emotui.core.runstore import (
    RUN_ID_RE,
    RunStore,
    atomic_write_json,
    atomic_write_text,
    read_json,
    unusable_store,
)
from emotui.core.runview import read_json_object
from emotui.core.schema import SCHEMA_KEY, SWEEP_SCHEMA
from emotui.core.status import read_status

log = logging.getLogger("emotui")

SWEEPS_DIRNAME = "sweeps"
CONTROLLER_STALE_S = 60.0  # a controller refreshes controller.json every few seconds


@dataclass(frozen=True)
class SweepPaths:
    root: Path

    @property
    def sweep_id(self) -> str:
        return self.root.name

    @property
    def source(self) -> Path:
        return self.root / "sweep.yaml"

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    def trial(self, index: int) -> Path:
        return self.trials / f"{index:04d}.json"

    @property
    def controller(self) -> Path:
        return self.root / "controller.json"

    @property
    def journal(self) -> Path:
        return self.root / "optuna.journal"


class SweepStore:
    """The sweeps folder inside a run store."""

    def __init__(self, runs_root: Path):
        self.root = Path(runs_root) / SWEEPS_DIRNAME

    def paths(self, sweep_id: str) -> SweepPaths:
        if not RUN_ID_RE.match(sweep_id) or ".." in sweep_id:
            raise ConfigError(f"'{sweep_id}' is not a valid sweep id (lowercase letters, digits, "
                              "'.', '_', '-'); 'emotui sweep ls' lists the sweeps")
        return SweepPaths(self.root / sweep_id)

    def ids(self) -> list[str]:
        try:
            return sorted(e for e in os.listdir(self.root) if (self.root / e / "spec.json").exists())
        except FileNotFoundError:
            return []

    def find(self, ref: str) -> SweepPaths:
        """A sweep by id, unique prefix, or a unique substring."""
        if "/" in ref or ref.startswith("."):
            raise ConfigError(f"'{ref}' is not a sweep id; 'emotui sweep ls' lists the sweeps")
        ids = self.ids()
        if ref in ids:
            return SweepPaths(self.root / ref)
        matches = [i for i in ids if i.startswith(ref)] or [i for i in ids if ref in i]
        if len(matches) == 1:
            return SweepPaths(self.root / matches[0])
        if not matches:
            raise RunNotFound(f"no sweep '{ref}' in {self.root}; 'emotui sweep ls' lists the sweeps")
        raise RunNotFound(f"'{ref}' matches {len(matches)} sweeps ({', '.join(matches[:5])}); "
                          "give more of the id")

    def __iter__(self) -> Iterator[SweepPaths]:
        for sid in self.ids():
            yield SweepPaths(self.root / sid)


def create_sweep_dir(paths: SweepPaths, source_text: str, spec_json: dict[str, Any]) -> None:
    try:
        paths.trials.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # the run store is a file, read-only, not ours
        raise unusable_store(paths.root.parent.parent, exc) from None
    atomic_write_text(paths.source, source_text)
    atomic_write_json(paths.spec, dict(spec_json, **{SCHEMA_KEY: SWEEP_SCHEMA}))


_TRIAL_NAME = re.compile(r"^(\d{4,})\.json$")


def read_trials(paths: SweepPaths) -> list[dict[str, Any]]:
    """Trial records in index order. One that cannot be read (retried once: it may be mid-
    replace) is rebuilt from the run naming its trial (rebuild_trial), with a ``warning``."""
    out = []
    try:
        names = sorted(n for n in os.listdir(paths.trials) if _TRIAL_NAME.match(n))
    except FileNotFoundError:
        return []
    for name in names:
        index = int(_TRIAL_NAME.match(name).group(1))
        record = _trial_record(paths.trials / name, index)
        if record is None:
            time.sleep(0.05)
            record = _trial_record(paths.trials / name, index)
        if record is None:
            record = rebuild_trial(paths, index, _unreadable_why(paths.trials / name, index))
        out.append(record)
    return out


def _trial_record(path: Path, index: int) -> dict[str, Any] | None:
    """The record in ``path`` if it is one: a JSON object naming its own index."""
    record = read_json(path)
    if record is None or record.get("index") != index or isinstance(record.get("index"), bool):
        return None
    return record


def _unreadable_why(path: Path, index: int) -> str:
    """What is wrong with trial record ``path``, naming it as trials/NNNN.json."""
    record, problem = read_json_object(path)
    if problem is None and record is not None:
        problem = f"{path.name} names trial {record.get('index')!r}, not {index}"
    problem = problem or f"{path.name} cannot be read"
    return f"{path.parent.name}/{problem}" if problem.startswith(path.name) else problem


def rebuild_trial(paths: SweepPaths, index: int, why: str) -> dict[str, Any]:
    """Trial ``index``'s record, its file being unreadable (``why``: what is wrong), rebuilt from the run whose
    status.json names this sweep and trial (the one furthest along if several do): its run id,
    the swept values its config.yaml holds, when it was created. With no such run (the trial
    was planned, its run never created) the record has no run id. ``warning`` says what was
    done, in one line."""
    where = f"sweep {paths.sweep_id}: {why}"
    found = []
    for run in RunStore(paths.root.parent.parent):
        status = read_status(run)
        if status.get("sweep_id") == paths.sweep_id and status.get("sweep_trial") == index:
            found.append((status.get("state") == RunState.COMPLETED.value,
                          float(status.get("created") or 0), run, status))
    if not found:
        return {"index": index, "run_id": None, "params": None, "optuna_number": None,
                "warning": f"{where}; no run names this trial, so it is planned again"}
    _done, _created, run, status = max(found, key=lambda f: f[:2])
    config = load_config_dict(run)
    params = {}
    for raw_key, param in ((read_json(paths.spec) or {}).get("parameters") or {}).items():
        key = raw_key if raw_key in config else raw_key.replace(".", "_")
        if isinstance(param, dict) and param.get("distribution") != "constant" and key in config:
            params[key] = config[key]
    others = f" ({len(found) - 1} other runs name it too)" if len(found) > 1 else ""
    return {"index": index, "run_id": run.run_id, "params": params, "optuna_number": None,
            "created": status.get("created"),
            "warning": f"{where}; rebuilt from run {run.run_id}, which names this trial "
                       f"({status.get('state')}){others}"}


def write_trial(paths: SweepPaths, record: dict[str, Any]) -> bool:
    """Write a trial record, unless another controller has taken the sweep over since this
    process began driving it (a fencing token in controller.json): a stale controller never
    writes over its successor's records. Whether it was written."""
    mine = _tokens.get(_key(paths))
    if mine is not None:
        current = (read_json(paths.controller) or {}).get("token")
        if current is not None and current != mine:
            log.warning("sweep %s: dropped trial %s's record from a controller that was taken "
                        "over (pid %s)", paths.sweep_id, record.get("index"), os.getpid())
            return False
    # The warning of a rebuilt record is said once, when it is read; the file notes the rebuild.
    written = {k: v for k, v in record.items() if k != "warning"}
    if record.get("warning"):
        written["rebuilt"] = record["warning"]
    atomic_write_json(paths.trial(int(record["index"])),
                      dict(written, **{SCHEMA_KEY: SWEEP_SCHEMA}))
    return True


# -- the controller claim -----------------------------------------------------------------------


def controller_liveness(paths: SweepPaths) -> tuple[dict[str, Any] | None, str]:
    """(controller.json, whether the controller it names still drives the sweep: "alive",
    "gone" or "unknown"). A controller on this machine is asked by its identity (pid, process
    start, boot id: core.processes); another machine's by its heartbeat (``updated``), and
    one whose ``updated`` lies in the future (a clock running ahead) by whether it changes:
    "unknown" until this process has seen it unchanged for CONTROLLER_STALE_S (core.clock)."""
    info = read_json(paths.controller)
    if not info or info.get("state") != "running":
        return info, "gone"
    alive = process_alive(info) if info.get("pid") else None
    if alive is not None:
        return info, "alive" if alive else "gone"
    try:
        updated = float(info.get("updated") or 0)
    except (TypeError, ValueError):
        return info, "gone"
    if ahead_by(updated) is not None:
        quiet = quiet_for(f"controller:{_key(paths)}:{info.get('token')}", updated)
        return info, "gone" if quiet > CONTROLLER_STALE_S else "unknown"
    return info, "alive" if (age_of(updated) or 0.0) <= CONTROLLER_STALE_S else "gone"


def controller_alive(paths: SweepPaths, *, force: bool = False) -> dict[str, Any] | None:
    """controller.json of a controller still driving this sweep, else None; one whose liveness
    cannot be told (its time lies in the future) counts as driving it unless ``force``."""
    info, liveness = controller_liveness(paths)
    if liveness == "alive" or (liveness == "unknown" and not force):
        return info
    return None


def future_controller(info: dict[str, Any]) -> float | None:
    """How far in the future a controller record's ``updated`` lies, when it does."""
    try:
        return ahead_by(float(info.get("updated") or 0))
    except (TypeError, ValueError):
        return None


def take_over(paths: SweepPaths, *, force: bool, echo: Callable[[str], None]) -> None:
    """Before this process drives the sweep: a one-line ConfigError when another controller
    drives it, or may (its controller.json's time lies in the future) unless ``force``; with
    ``force``, a warning through ``echo`` naming the controller taken over."""
    other = controller_alive(paths, force=force)
    if other and other.get("pid") != os.getpid():
        ahead = future_controller(other)
        unknown = "" if ahead is None else (
            f"; its controller.json's time lies {ahead:.0f} s in the future (a clock running "
            "ahead?), so whether it lives cannot be told: if it is gone, take the sweep over "
            f"with emotui sweep resume {paths.sweep_id} --force")
        raise ConfigError(
            f"sweep {paths.sweep_id} is being run by pid {other.get('pid')} on "
            f"{other.get('host')}; watch it with 'emotui sweep status {paths.sweep_id}'"
            + unknown)
    if force:
        info, liveness = controller_liveness(paths)
        if liveness == "unknown":
            echo(f"warning: --force: taking sweep {paths.sweep_id} over from pid "
                 f"{info.get('pid')} on {info.get('host')}, whose controller.json's time lies "
                 f"{future_controller(info) or 0:.0f} s in the future; if that controller "
                 "still runs, stop it there")


# The fencing token of each sweep this process drives (write_controller), by its folder.
_tokens: dict[str, str] = {}


def _key(paths: SweepPaths) -> str:
    return os.path.realpath(paths.root)


def write_controller(paths: SweepPaths, **fields: Any) -> dict[str, Any]:
    """Record that this process drives the sweep (with ``fields``). The first write of a
    process takes the sweep over with a new token, which its trial records are fenced by."""
    token = _tokens.setdefault(_key(paths), secrets.token_hex(8))
    info = read_json(paths.controller) or {}
    info.update(fields)
    info.update(process_identity(os.getpid()), updated=round(time.time(), 3), token=token)
    atomic_write_json(paths.controller, info)
    return info
