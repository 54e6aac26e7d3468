"""`emotui run` refuses a missing local model at once, prints a plain training log when piped and
one JSON document with --json; `predict` says why a run that ended has nothing to predict with."""

from __future__ import annotations

import json

import pytest

from emotui.core.config import build_config
from emotui.core.lifecycle import create_run, record_end, RunState
from emotui.core.runstore import RunStore
from emotui.launch import backend_names


@pytest.mark.parametrize("path", ["./missing", "../missing-model", "/nonexistent/model",
                                  "~/no-such-emotui-model", "models/org/name"])
@pytest.mark.parametrize("backend", backend_names())
def test_missing_local_model_is_refused_before_a_run_exists(cli, path, backend):
    result = cli("run", "--backend", backend, "--model_name_or_path", path)
    assert result.code == 2, (result.code, result.err)
    assert result.out == ""  # no run id was printed
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("emotui: error: model_name_or_path")
    assert f"folder {path} does not exist" in lines[0]
    assert not cli.runs_dir.exists() or not any(cli.runs_dir.iterdir())


def test_hub_ids_are_left_to_the_hub():
    for name in ("roberta-base", "FacebookAI/roberta-base", "sentence-transformers/all-MiniLM-L6-v2"):
        config, _ = build_config([("test", {"model_name_or_path": name})])
        assert config.model_name_or_path == name


def _ended_run(runs_dir, state: RunState, reason: str):
    config, _ = build_config([("test", {"model_name_or_path": "fixture/encoder"})])
    paths = create_run(RunStore(runs_dir), config, backend="local")
    record_end(paths, state, reason)
    return paths


@pytest.mark.parametrize("state, reason", [(RunState.FAILED, "CUDA out of memory"),
                                           (RunState.CANCELLED, "cancelled by user")])
def test_predict_on_a_run_that_ended_without_a_checkpoint(cli, state, reason):
    paths = _ended_run(cli.runs_dir, state, reason)
    result = cli("predict", paths.run_id, "i feel happy")
    assert result.code == 2
    assert "wait for it" not in result.err
    assert f"{state.value} ({reason}) without saving a checkpoint" in result.err
    assert "emotui ls --state completed" in result.err


def test_predict_on_a_queued_run_says_wait(cli):
    config, _ = build_config([("test", {"model_name_or_path": "fixture/encoder"})])
    paths = create_run(RunStore(cli.runs_dir), config, backend="local")
    result = cli("predict", paths.run_id, "i feel happy")
    assert result.code == 2 and "wait for it" in result.err


def _toy_run(tiny_model_dir, toy_data_dir, *extra: str) -> list[str]:
    return ["run", "--model_name_or_path", str(tiny_model_dir),
            "--data_dir", str(toy_data_dir), "--num_train_epochs", "1",
            "--per_device_train_batch_size", "16", "--max_seq_length", "32",
            "--learning_rate", "3e-3", *extra]


def test_run_piped_prints_the_training_log(cli, tiny_model_dir, toy_data_dir):
    result = cli(*_toy_run(tiny_model_dir, toy_data_dir, "--logging_steps", "5"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    steps = [line for line in lines if " step " in line and "loss" in line]
    assert len(steps) >= 3, result.out  # one plain line per logging step, not a live display
    assert any(" eval at step " in line for line in lines), result.out
    assert any("completed in" in line for line in lines), result.out
    assert "\x1b[" not in result.out


def test_run_piped_names_the_method_defaults_on_whole_lines(cli, tiny_model_dir, toy_data_dir):
    args = [a for a in _toy_run(tiny_model_dir, toy_data_dir) if a not in ("--learning_rate",
                                                                            "3e-3")]
    result = cli(*args, "--method", "lora", "--num_train_epochs", "0.2")
    assert result.code == 0, result.err
    first, second = result.out.splitlines()[:2]
    assert first.startswith("run ") and first.endswith(f"(lora, {tiny_model_dir})")
    assert second == "method defaults: learning_rate=0.002"


@pytest.mark.parametrize("recipe", ["default", "reference"])
def test_run_json_prints_one_json_document(cli, tiny_model_dir, toy_data_dir, recipe):
    result = cli(*_toy_run(tiny_model_dir, toy_data_dir, "--recipe", recipe, "--json"))
    assert result.code == 0, result.err
    results = json.loads(result.out)  # nothing else on stdout
    assert results["status"] == "completed"
    assert 0.0 <= results["test_accuracy"] <= 1.0  # machines get fractions
