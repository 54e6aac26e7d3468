"""What every backend shares: the interface and its declared capabilities, the exit record, the
cancel marker, process identity.

Everything needed to find a job again lives in the run's ``status.json`` (``backend``, ``job_id``,
``pid``/``pgid``/``proc_start``/``boot_id``, ``host``, ``submitted``, ``launch_folder``), so any
process, on any machine sharing the run store, can refresh, cancel or reattach to it: there is no
daemon and no in-memory handle to lose.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from emotui.core.runstore import RunPaths, atomic_write_json, read_json
# Process identity lives in core (a run's claim names its holder the same way); backends import
# it from here.
from emotui.core.processes import (  # noqa: F401
    boot_id,
    proc_start_ticks,
    process_alive,
    process_identity,
)
from emotui.core.lifecycle import IN_FLIGHT, RunState
from emotui.core.status import (
    RunFolderGone,
    attempt_of,
    StaleAttempt,
    check_fence,
    heartbeat_age,
    held_attempt,
    read_status,
)

if TYPE_CHECKING:
    from emotui.launch.resources import ResourceSettings

CANCEL_MARKER = "cancel_requested"


@dataclass(frozen=True)
class BackendSpec:
    """What a backend is and can do, declared once (emotui.launch.registry lists them): callers
    ask these, never the backend's name."""

    name: str
    label: str  # a few words for people: the TUI's picker shows "<name> (<label>)"
    help: str  # what --help says it does
    factory: str  # "module:Class", imported only when the backend is used
    detached: bool  # the run outlives the launching process (else it trains in that process)
    arrays: bool = False  # submit_many is one job array with a parallelism cap
    requeues: bool = False  # the scheduler itself requeues a preempted job
    poll_interval_s: float = 2.0  # how often a watcher (the sweep controller) asks refresh()
    # What submit(resources=) takes, if anything: the settings (flags, form rows, help) and
    # the config section that holds them (launch.resources.ResourceSettings).
    resources: "ResourceSettings | None" = None
    tui: bool = True  # the TUI may launch runs on it
    # --trials-per-gpu K, one of two ways (launch.gpu_share): the caller places each run on one
    # of this machine's GPUs and submit(env=) starts it pinned there (CUDA_VISIBLE_DEVICES) ...
    pins_gpus: bool = False
    # ... or submit_many(trials_per_job=K, mps=) runs K runs inside each job on its GPU.
    packs_trials: bool = False
    # The run trains on the machine that starts it: what this machine cannot reach (the
    # Hugging Face Hub), the run cannot either (launch.runs.check_start refuses it at once).
    this_machine: bool = True

    @property
    def title(self) -> str:
        return f"{self.name} ({self.label})"

    def create(self) -> "Backend":
        module, _, cls = self.factory.partition(":")
        return getattr(importlib.import_module(module), cls)()


def job_attached(status: dict[str, Any]) -> bool:
    """Whether status.json names a job (pid or scheduler id) that is still queued or running:
    one a later process can watch instead of starting the run again."""
    submitted = status.get("job_id") or status.get("pid")
    return bool(submitted) and status.get("state") in IN_FLIGHT


class Backend(ABC):
    """A place runs execute (emotui.launch.registry lists them); a backend whose runs are
    processes on this machine subclasses launch.process.ProcessBackend."""

    name: ClassVar[str]

    @abstractmethod
    def submit(self, paths: RunPaths, *, resume: bool = False, resources: Any = None) -> dict:
        """Start (or queue) the run whose config.yaml is in ``paths``; returns its status.
        ``resources`` is an instance of the spec's ``resources.cls`` (None: the defaults)."""

    def submit_many(self, runs: Sequence[RunPaths], *, resources: Any = None,
                    max_parallel: int | None = None, job_name: str | None = None,
                    resume: bool = False) -> list[dict]:
        """Start several runs, at most ``max_parallel`` at once; returns their statuses. A
        backend with ``arrays`` submits one job array named ``job_name``."""
        return [self.submit(p, resume=resume, resources=resources) for p in runs]

    @abstractmethod
    def refresh(self, runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, dict]:
        """Live status of runs (paths, status.json) with one batched scheduler call; persists
        only what no live job can be writing (terminal states, pending reasons)."""

    @abstractmethod
    def cancel(self, runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, str] | None:
        """Stop active runs; they end ``cancelled``. Returns, by run id, what happened to a
        run whose cancel is not done yet (Slurm: "cancel pending: scancel failed ..."), which
        launch.runs.cancel reports instead of "cancelled"."""

    def job_alive(self, paths: RunPaths, status: dict[str, Any]) -> str | None:
        """The scheduler job the status names, in words ("slurm job 45"), while the scheduler
        still has it queued or running; None otherwise. A process on this machine is judged by
        its pid (launch.runs.live_processes), so a process backend needs nothing here."""
        return None

    def reattach(self, paths: RunPaths, status: dict[str, Any] | None = None
                 ) -> dict[str, Any] | None:
        """The live status of the job the run's status.json records, when that job is still
        queued or running (so a new process watches it on); None when there is none."""
        status = read_status(paths) if status is None else status
        live = self.refresh([(paths, status)]).get(paths.run_id, status)
        return live if job_attached(live) else None


