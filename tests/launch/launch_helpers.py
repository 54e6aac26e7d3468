"""Helpers shared by the launch and Slurm tests: tiny-model run directories and waiting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from emotui.core.config import build_config, dump_config
from emotui.core.events import read_all
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import RunState, now, read_status, write_status


def toy_config(model_dir: Path, data_dir: Path, **overrides):
    values = {
        "model_name_or_path": str(model_dir),
        "train_file": str(data_dir / "train.jsonl"),
        "validation_file": str(data_dir / "validation.jsonl"),
        "test_file": str(data_dir / "test.jsonl"),
        "num_train_epochs": 2,
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "logging_steps": 2,
        "max_seq_length": 64,
        "seed": 7,
    }
    values.update(overrides)
    config, _ = build_config([("test", values)])
    return config


def new_run(runs_dir: Path, config, backend: str) -> RunPaths:
    """A run directory as `emotui run` prepares it: config.yaml + a queued status."""
    paths = RunStore(runs_dir).create(config.method)
    paths.config.write_text(dump_config(config), encoding="utf-8")
    write_status(paths, run_id=paths.run_id, state=RunState.QUEUED, backend=backend,
                 method=config.method, created=now())
    return paths


def wait_until(predicate: Callable[[], object], timeout: float, what: str, poll: float = 0.2):
    """Poll until predicate() is truthy; fail with `what` (never a timing assertion: the
    timeout only bounds a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def live_state(paths: RunPaths) -> str | None:
    from emotui.launch.monitor import refresh_runs

    return refresh_runs([paths])[paths.run_id].get("state")


def train_steps(paths: RunPaths) -> list[int]:
    return [e["step"] for e in read_all(paths.metrics) if e.get("split") == "train"]


def describe(paths: RunPaths) -> str:
    """What a failing assertion should show: status, exit record, stderr tail."""
    from emotui.launch.base import read_exit, stderr_tail

    return (f"status={read_status(paths)}\nexit={read_exit(paths)}\n"
            f"stderr tail:\n" + "\n".join(stderr_tail(paths, 25)))
