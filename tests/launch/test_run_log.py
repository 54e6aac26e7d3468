"""stdout.log is the run's training log on every backend; `emotui run --json` prints one JSON
document whatever the recipe prints meanwhile."""

from __future__ import annotations

import json

import pytest

from emotui.cli.main import main
from emotui.core.events import read_all
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import RunStore
from emotui.train import train
from emotui.train.loop import TrainingLoop

from launch_helpers import STAMP, assert_training_log, new_run, toy_config


def toy_flags(model_dir, data_dir, *extra):
    return ["--model_name_or_path", str(model_dir),
            "--train_file", str(data_dir / "train.jsonl"),
            "--validation_file", str(data_dir / "validation.jsonl"),
            "--test_file", str(data_dir / "test.jsonl"),
            "--num_train_epochs", "2", "--per_device_train_batch_size", "16",
            "--max_seq_length", "64", "--learning_rate", "3e-3", "--seed", "7", *extra]


@pytest.mark.parametrize("recipe", ["default", "reference"])
def test_emotui_run_json_prints_one_document_and_the_log_holds_the_training(
        recipe, tiny_model_dir, toy_data_dir, runs_dir, capfd):
    code = main(["run", "--runs-dir", str(runs_dir), "--recipe", recipe, "--json",
                 *toy_flags(tiny_model_dir, toy_data_dir)])
    out, err = capfd.readouterr()
    assert code == 0, err
    results = json.loads(out)  # nothing else on stdout: no {'eval_loss': ...} from the Trainer
    assert results["status"] == "completed" and results["recipe"] == recipe
    paths = RunStore(runs_dir).paths(results["run_id"])
    body = assert_training_log(paths.stdout.read_text())
    assert not any("eval_loss" in b for b in body)
    if recipe == "reference":
        assert any(b.startswith("checkpoint last saved at step") for b in body)
    # Both recipes record tokens/s and the padding share with each logging step.
    train_events = [e for e in read_all(paths.metrics) if e["split"] == "train"]
    assert train_events and all(e["tokens_per_s"] > 0 and 0 <= e["pad_fraction"] < 1
                                for e in train_events)


def test_a_failed_runs_log_ends_with_the_reason(monkeypatch, tiny_model_dir, toy_data_dir,
                                                runs_dir):
    def broken(self):
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(TrainingLoop, "run", broken)
    config = toy_config(tiny_model_dir, toy_data_dir)
    paths = new_run(runs_dir, config)
    with RunLogFiles(paths), pytest.raises(RuntimeError):
        train(config, paths.root)
    lines = paths.stdout.read_text().splitlines()
    assert STAMP.sub("", lines[-1]) == "failed: RuntimeError: the GPU caught fire"
    assert any("start: " in line for line in lines)
