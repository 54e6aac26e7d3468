"""An inline `emotui sweep` in a terminal behaves as `emotui run` does: Ctrl-C records the trial
cancelled (resumable), and the sweep then continues it from its checkpoint; each trial shows the
live progress display while it trains, with the controller's heartbeat kept."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sweep_fakes import FakeTrain, inline_launcher, run_ids, status

from emotui.core.events import read_all
from emotui.core.runstore import RunStore
from emotui.sweep.launching import SweepInterrupted
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.store import read_trials

GRID = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [1.0e-3, 1.0e-2, 1.0e-4]}
  num_train_epochs: {value: 3}
  dataset_name: {value: null}
"""


def _sweep(tmp_path: Path):
    file = tmp_path / "s.yaml"
    file.write_text(GRID)
    store = RunStore(tmp_path / "runs")
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])
    return spec, paths, store


class CtrlC:
    """The stop event FakeTrain is handed, whose set() is a real Ctrl-C: SIGINT to this process
    while the trial trains in its worker thread, then a wait for the stop that follows."""

    def __init__(self, event):
        self.event = event

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        assert self.event.wait(10), "the interrupt never asked training to stop"


def test_ctrl_c_records_the_trial_cancelled_and_the_sweep_resumes_it(tmp_path):
    spec, paths, store = _sweep(tmp_path)
    fake = FakeTrain(interrupt={"1": 1})  # the second trial, after its first epoch

    def train(config, run_dir, *, resume=False, stop_event=None):
        return fake(config, run_dir, resume=resume, stop_event=CtrlC(stop_event))

    with pytest.raises(SweepInterrupted):
        run_sweep(spec, paths, store, inline_launcher(train))
    interrupted = fake.calls[1][0]
    st = status(store.root, interrupted)
    assert st["state"] == "cancelled"  # as `emotui run` records a Ctrl-C, not "preempted"
    assert "interrupted (Ctrl-C)" in st["reason"] and "with its sweep" in st["reason"]
    # The same command again: the cancelled trial continues from its checkpoint, not counted
    # as finished, and every trial completes once.
    assert run_sweep(spec, paths, store, inline_launcher(train)) == "finished"
    assert [rid for rid, resume in fake.calls if resume] == [interrupted]
    assert sorted(rid for rid, resume in fake.calls if not resume) == run_ids(store.root)
    for rid in run_ids(store.root):
        assert status(store.root, rid)["state"] == "completed"
    epochs = [e["epoch"] for e in read_all(store.root / interrupted / "metrics.jsonl")
              if e["split"] == "eval"]
    assert epochs == [1, 2, 3]
    assert not any(t.get("interrupted") for t in read_trials(paths))


def test_each_inline_trial_shows_the_live_display_while_the_sweep_beats(tmp_path):
    spec, paths, store = _sweep(tmp_path)
    shown: list[str] = []
    lines: list[str] = []
    seen_while_shown: list[list[str]] = []

    def show(trial_paths, done):  # what the CLI's follow_run does: poll until done()
        shown.append(trial_paths.run_id)
        while not done():  # done() also beats the controller: its lines keep coming
            time.sleep(0.02)
        seen_while_shown.append(list(lines))

    launcher = inline_launcher(FakeTrain())
    launcher.show = show
    assert run_sweep(spec, paths, store, launcher, echo=lines.append) == "finished"
    assert shown == [r["run_id"] for r in sorted(read_trials(paths), key=lambda t: t["index"])]
    # The first trial's epochs were echoed while its display held the main thread.
    assert any("trial 0: epoch 1" in line for line in seen_while_shown[0])


def test_the_display_is_for_terminals_only(monkeypatch):
    from emotui.cli import sweep_cmd

    monkeypatch.setattr("rich.console.Console.is_terminal", property(lambda self: False))
    assert sweep_cmd._trial_display() is None
    monkeypatch.setattr("rich.console.Console.is_terminal", property(lambda self: True))
    assert callable(sweep_cmd._trial_display())
