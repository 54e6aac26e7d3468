"""The offline controller with a fast stand-in for training: grid, resume, hyperband, target, bayes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_fakes import FakeTrain, inline_launcher, run_ids, status

from emotui.core.events import read_all
from emotui.core.runstore import RunStore
from emotui.sweep.hyperband import should_stop
from emotui.sweep.launching import SweepInterrupted
from emotui.sweep.metric import Metric
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.spec import Hyperband
from emotui.sweep.store import read_trials
from emotui.sweep.summary import summarize_sweep

GRID = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [1.0e-3, 1.0e-2, 1.0e-4, 1.0e-5]}
  num_train_epochs: {value: 3}
  dataset_name: {value: null}
"""


def _sweep(tmp_path: Path, text: str, overrides=(), runs_dir=None):
    file = tmp_path / "s.yaml"
    file.write_text(text)
    store = RunStore(runs_dir or tmp_path / "runs")
    spec, paths, _ = open_sweep(file, list(overrides), store)
    save_sweep(spec, paths, file, list(overrides))
    return spec, paths, store


def test_grid_runs_every_trial_once_with_sweep_id(tmp_path):
    spec, paths, store = _sweep(tmp_path, GRID)
    fake = FakeTrain()
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    ids = run_ids(store.root)
    assert len(ids) == 4 and len(fake.calls) == 4 and not any(r for _, r in fake.calls)
    for rid in ids:
        st = status(store.root, rid)
        assert st["state"] == "completed" and st["sweep_id"] == paths.sweep_id
        assert st["starts"] == 1
    summary = summarize_sweep(paths, store)
    values = [r["value"] for r in summary["rows"]]
    assert values == sorted(values, reverse=True)  # sorted by the metric, best first
    assert summary["best"]["params"] == {"learning_rate": 1e-3}
    assert summary["finished"] == 4 and summary["controller"]["state"] == "finished"
    # collapsed trials (results.json's flag) are reported
    assert any(r["collapsed"] for r in summary["rows"])
    # running it again does nothing new
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    assert len(fake.calls) == 4


def test_interrupted_sweep_resumes_without_rerunning(tmp_path):
    spec, paths, store = _sweep(tmp_path, GRID)
    # The second trial gets "Ctrl-C" after its first epoch: checkpoint, preempted, sweep stops.
    fake = FakeTrain(interrupt={"1": 1})
    with pytest.raises(SweepInterrupted):
        run_sweep(spec, paths, store, inline_launcher(fake))
    assert len(run_ids(store.root)) == 2
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    ids = run_ids(store.root)
    assert len(ids) == 4  # exactly the planned trials
    started = [rid for rid, resume in fake.calls if not resume]
    assert sorted(started) == ids  # each trial started once
    resumed = [rid for rid, resume in fake.calls if resume]
    assert len(resumed) == 1  # the interrupted one continued from its checkpoint
    for rid in ids:
        st = status(store.root, rid)
        assert st["state"] == "completed"
        epochs = [e["epoch"] for e in read_all(store.root / rid / "metrics.jsonl")
                  if e["split"] == "eval"]
        assert epochs == [1, 2, 3]  # no epoch run twice, none missing
    assert [t["index"] for t in read_trials(paths)] == [0, 1, 2, 3]


def test_count_pauses_and_resume_finishes(tmp_path):
    spec, paths, store = _sweep(tmp_path, GRID)
    fake = FakeTrain()
    assert run_sweep(spec, paths, store, inline_launcher(fake), count=3) == "paused"
    assert len(run_ids(store.root)) == 3
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    assert len(run_ids(store.root)) == 4 and len(fake.calls) == 4


HYPERBAND = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
parameters:
  learning_rate: {values: [1.5e-3, 1.0e-7, 1.0e-3]}
  num_train_epochs: {value: 5}
  dataset_name: {value: null}
