"""Helpers shared by the launch and Slurm tests: tiny-model run directories and waiting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import toy_runs
from toy_runs import new_run  # noqa: F401  (re-exported for the launch and Slurm tests)
from emotui.core.events import read_all
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status


def toy_config(model_dir: Path, data_dir: Path, **overrides):
    """The shared toy config, shorter: launch tests watch jobs, not learning."""
    return toy_runs.toy_config(model_dir, data_dir, **{"num_train_epochs": 2, "logging_steps": 2,
                                                       **overrides})


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
