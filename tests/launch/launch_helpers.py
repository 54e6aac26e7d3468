"""Helpers shared by the launch and Slurm tests: tiny-model run directories and waiting."""

from __future__ import annotations

import re
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


STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def assert_training_log(text: str) -> list[str]:
    """stdout.log reads like a training log: every line timestamped; start, logging steps,
    evaluations with the best so far, checkpoints, the test result, and the outcome last.
    Returns the lines without their timestamps."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(STAMP.match(line) for line in lines), text
    body = [STAMP.sub("", line) for line in lines]
    assert any(b.startswith("start: ") for b in body), text
    assert any(b.startswith("examples: ") and "optimizer steps" in b for b in body), text
    assert any(re.match(r"step \d+/\d+, epoch [\d.]+: loss [\d.]+, lr ", b) for b in body), text
    evals = [b for b in body if b.startswith("eval at step")]
    assert evals and all(re.search(r"accuracy \d+\.\d\d%, macro-F1 \d+\.\d\d%", b)
                         for b in evals), text
    assert "best accuracy" in evals[-1]
    assert any(b.startswith("checkpoint best saved at step") for b in body), text
    assert any(re.match(r"test at step \d+: accuracy \d+\.\d\d%", b) for b in body), text
    assert re.match(r"completed in \w+: test accuracy \d+\.\d\d%$", body[-1]), text
    return body
