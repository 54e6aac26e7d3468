"""The collapse sentinel: a diverging run stops itself, says why, and can be resumed."""

from __future__ import annotations

import json
import math

from toy_runs import new_run, toy_config

from emotui.core.events import read_all
from emotui.core.status import read_status
from emotui.train import train
from emotui.train.sentinel import CollapseSentinel


def _evals(*accuracies, loss=1.0):
    return [{"step": i, "accuracy": a, "loss": loss} for i, a in enumerate(accuracies)]


def test_sentinel_needs_patience_consecutive_collapsed_evaluations():
    sentinel = CollapseSentinel(threshold=0.352, patience=2)
    assert sentinel.check(_evals(0.352), False) is None  # one is not yet a trend
    assert sentinel.check(_evals(0.352, 0.90), False) is None
    assert sentinel.check(_evals(0.90, 0.352), False) is None
    reason = sentinel.check(_evals(0.90, 0.30, 0.352), False)
    assert reason.startswith("collapsed: eval accuracy 0.3520 at or below the majority-class rate")
    assert sentinel.check(_evals(0.9, 0.9, loss=math.nan), False).startswith(
        "collapsed: non-finite loss")
    # A non-finite training loss since the last evaluation makes that evaluation count.
    assert sentinel.check(_evals(0.9, 0.9), True) is None
    assert sentinel.check(_evals(0.2, 0.9), True).startswith("collapsed: non-finite loss")
    assert CollapseSentinel(0.352, 2, enabled=False).check(_evals(0.1, 0.1), False) is None
    assert CollapseSentinel(0.352, 3).check(_evals(0.9, 0.3, 0.3), False) is None


def test_diverging_tiny_run_stops_after_two_evaluations_and_resumes(tiny_model_dir, toy_data_dir,
                                                                    runs_dir):
    # Learning rate 10 wrecks the tiny model within an epoch: it predicts one class from then on.
    config = toy_config(tiny_model_dir, toy_data_dir, learning_rate=10.0, num_train_epochs=4)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)

    evals = [e for e in read_all(paths.metrics) if e["split"] == "eval"]
    assert [e["epoch"] for e in evals] == [1.0, 2.0]  # stopped after two, not four
    status = read_status(paths)
    assert status["state"] == "completed"
    assert status["reason"].startswith("collapsed: ")
    on_disk = json.loads(paths.results.read_text())
    assert on_disk["collapsed"] is True and results["collapsed"] is True
    assert on_disk["collapse_reason"] == status["reason"]
    assert on_disk["epochs_completed"] == 2
    assert (paths.checkpoint_last / "trainer_state.pt").is_file()

    # The saved state resumes where it stopped; with the sentinel off it trains to the end.
    config_on = toy_config(tiny_model_dir, toy_data_dir, learning_rate=10.0, num_train_epochs=4,
                           stop_on_collapse=False)
    resumed = train(config_on, paths.root, resume=True)
    evals = [e for e in read_all(paths.metrics) if e["split"] == "eval"]
    assert [e["epoch"] for e in evals] == [1.0, 2.0, 3.0, 4.0]
    assert resumed["epochs_completed"] == 4
    assert resumed["collapse_reason"] is None
    assert read_status(paths)["reason"] is None