"""


def test_hyperband_stops_a_bad_trial_before_its_last_epoch(tmp_path):
    spec, paths, store = _sweep(tmp_path, HYPERBAND)
    run_sweep(spec, paths, store, inline_launcher(FakeTrain()))
    rows = {r["params"]["learning_rate"]: r for r in summarize_sweep(paths, store)["rows"]}
    bad = rows[1e-7]
    assert bad["early_stopped"] and bad["state"] == "cancelled"
    evals = [e for e in read_all(store.root / bad["run_id"] / "metrics.jsonl")
             if e["split"] == "eval"]
    assert [e["epoch"] for e in evals] == [1]  # stopped at the first bracket, not at epoch 5
    st = status(store.root, bad["run_id"])
    assert "hyperband" in st["reason"] and st["early_stopped"]
    results = json.loads((store.root / bad["run_id"] / "results.json").read_text())
    assert results["epochs_completed"] == 1 and results["early_stopped"]
    for lr in (1e-3, 1.5e-3):
        assert rows[lr]["state"] == "completed" and rows[lr]["epochs"] == 5


def test_hyperband_rule_matches_wandb_brackets():
    metric = Metric.parse({"name": "eval/loss", "goal": "minimize"}, "m")
    hb = Hyperband(eta=2, min_iter=1)
    assert hb.brackets(10) == [1, 2, 4, 8]
    assert Hyperband(eta=3, max_iter=27, s=2).brackets(100) == [3, 9]
    histories = {"a": [1.0, 0.8, 0.6], "b": [1.0, 0.9], "c": [2.0, 1.9], "d": [0.9]}
    # at epoch 2 the best half of {0.8, 0.9, 1.9} passes: threshold 0.9; c (1.9) is worse
    assert should_stop(hb, metric, histories, "c", 10).bracket == 2
    assert should_stop(hb, metric, histories, "b", 10) is None
    assert should_stop(hb, metric, histories, "a", 10) is None
    # non-strict compares the best value so far
    lax = Hyperband(eta=2, min_iter=1, strict=False)
    three = {"a": [0.5, 0.5], "c": [0.5, 0.6], "b": [0.4, 0.9]}
    assert should_stop(lax, metric, three, "b", 10) is None
    assert should_stop(hb, metric, three, "b", 10) is not None
    # a NaN (diverged) value is the worst
    assert should_stop(hb, metric, {"a": [0.5], "b": [0.6], "c": [float("nan")]}, "c", 10)


TARGET = """\
method: grid
metric: {name: eval/accuracy, goal: maximize, target: 0.7}
parameters:
  learning_rate: {values: [1.0e-5, 1.0e-3, 1.0e-4, 1.0e-2]}
  num_train_epochs: {value: 2}
  dataset_name: {value: null}
"""


def test_metric_target_stops_launching(tmp_path):
    spec, paths, store = _sweep(tmp_path, TARGET)
    fake = FakeTrain()
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "target_reached"
    assert len(fake.calls) == 2  # the second trial (lr 1e-3) reached 0.84 >= 0.7


BAYES = """\
method: bayes
run_cap: 5
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {distribution: log_uniform_values, min: 1.0e-6, max: 1.0e-1}
  num_train_epochs: {value: 2}
  dataset_name: {value: null}
