"""Backends whose runs are processes on a machine: the one base they share (``ProcessBackend``),
and how such a run is watched, found and stopped.

``ProcessBackend.submit`` is a template (as submitit's executors are): it starts the job
(``python -m emotui.launch.job RUN_DIR --backend NAME --attempt N``) in a new session (its own
process group, no controlling terminal) with stdout/stderr going to the run's
stdout.log/stderr.log, so it outlives the launcher, the TUI and the terminal. A backend
overrides only the hooks that differ:

- ``command(paths, resume=, attempt=)``: the argv (a ``nohup`` backend puts ``nohup`` first);
- ``env(extra)``: the job's environment (this one's, unbuffered, plus ``extra``: the GPU a sweep
  placed the trial on);
- ``cwd(paths)``: its working directory (default: this one's);
- ``started(proc)``: what status.json records of the started process until the job records
  itself (default: its pid as the job id and process group);
- ``processes(paths, status)``, ``send(target, sig)``, ``stop_signal``, ``stop_grace_s``: how
  cancel finds a run's live processes and stops them.

status.json records the pid, process group, the process's start time and the machine's boot id:
together they name that one process, so a later reader never mistakes a reused pid for the job.
There is no scheduler to ask: the process table (same host), exit.json and the heartbeat (other
hosts) tell how a run is doing (``refresh_processes``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, ClassVar, Mapping, Sequence

from emotui.core.claim import read_claim
from emotui.core.errors import BackendError
from emotui.core.lifecycle import ACTIVE, RunState, record_end, requeue
from emotui.core.runstore import RunPaths, open_for_append
from emotui.core.status import HEARTBEAT_STALE_S, attempt_of, now, read_status, write_status
from emotui.launch.base import (
    Backend,
    clear_launch_leftovers,
    last_error_line,
    mark_cancel_requested,
    outcome_from_exit,
    process_alive,
    process_identity,
    read_exit,
    stale_heartbeat_reason,
)

# How long `cancel` lets a job save its checkpoint before killing its process group.
CANCEL_GRACE_S = 20.0


# --- watching -------------------------------------------------------------------------------------

def refresh_processes(runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, dict]:
    """Live states of runs that are (or were) processes on some machine: no scheduler to ask,
    so the process table (same host), exit.json and the heartbeat (other hosts) decide."""
    out: dict[str, dict] = {}
    for paths, status in runs:
        state = status.get("state")
        if state not in ACTIVE:
            out[paths.run_id] = status
            continue
        alive = process_alive(status)
        if alive:
            stale = stale_heartbeat_reason(paths, HEARTBEAT_STALE_S)
            if stale and state == RunState.RUNNING.value:
                status = dict(status, reason=f"{stale} (hung?)")
            out[paths.run_id] = status
            continue
        exit_record = read_exit(paths, status)
        if alive is None and exit_record is None:
            # Another machine ran it: only a stale heartbeat says it is gone.
            reason = stale_heartbeat_reason(paths, HEARTBEAT_STALE_S)
            if reason and state == RunState.RUNNING.value:
                status = record_end(paths, RunState.FAILED, f"lost: {reason} from "
                                    f"{status.get('host')} (killed or machine down?)", lost=True,
                                    seen=status)
            out[paths.run_id] = status
            continue
        if status.get("pid") is None and state == RunState.QUEUED.value:
            out[paths.run_id] = status  # being created right now
            continue
        lost = None
        if exit_record is not None:
            new_state, reason = outcome_from_exit(paths, status, exit_record)
        elif state == RunState.PREEMPTED.value:
            new_state, reason = RunState.PREEMPTED, status.get("reason")
        else:
            detail = last_error_line(paths)
            new_state, lost = RunState.FAILED, True
            reason = ("process ended without an exit record (killed by SIGKILL or out of memory?)"
                      + (f"; last error: {detail}" if detail else ""))
        if new_state.value != state or reason != status.get("reason"):
            status = record_end(paths, new_state, reason, lost=lost, seen=status)
        out[paths.run_id] = status
    return out


# --- finding and stopping -------------------------------------------------------------------------

def signal_group(status: dict[str, Any], sig: int) -> bool:
    """Send sig to the run's process group (or process). False when it is already gone."""
    pgid, pid = status.get("pgid"), status.get("pid")
    try:
        if pgid:
            os.killpg(int(pgid), sig)
        elif pid:
            os.kill(int(pid), sig)
        else:
            return False
    except ProcessLookupError:
        return False
    return True


def processes_of(paths: RunPaths, status: dict[str, Any]) -> list[dict[str, Any]]:
    """The live processes of a run on this machine, as identities to signal: the one its
    status.json names and the holder of its claim (which may be another attempt's, still
    stopping, whatever the record says). Raises BackendError for one on another machine."""
    found = []
    holder = read_claim(paths) or {}
    for ident in (status, holder):
        if ident.get("pid") == os.getpid() and ident.get("host") == socket.gethostname():
            continue  # this process itself (it started the run): never signal ourselves
        alive = process_alive(ident) if ident.get("pid") else False
        if alive is None:
            raise BackendError(f"run {paths.run_id} runs on {ident.get('host')}, not on this "
                               "machine; cancel it there")
        if alive and all(ident.get("pid") != f.get("pid") for f in found):
            found.append(ident)
    return found


Finder = Callable[[RunPaths, dict], list]
Sender = Callable[[dict, int], bool]


