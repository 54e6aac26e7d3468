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

import pytest
import yaml
from launch_helpers import new_run, toy_config, wait_until
from race_helpers import check_metrics_have_no_repeated_step, cycle, processes_of

from emotui.core.config import dump_config
from emotui.core.runstore import RunPaths, RunStore
from emotui.launch import runs

QUICK = 2  # cycles in the default suite; the slow suite repeats 20


def local_job_processes(paths: RunPaths) -> list[int]:
    return processes_of(paths, "emotui.launch.job")


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
    # CI runs fewer (EMOTUI_RACE_CYCLES, .ci/run) to keep within its time; 20 by default.
    run_local(runs_dir, tiny_model_dir, toy_data_dir,
              int(os.environ.get("EMOTUI_RACE_CYCLES", "20")))


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
        log = open(tmp_path / f"emotui-{len(started)}.err", "w")
        started.append(subprocess.Popen(
            [sys.executable, "-m", "emotui", "run", *argv, "--runs-dir", str(runs_dir),
             "--quiet"], stdout=subprocess.DEVNULL, stderr=log, env=env))

    emotui("--config", str(config_file))
    store = RunStore(runs_dir)
    paths = wait_until(lambda: next(iter(store), None), 120, "the run to exist")

    def trainers(run: RunPaths) -> list[int]:
        return [p.pid for p in started if p.poll() is None]

    try:
        cycle(paths, 5, resume=lambda p: emotui("--resume", p.run_id), trainers=trainers)
    except AssertionError:
        for index, proc in enumerate(started):
            print(f"emotui #{index} (rc {proc.poll()}):",
                  (tmp_path / f"emotui-{index}.err").read_text()[-1500:])
        raise
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
    check_metrics_have_no_repeated_step(paths)