"""


def test_bayes_respects_run_cap_and_survives_interruption(tmp_path):
    spec, paths, store = _sweep(tmp_path, BAYES)
    fake = FakeTrain(interrupt={"2": 1})
    with pytest.raises(SweepInterrupted):
        run_sweep(spec, paths, store, inline_launcher(fake))
    assert paths.journal.exists()
    spec2, paths2, exists = open_sweep(tmp_path / "s.yaml", [], store)
    assert exists and paths2 == paths
    assert run_sweep(spec2, paths, store, inline_launcher(fake)) == "finished"
    trials = read_trials(paths)
    assert len(trials) == 5 and len(run_ids(store.root)) == 5
    assert sorted(t["optuna_number"] for t in trials) == [0, 1, 2, 3, 4]
    import optuna

    study = optuna.load_study(
        study_name=paths.sweep_id,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(paths.journal))))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5
    for t in trials:
        assert 1e-6 <= t["params"]["learning_rate"] <= 1e-1


def test_another_live_controller_is_refused(tmp_path):
    spec, paths, store = _sweep(tmp_path, GRID)
    from emotui.sweep.store import write_controller

    from emotui.core.processes import process_identity

    info = write_controller(paths, state="running")
    # pid 1 is alive: named as a controller names itself (pid, process start, boot id), it
    # looks like one driving the sweep from this host.
    info.update(process_identity(1))
    (paths.controller).write_text(json.dumps(info))
    from emotui.core.errors import ConfigError

    with pytest.raises(ConfigError, match="is being run by"):
        run_sweep(spec, paths, store, inline_launcher(FakeTrain()))


def test_trial_status_fields_reach_every_trial(tmp_path):
    spec, paths, store = _sweep(tmp_path, TARGET)
    run_sweep(spec, paths, store, inline_launcher(FakeTrain()), count=2,
              trial_status={"wandb_settings": {"project": "emotion-sweeps"}})
    for rid in run_ids(store.root):
        assert status(store.root, rid)["wandb_settings"] == {"project": "emotion-sweeps"}


def test_bad_input_at_setup_stops_the_sweep_and_leaves_no_run(tmp_path):
    from emotui.core.errors import DataError
    from emotui.core.lifecycle import mark_running

    def broken_train(config, run_dir, *, resume=False, stop_event=None):
        from emotui.core.runstore import RunPaths

        paths = RunPaths(Path(run_dir))
        mark_running(paths)
        from emotui.core.status import write_status

        write_status(paths, state="failed", reason="DataError: no such file")
        raise DataError("train_file x.jsonl does not exist")

    spec, paths, store = _sweep(tmp_path, GRID)
    with pytest.raises(DataError, match="does not exist"):
        run_sweep(spec, paths, store, inline_launcher(broken_train))
    assert run_ids(store.root) == []  # the half-made trial is gone, not recorded as failed
    assert json.loads(paths.controller.read_text())["state"] == "failed"
    # Fixed input: the same sweep starts that trial again.
    assert run_sweep(spec, paths, store, inline_launcher(FakeTrain())) == "finished"
    assert len(run_ids(store.root)) == 4


def test_one_class_predictor_is_flagged_collapsed():
    from emotui.sweep.summary import is_collapsed, predicts_one_class

    labels = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    # Everything predicted as the (non-majority) class holding 28.7% of the split:
    one_class = {"eval_accuracy": 0.287, "eval_macro_f1": 2 * 0.287 / (1.287 * 6),
                 "label_names": labels, "collapsed": False}
    assert predicts_one_class(0.287, one_class["eval_macro_f1"], 6)
    assert is_collapsed(one_class, [])
    healthy = {"eval_accuracy": 0.565, "eval_macro_f1": 0.231, "label_names": labels,
               "collapsed": False}
    assert not is_collapsed(healthy, [])
    assert is_collapsed(None, [{"split": "train", "loss": None, "nonfinite": ["loss"]}])


def test_an_inline_controller_gives_back_a_trials_memory_before_the_next(tmp_path, monkeypatch):
    """Trials trained in the controller's own process one after another: after each, what it
    freed goes back to the system (core.heap.give_back_freed), or the process grows a trial's
    worth of allocator memory per trial."""
    from emotui.sweep import launching

    spec, paths, store = _sweep(tmp_path, GRID)
    fake = FakeTrain()
    given_back: list[int] = []
    monkeypatch.setattr(launching.heap, "give_back_freed",
                        lambda: given_back.append(len(fake.calls)))
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    assert given_back == [1, 2, 3, 4]  # after each trial, before the next starts
