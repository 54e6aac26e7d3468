"""Loop options beyond the defaults: step-wise evaluation, loss as best metric, accumulation,
max_steps, evaluation only, and the collapse flag sweeps rely on."""

from __future__ import annotations

from toy_runs import new_run, toy_config

from emotui.core.events import read_all
from emotui.train import train


def steps_of(paths, split):
    return [e["step"] for e in read_all(paths.metrics) if e["split"] == split]


def test_eval_steps_with_loss_as_best_metric(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2, eval_strategy="steps",
                        eval_steps=10, metric_for_best_model="loss", save_strategy="steps",
                        save_steps=10)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    assert steps_of(paths, "eval") == [10, 20, 30, 38]  # plus a final one for the last weights
    evals = [e for e in read_all(paths.metrics) if e["split"] == "eval"]
    best = min(evals, key=lambda e: e["loss"])
    assert results["eval_accuracy"] == best["accuracy"]
    assert results["eval_loss"] == best["loss"]


def test_gradient_accumulation_and_max_steps(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, gradient_accumulation_steps=2,
                        max_steps=15, logging_steps=4)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    # 19 batches per epoch -> 10 optimizer steps per epoch (the last one takes a single batch).
    assert steps_of(paths, "train") == [4, 8, 12, 15]
    assert steps_of(paths, "eval") == [10, 15]
    assert results["epochs_completed"] == 1.5
    assert results["global_steps"] == 15


def test_evaluation_only(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, do_train=False)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    assert steps_of(paths, "train") == []
    assert steps_of(paths, "eval") == [0] and steps_of(paths, "test") == [0]
    assert results["train_runtime_s"] is None and results["epochs_completed"] == 0
    assert paths.checkpoint_best.is_dir()


def test_a_diverged_run_is_flagged_collapsed(tiny_model_dir, toy_data_dir, runs_dir):
    # lr 5 with no clipping wrecks the model: predictions stuck on one class (or NaN losses).
    config = toy_config(tiny_model_dir, toy_data_dir, learning_rate=5.0, max_grad_norm=0,
                        num_train_epochs=2)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    assert results["collapsed"] is True
    assert results["status"] == "completed"
