"""A sweep controller whose controller.json lies in the future (its node's clock runs ahead):
`sweep status` does not call it alive, `sweep resume` says why it refuses, and `--force` takes
it over with a warning; one on this machine is asked by its identity, not its time."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from sweep_fakes import FakeTrain, inline_launcher

from emotui.core import clock
from emotui.core.errors import ConfigError
from emotui.core.processes import process_identity
from emotui.core.runstore import RunStore, atomic_write_json

DAY = 86_400.0
ELSEWHERE = {"pid": 4242, "host": "node-with-a-fast-clock", "proc_start": 1, "boot_id": "b"}


@pytest.fixture
def own_clock(monkeypatch):
    """This process's monotonic clock, wound on by the test."""
    class Clock:
        now = 1000.0

        def wind(self, seconds: float) -> None:
            self.now += seconds

    wound = Clock()
    monkeypatch.setattr(clock, "_monotonic", lambda: wound.now)
    monkeypatch.setattr(clock, "_seen", {})
    return wound


def _sweep(tmp_path: Path):
    from emotui.sweep.runner import open_sweep, save_sweep

    file = tmp_path / "s.yaml"
    file.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\nparameters:\n"
                    "  learning_rate: {values: [1.0e-3]}\n  num_train_epochs: {value: 1}\n"
                    "  dataset_name: {value: null}\n")
    store = RunStore(tmp_path / "runs")
    spec, sweep, _ = open_sweep(file, [], store)
    save_sweep(spec, sweep, file, [])
    return spec, sweep, store


def _controller(sweep, **fields) -> None:
    atomic_write_json(sweep.controller, dict({"state": "running", "token": "abc"}, **fields))


def test_a_sweep_controller_is_asked_by_its_identity_on_this_machine(tmp_path):
    from emotui.sweep.store import controller_liveness

    _spec, sweep, _store = _sweep(tmp_path)
    dead = dict(process_identity(os.getpid()), pid=2**22 + 17)
    _controller(sweep, **dead, updated=time.time() + DAY)
    assert controller_liveness(sweep)[1] == "gone"  # its time says nothing: its pid does
    _controller(sweep, **process_identity(os.getpid()), updated=time.time() - 3 * DAY)
    assert controller_liveness(sweep)[1] == "alive"


def test_a_sweep_controller_in_the_future_is_unknown_then_taken_over_with_force(
        tmp_path, own_clock, capsys):
    from emotui.cli.sweep_table import summary_lines
    from emotui.sweep.runner import run_sweep
    from emotui.sweep.store import controller_liveness
    from emotui.sweep.summary import summarize_sweep

    spec, sweep, store = _sweep(tmp_path)
    _controller(sweep, **ELSEWHERE, updated=time.time() + DAY)
    summary = summarize_sweep(sweep, store)
    assert not summary["controller"]["alive"] and summary["controller"]["liveness"] == "unknown"
    assert "(alive or not: its time is " in summary_lines(summary)[0]
    with pytest.raises(ConfigError, match=r"its controller.json's time lies \d+ s in the future"
                                          r".*emotui sweep resume \S+ --force"):
        run_sweep(spec, sweep, store, inline_launcher(FakeTrain()))
    lines: list[str] = []
    assert run_sweep(spec, sweep, store, inline_launcher(FakeTrain()), echo=lines.append,
                     force=True) == "finished"
    assert any(line.startswith(f"warning: --force: taking sweep {sweep.sweep_id} over from "
                               "pid 4242") for line in lines)
    # Without --force, a watcher that sees the time unchanged for the stale window calls it gone.
    _controller(sweep, **ELSEWHERE, updated=time.time() + DAY)
    assert controller_liveness(sweep)[1] == "unknown"
    own_clock.wind(61)
    assert controller_liveness(sweep)[1] == "gone"
    assert socket.gethostname() != ELSEWHERE["host"]
