"""200 random interleavings of launch, cancel, resume, delete, kill -9 and ls, from the CLI and
from the owner the TUI calls, over 5 tiny local runs (seeded, so a failure reproduces).

Whenever the operations pause and the runs settle, and at the end: every run's recorded state
matches its processes (the OS's word), no run folder lacks its config, no process is left
running, and no metric line is duplicated or lost.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from launch_helpers import describe, toy_config, train_steps, wait_until

from emotui.core.config import dump_config
from emotui.core.errors import EmotuiError
from emotui.core.lifecycle import ACTIVE, FINISHED, RESUMABLE
from emotui.core.results import summarize
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import read_status
from emotui.launch import runs
from emotui.launch.monitor import refresh_runs, with_live_state
from emotui.tui import control

SEED = int(os.environ.get("EMOTUI_STRESS_SEED", "19"))
OPERATIONS = int(os.environ.get("EMOTUI_STRESS_OPERATIONS", "200"))
RUNS = 5
LOGGING_STEPS = 2


def job_pids(paths: RunPaths) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"emotui.launch.job {paths.root}"],
                         capture_output=True, text=True).stdout
    alive = []
    for pid in out.split():
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(int(pid))
        except OSError:
            pass
    return alive


def cli(runs_dir, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emotui", *argv, "--runs-dir", str(runs_dir)],
                          capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def settled(store: RunStore) -> list[str]:
    """What contradicts the processes right now (empty: nothing); runs still on their way
    (starting, stopping) count as unsettled too."""
    problems = []
    runs = list(store)
    # As every reader (ls, show, the TUI) sees them: a job killed with -9 recorded nothing, and
    # the first reader that finds its process gone records how it ended.
    live = refresh_runs(runs)
    for paths in runs:
        [state] = with_live_state([summarize(paths)], live)
        pids = job_pids(paths)
        recorded = state["status"]
        if recorded == "running" and len(pids) == 1 and train_steps(paths):
            continue
        if recorded in FINISHED and not pids and not state.get("still_stopping"):
            continue
        problems.append(f"{paths.run_id}: recorded {recorded}"
                        f"{' (still stopping)' if state.get('still_stopping') else ''} with "
                        f"{len(pids)} job processes")
    return problems


def check_metrics(paths: RunPaths) -> None:
    steps = train_steps(paths)
    assert steps == sorted(set(steps)), f"{paths.run_id}: a metric line repeated: {steps}"
    # Every logging step up to the last one is there once: none lost across resumes.
    if steps:
        assert steps == list(range(LOGGING_STEPS, steps[-1] + 1, LOGGING_STEPS)), \
            f"{paths.run_id}: metric lines lost: {steps}"


@pytest.mark.slow
def test_random_interleavings_keep_state_and_processes_in_agreement(runs_dir, tiny_model_dir,
                                                                      toy_data_dir):
    rng = random.Random(SEED)
    store = RunStore(runs_dir)
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2000,
                        logging_steps=LOGGING_STEPS)
    os.environ["OMP_NUM_THREADS"] = "1"
    done: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    try:
        for number in range(OPERATIONS):
            existing = list(store)
            op = rng.choice(["launch", "cancel", "resume", "delete", "kill", "ls"]
                            if len(existing) < RUNS else
                            ["cancel", "resume", "delete", "kill", "ls"])
            target = rng.choice(existing) if existing else None
            via_cli = rng.random() < 0.3
            try:
                if op == "launch" or target is None:
                    op = "launch"
                    if via_cli:
                        config_file = runs_dir.parent / "stress-run.yaml"
                        config_file.write_text(dump_config(config))
                        result = cli(runs_dir, "run", "--config", str(config_file),
                                     "--backend", "local", "--json")
                        assert result.returncode == 0, result.stderr
                        json.loads(result.stdout)
                    else:
                        control.submit(store, config, "local")
                elif op == "cancel":
                    if via_cli:
                        result = cli(runs_dir, "cancel", target.run_id)
                        assert result.returncode == 0, result.stderr
                    else:
                        control.cancel(target)
                elif op == "resume":
                    if via_cli:
                        result = cli(runs_dir, "run", "--resume", target.run_id)
                        if result.returncode != 0:
                            assert result.returncode == 2 and \
                                len(result.stderr.strip().splitlines()) == 1, result.stderr
                            raise EmotuiError(result.stderr.strip())
                    else:
                        control.resume(target)
                elif op == "delete":
                    if via_cli:
                        result = cli(runs_dir, "rm", "--yes", target.run_id)
                        if result.returncode != 0:
                            assert result.returncode == 2 and \
                                len(result.stderr.strip().splitlines()) == 1, result.stderr
                            raise EmotuiError(result.stderr.strip())
                    else:
                        control.delete(store, target.run_id)
                elif op == "kill":
                    for pid in job_pids(target):
                        os.kill(pid, signal.SIGKILL)
                elif op == "ls":
                    if via_cli:
                        result = cli(runs_dir, "ls", "--json")
                        assert result.returncode == 0, result.stderr
                        json.loads(result.stdout)
                    else:
                        [summarize(p) for p in store]
                done[op] += 1
            except EmotuiError:
                refused[op] += 1  # a one-line refusal (a live run not deleted, ...): fine
            time.sleep(rng.random() * 0.5)
            if number % 40 == 39:
                # Pause: once the runs settle, nothing contradicts its processes.
                wait_until(lambda: not settled(store), 240,
                           f"the runs to settle after operation {number}: {settled(store)}")
        # The end: stop everything, then nothing lives and every record says so.
        for paths in store:
            if read_status(paths).get("state") in ACTIVE or job_pids(paths):
                runs.cancel([paths])
        wait_until(lambda: not any(job_pids(p) for p in store), 240, "every job to exit")
        for paths in store:
            status = read_status(paths)
            assert status.get("state") in FINISHED, describe(paths)
            assert paths.config.is_file(), f"{paths.run_id} lost its config.yaml"
            assert runs.live_processes(paths) == [], describe(paths)
            check_metrics(paths)
        # No folder without its settings was left behind by a process of a deleted run.
        for entry in runs_dir.iterdir():
            if (entry / "status.json").exists():
                assert (entry / "config.yaml").exists(), entry
        print(f"operations done: {dict(done)}; refused in one line: {dict(refused)}; "
              f"runs left: {len(list(store))}; resumable: "
              f"{sum(read_status(p).get('state') in RESUMABLE for p in store)}")
    finally:
        for paths in list(store):
            for pid in job_pids(paths):
                os.kill(pid, signal.SIGKILL)