def cancel_processes(runs: Sequence[tuple[RunPaths, dict]], *, grace_s: float = CANCEL_GRACE_S,
                     first_signal: int = signal.SIGTERM, find: Finder = processes_of,
                     send: Sender = signal_group) -> None:
    """``first_signal`` to each run's live processes (``find``; they checkpoint and stop),
    SIGKILL what is left after grace_s, then record ``cancelled`` for the attempt that was
    cancelled (a run resumed meanwhile is a newer attempt and keeps its state)."""
    waiting = []
    for paths, status in runs:
        targets = find(paths, status)
        mark_cancel_requested(paths)
        signalled = [t for t in targets if send(t, first_signal)]
        if signalled:
            waiting.append((paths, status, signalled))
        else:
            record_end(paths, RunState.CANCELLED, "cancelled by user", seen=status)
    deadline = time.monotonic() + grace_s
    for paths, status, targets in waiting:
        while any(process_alive(t) for t in targets) and time.monotonic() < deadline:
            time.sleep(0.1)
        for target in targets:
            if process_alive(target):
                send(target, signal.SIGKILL)
        record_end(paths, RunState.CANCELLED, "cancelled by user", seen=status)


# --- the base -------------------------------------------------------------------------------------

class ProcessBackend(Backend):
    """A backend whose runs are processes on this machine (see the module's docstring): a
    subclass sets ``name`` and overrides only the hooks that differ."""

    stop_signal: ClassVar[int] = signal.SIGTERM  # cancel's first signal: checkpoint and stop
    stop_grace_s: ClassVar[float] = CANCEL_GRACE_S  # then SIGKILL for what is left

    def __init__(self, python: str | None = None):
        self.python = python or sys.executable

    # -- hooks ------------------------------------------------------------------------------------

    def command(self, paths: RunPaths, *, resume: bool, attempt: int | None) -> list[str]:
        """The job's argv; ``attempt``: the attempt it works for (core.status's fence)."""
        command = [self.python, "-m", "emotui.launch.job", str(paths.root),
                   "--backend", self.name]
        if attempt is not None:
            command += ["--attempt", str(attempt)]
        if resume:
            command.append("--resume")
        return command

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The job's environment: this process's, unbuffered, plus ``extra``."""
        return dict(os.environ, PYTHONUNBUFFERED="1", **extra)

    def cwd(self, paths: RunPaths) -> str | None:
        """The job's working directory (None: this process's)."""
        return None

    def started(self, proc: subprocess.Popen) -> dict[str, Any]:
        """What status.json records of the process just started; the job records the same
        itself when it starts: this covers the gap."""
        return dict(job_id=str(proc.pid), pgid=proc.pid, **process_identity(proc.pid))

    def processes(self, paths: RunPaths, status: dict[str, Any]) -> list[dict[str, Any]]:
        """The run's live processes on this machine, as identities ``send`` takes."""
        return processes_of(paths, status)

    def send(self, target: dict[str, Any], sig: int) -> bool:
        """Signal one process found by ``processes``; False when it is already gone."""
        return signal_group(target, sig)

    # -- the template -----------------------------------------------------------------------------

    def submit(self, paths: RunPaths, *, resume: bool = False, resources: Any = None,
               env: Mapping[str, str] | None = None) -> dict:
        """``env``: variables the job gets on top of this process's, e.g. the GPU a sweep
        placed it on (CUDA_VISIBLE_DEVICES); status.json records them as ``job_env``."""
        clear_launch_leftovers(paths)
        paths.launch.mkdir(exist_ok=True)
        # The attempt the job works for (core.status's fence): set by whoever started it.
        command = self.command(paths, resume=resume, attempt=attempt_of(read_status(paths)))
        job_env = self.env(env or {})
        requeue(paths, None, backend=self.name, submitted=now(),
                launch_folder=str(paths.launch), command=command, job_env=dict(env or {}) or None)
        # Never through a symbolic link out of the run folder (LinkedRunFile, one line).
        with open_for_append(paths.stdout) as out, open_for_append(paths.stderr) as err:
            try:
                proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=job_env,
                    cwd=self.cwd(paths), start_new_session=True, close_fds=True,
                )
            except OSError as exc:
                raise BackendError(f"could not start {command[0]}: {exc}") from None
        # Reap it when it ends if this process lives that long (the TUI): no zombies.
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
        return write_status(paths, **self.started(proc))

    def submit_many(self, runs: Sequence[RunPaths], *, resources: Any = None,
                    max_parallel: int | None = None, job_name: str | None = None,
                    resume: bool = False) -> list[dict]:
        """All at once: a machine has no queue to throttle them, so a cap below the number of
        runs is refused (the sweep controller starts trials as slots free up instead)."""
        if max_parallel is not None and max_parallel < len(runs):
            raise BackendError(
                f"the {self.name} backend starts runs at once; {len(runs)} runs exceed "
                f"--max-parallel {max_parallel} (submit them in batches)")
        return super().submit_many(runs, resources=resources, resume=resume)

    def refresh(self, runs: Sequence[tuple[RunPaths, dict]]) -> dict[str, dict]:
        return refresh_processes(runs)

    def cancel(self, runs: Sequence[tuple[RunPaths, dict]]) -> None:
        cancel_processes(runs, grace_s=self.stop_grace_s, first_signal=self.stop_signal,
                         find=self.processes, send=self.send)
