"""Cancel-then-resume cycles, shared by the local/inline race tests and the Slurm one."""

from __future__ import annotations

import subprocess
import threading
import time

from launch_helpers import describe, train_steps, wait_until

from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.launch import runs


def processes_of(paths: RunPaths, pattern: str, program: str = "") -> list[int]:
    """The pids of live processes whose command line holds ``pattern`` and the run, and whose
    program's name holds ``program`` (the OS's word, not emotui's)."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    pids = []
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                command = fh.read().replace(b"\0", b" ").decode()
            with open(f"/proc/{pid}/stat") as fh:
                zombie = fh.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if not zombie and (paths.run_id in command or str(paths.root) in command) and \
                program in command.split(" ", 1)[0]:
            pids.append(int(pid))
    return pids


def cancel_in_background(paths: RunPaths) -> tuple[threading.Thread, list]:
    """Cancel as the TUI does: in a worker, which waits for the process to exit."""
    notes: list = []
    worker = threading.Thread(target=lambda: notes.append(runs.cancel([paths])), daemon=True)
    worker.start()
    return worker, notes


def running_attempt(paths: RunPaths, attempt: int) -> bool:
    status = read_status(paths)
    return status.get("state") == "running" and status.get("attempt") == attempt


def cycle(paths: RunPaths, cycles: int, *, resume, trainers, stop_timeout: float = 120) -> None:
    for index in range(cycles):
        attempt = read_status(paths)["attempt"]
        wait_until(lambda: running_attempt(paths, attempt) and train_steps(paths), 240,
                   f"attempt {attempt} to train (cycle {index})")
        worker, notes = cancel_in_background(paths)
        wait_until(lambda: read_status(paths).get("state") == "cancelled", stop_timeout,
                   f"cancelled (cycle {index})")
        resumed_at = time.monotonic()
        resume(paths)
        assert time.monotonic() - resumed_at < 60
        worker.join(timeout=stop_timeout)
        assert notes == [[(paths.run_id, "cancelled")]], notes
        wait_until(lambda: running_attempt(paths, attempt + 1), 240,
                   f"attempt {attempt + 1} to run (cycle {index})")
        time.sleep(1.5)  # where the old attempt's or the canceller's late write would land
        status = read_status(paths)
        assert (status["state"], status["attempt"]) == ("running", attempt + 1), describe(paths)
        live = trainers(paths)
        assert len(live) == 1, f"cycle {index}: {len(live)} processes train the run: {live}"
        assert runs.live_processes(paths)
    # Cancel stops what trains, and afterwards nothing is left.
    assert runs.cancel([paths]) == [(paths.run_id, "cancelled")]
    wait_until(lambda: not trainers(paths), stop_timeout, "every process of the run to exit")
    assert read_status(paths)["state"] == "cancelled"
    # A scheduler lets the job go a moment after its process exits (COMPLETING).
    wait_until(lambda: runs.live_processes(paths) == [], stop_timeout,
               "emotui to see nothing of the run alive")


def check_metrics_have_no_repeated_step(paths: RunPaths) -> None:
    steps = train_steps(paths)
    assert steps == sorted(set(steps)), "a resumed attempt repeated or lost steps"
