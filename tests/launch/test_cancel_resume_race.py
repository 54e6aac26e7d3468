"""Cancel, then resume within a second of the run showing `cancelled`, over and over: every
time exactly one process trains the run, the record agrees with it, and cancel stops it.

Before the one owner (launch.runs) and fenced writes, the old job's (or its canceller's) last
status write landed after the resume's `queued` and the run read `cancelled` while a process
trained it; `emotui cancel` then said there was nothing to cancel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import yaml
from launch_helpers import describe, new_run, toy_config, train_steps, wait_until

from emotui.core.config import dump_config
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import read_status
from emotui.launch import runs

QUICK = 2  # cycles in the default suite; the slow suite repeats 20


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
    assert runs.live_processes(paths) == []


def local_job_processes(paths: RunPaths) -> list[int]:
    return processes_of(paths, "emotui.launch.job")


def check_metrics_have_no_repeated_step(paths: RunPaths) -> None:
    steps = train_steps(paths)
    assert steps == sorted(set(steps)), "a resumed attempt repeated or lost steps"


def run_local(runs_dir, tiny_model_dir, toy_data_dir, cycles: int) -> None:
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2000)
    paths = new_run(runs_dir, config, "local")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        runs.submit(paths, backend="local")
        cycle(paths, cycles, resume=lambda p: runs.resume(p, backend="local"),
              trainers=local_job_processes)
    finally:
        for pid in local_job_processes(paths):
            os.kill(pid, 9)
    check_metrics_have_no_repeated_step(paths)


def test_cancel_then_resume_at_once_local(runs_dir, tiny_model_dir, toy_data_dir):
    run_local(runs_dir, tiny_model_dir, toy_data_dir, QUICK)


@pytest.mark.slow
def test_cancel_then_resume_at_once_local_20_times(runs_dir, tiny_model_dir, toy_data_dir):
    run_local(runs_dir, tiny_model_dir, toy_data_dir, 20)


@pytest.mark.slow
def test_cancel_then_resume_at_once_inline(runs_dir, tiny_model_dir, toy_data_dir, tmp_path):
    """Inline: `emotui run` trains in its own terminal; cancel sends it Ctrl-C; the resume is
    another `emotui run --resume` that must wait for the first to exit."""
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(
        yaml.safe_load(dump_config(toy_config(tiny_model_dir, toy_data_dir,
                                              num_train_epochs=2000)))))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    started: list[subprocess.Popen] = []

    def emotui(*argv: str) -> None:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "emotui", "run", *argv, "--runs-dir", str(runs_dir),
             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))

    emotui("--config", str(config_file))
    store = RunStore(runs_dir)
    paths = wait_until(lambda: next(iter(store), None), 120, "the run to exist")

    def trainers(run: RunPaths) -> list[int]:
        return [p.pid for p in started if p.poll() is None]

    try:
        cycle(paths, 5, resume=lambda p: emotui("--resume", p.run_id), trainers=trainers)
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
    check_metrics_have_no_repeated_step(paths)


@pytest.mark.slurm
@pytest.mark.slurm_heavy
def test_cancel_then_resume_at_once_slurm(slurm_runs_dir, tiny_model_dir, toy_data_dir):
    """Slurm: the run reads `cancelled` as soon as scancel is sent, while the job still saves
    its checkpoint: the resume must wait for the job to leave the queue."""
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2000)
    paths = new_run(slurm_runs_dir, config, "slurm")
    runs.submit(paths, backend="slurm")

    def slurm_trainers(run: RunPaths) -> list[int]:
        # A Slurm job of the run is one python process of submitit's (srun wraps it).
        return processes_of(run, "submitit", program="python")

    try:
        cycle(paths, 5, resume=lambda p: runs.resume(p, backend="slurm"),
              trainers=slurm_trainers, stop_timeout=240)
    finally:
        job = read_status(paths).get("job_id")
        if job:
            subprocess.run(["scancel", str(job)], check=False)
    check_metrics_have_no_repeated_step(paths)