# --- the job's exit record ------------------------------------------------------------------

def write_exit(paths: RunPaths, *, outcome: str, exit_code: int, signal: str | None = None,
               error: str | None = None, **extra: Any) -> bool:
    """exit.json: the job's last act. Lets a reader tell how a job ended without sacct. Not
    written by an attempt the run has moved on from (core.status's fence), nor into a folder
    that is gone: False then."""
    try:
        check_fence(paths)
    except (StaleAttempt, RunFolderGone):
        return False
    atomic_write_json(paths.exit_file, {
        "outcome": outcome, "exit_code": exit_code, "signal": signal, "error": error,
        "time": round(time.time(), 3), "host": socket.gethostname(), "pid": os.getpid(),
        "attempt": held_attempt(paths),
        "job_id": os.environ.get("EMOTUI_JOB_ID") or slurm_job_id_from_env(), **extra,
    })
    return True


def read_exit(paths: RunPaths, status: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The job's exit record; None when there is none, or when it belongs to another attempt
    than the one ``status`` records (an earlier attempt's record says nothing of this one)."""
    record = read_json(paths.exit_file)
    if record is None or status is None:
        return record
    mine, theirs = attempt_of(status), record.get("attempt")
    if mine is not None and isinstance(theirs, int) and theirs != mine:
        return None
    return record


def slurm_job_id_from_env() -> str | None:
    array_id, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_id and task:
        return f"{array_id}_{task}"
    return os.environ.get("SLURM_JOB_ID")


# --- cancel marker: tells the job (and later readers) that a stop was a user's cancel -------

def cancel_marker(paths: RunPaths) -> Path:
    return paths.launch / CANCEL_MARKER


def mark_cancel_requested(paths: RunPaths) -> None:
    paths.launch.mkdir(exist_ok=True)  # never the run's folder itself: one deleted stays so
    cancel_marker(paths).write_text(f"{time.time():.3f}\n")


def cancel_requested(paths: RunPaths) -> bool:
    return cancel_marker(paths).exists()


def clear_launch_leftovers(paths: RunPaths) -> None:
    """Before a (re)launch: the previous attempt's exit record and cancel marker no longer apply."""
    paths.exit_file.unlink(missing_ok=True)
    cancel_marker(paths).unlink(missing_ok=True)


# --- shared helpers ------------------------------------------------------------------------------

def stderr_tail(paths: RunPaths, lines: int = 20, max_bytes: int = 64_000) -> list[str]:
    """The last lines of the run's stderr.log (what a failure report shows)."""
    try:
        with open(paths.stderr, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            text = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def last_error_line(paths: RunPaths) -> str | None:
    """The last line of stderr.log that looks like an error (for a reason), if any."""
    for line in reversed(stderr_tail(paths, lines=50)):
        if "Error" in line or "error" in line or "Killed" in line or "Exception" in line:
            return line.strip()[:300]
    return None


def outcome_from_exit(paths: RunPaths, status: dict[str, Any], exit_record: dict[str, Any],
                      ) -> tuple[RunState, str | None]:
    """The final state a job's exit.json implies (status.json's own reason preferred)."""
    outcome = exit_record.get("outcome")
    if outcome == "completed":
        return RunState.COMPLETED, None
    if outcome == "cancelled" or cancel_requested(paths):
        return RunState.CANCELLED, status.get("reason") if status.get("state") == "cancelled" \
            else "cancelled by user"
    if outcome == "preempted":
        sig = exit_record.get("signal") or "a signal"
        return RunState.PREEMPTED, (f"stopped by {sig} after saving a checkpoint; resume with: "
                                    f"emotui run --resume {paths.run_id}")
    reason = status.get("reason") if status.get("state") == "failed" else None
    return RunState.FAILED, reason or exit_record.get("error") or \
        f"exit code {exit_record.get('exit_code')}"


def stale_heartbeat_reason(paths: RunPaths, limit: float) -> str | None:
    age = heartbeat_age(paths)
    if age is not None and age > limit:
        return f"no heartbeat for {int(age)} s"
    return None
