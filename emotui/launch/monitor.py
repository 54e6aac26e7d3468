"""Backend-agnostic readers: the live state of runs in the run store, and reattaching to them.

Starting, resuming, cancelling and deleting go through launch.runs.

These read each run's status.json, group the runs by the backend recorded there, and make one
batched call per backend, so `emotui ls`, the TUI and a sweep controller pay one squeue per poll
no matter how many runs they track. Nothing is held in memory between calls: a new process
(after the launcher, the TUI or the machine restarted) gets the same answers.
"""

from __future__ import annotations

import logging
from typing import Iterable

from emotui.core.errors import EmotuiError
from emotui.core.runstore import RunPaths
from emotui.core.lifecycle import ACTIVE
from emotui.core.runview import read_checked_status
from emotui.core.status import read_status
from emotui.launch import get_backend
from emotui.launch.base import job_attached

log = logging.getLogger("emotui.launch")


def _group(runs: Iterable[RunPaths]) -> tuple[dict[str, dict], dict[str, list]]:
    done: dict[str, dict] = {}
    groups: dict[str, list] = {}
    for paths in runs:
        status, problems = read_checked_status(paths)
        if problems:  # a record it cannot read is left as it is: nothing asks its backend
            done[paths.run_id] = status
        elif status.get("state") in ACTIVE:
            groups.setdefault(status.get("backend") or "inline", []).append((paths, status))
        else:
            done[paths.run_id] = status
    return done, groups


def refresh_runs(runs: Iterable[RunPaths]) -> dict[str, dict]:
    """Live status of each run ({run_id: status}); terminal changes are written to status.json.

    Finished runs cost nothing (their status.json is final); active ones cost one batched
    scheduler call per backend. A scheduler that cannot be reached leaves the files' word.
    """
    out, groups = _group(runs)
    for name, members in groups.items():
        try:
            out.update(get_backend(name).refresh(members))
        except EmotuiError as exc:  # e.g. a backend name from a newer emotui
            log.warning("cannot refresh %s runs: %s", name, exc)
            out.update({p.run_id: s for p, s in members})
    return out


def with_live_state(rows: list[dict], live: dict[str, dict]) -> list[dict]:
    """Rows of runs (core.results.summarize: ``status`` is the state) with what their backends
    see now and no file records: a job that went quiet ("no heartbeat for 7200 s (node lost or
    job hung?)"), one Slurm runs that has not recorded itself yet ("starting"), a cancel under
    way. ``live``: refresh_runs' answer. A backend persists only what no live job can be
    writing, so without this a reader would show a hung job as healthy."""
    out = []
    for row in rows:
        status = live.get(row.get("run_id"))
        if status and row.get("status") in ACTIVE:  # else the files say it all (ended, unreadable)
            row = dict(row, status=status.get("state") or row.get("status"),
                       reason=status.get("reason"))
        out.append(row)
    return out


def reattach_run(paths: RunPaths) -> dict | None:
    """The live status of the job the run's status.json records, when it is still queued or
    running (a new process, e.g. a restarted sweep controller, watches it on); else None."""
    status = read_status(paths)
    if status.get("state") not in ACTIVE:
        return None
    name = status.get("backend") or "inline"
    try:
        return get_backend(name).reattach(paths, status)
    except EmotuiError as exc:  # e.g. a backend name from a newer emotui: the files' word
        log.warning("cannot reattach to %s run %s: %s", name, paths.run_id, exc)
        return status if job_attached(status) else None
