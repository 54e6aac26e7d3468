"""--recipe reference: transformers' Trainer as the study ran it, same run directory contract."""

from __future__ import annotations

import json

import pytest
from toy_runs import StopAtStep, new_run, run_events, toy_config

from emotui.core import methods
from emotui.core.errors import ConfigError
from emotui.core.events import read_all
from emotui.core.results import RESULT_KEYS
from emotui.core.status import read_status
from emotui.train import Preempted, predict, train


@pytest.mark.parametrize("method", ["full", "lora"])
def test_reference_recipe_end_to_end(method, tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method=method, recipe="reference",
                        num_train_epochs=3, learning_rate=1e-2 if method == "lora" else 3e-3,
                        per_device_eval_batch_size=8)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    assert set(RESULT_KEYS) <= set(results)
    assert results["recipe"] == "reference" and results["precision"] == "float32"
    assert results["status"] == "completed" and read_status(paths)["state"] == "completed"
    assert results["test_accuracy"] > 0.5 and results["eval_accuracy"] > 0.5
    assert results["epochs_completed"] == 3 and results["train_runtime_s"] > 0
    events = run_events(paths)
    assert [e["step"] for e in events if e["split"] == "eval"] == [19, 38, 57]
    train_steps = [e["step"] for e in events if e["split"] == "train"]
    assert train_steps == sorted(set(train_steps)) and train_steps[0] == 5
    assert events[-1]["split"] == "test"
    best = {p.name for p in paths.checkpoint_best.iterdir()}
    assert ("adapter_model.safetensors" in best) == (method == "lora")
    assert paths.resume_state.is_file()
    assert json.loads(paths.results.read_text())["checkpoint_bytes"] > 0
    assert predict(paths.root, ["sad lonely gloomy"])[0]["label"] == "sadness"


# The Trainer reloads its checkpoints (resume, best model) from PEFT's adapter file, which holds
# a reparameterised prompt encoder's output only: the recipe refuses those up front.
REFUSED = {"p_tuning": {}, "prefix_tuning": {"prefix_projection": True}}


@pytest.mark.parametrize("spec", methods.METHODS, ids=lambda m: m.name)
def test_reference_recipe_builds_every_method(spec, tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method=spec.alias, recipe="reference",
                        num_train_epochs=1, per_device_eval_batch_size=8)
    paths = new_run(runs_dir, config)
    if spec.name in REFUSED and not REFUSED[spec.name]:
        return  # refused below
    results = train(config, paths.root)
    assert results["status"] == "completed" and results["method"] == spec.name
    assert len(predict(paths.root, ["sad lonely gloomy"])) == 1


@pytest.mark.parametrize("method", list(REFUSED))
def test_reference_recipe_refuses_prompt_encoders_clearly(method, tiny_model_dir, toy_data_dir,
                                                          runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, method=method, recipe="reference",
                        num_train_epochs=1, **REFUSED[method])
    paths = new_run(runs_dir, config)
    with pytest.raises(ConfigError, match="--recipe reference cannot train .* use --recipe "
                                          "default$"):
        train(config, paths.root)
    assert read_status(paths)["state"] == "failed"


def test_reference_recipe_preempt_and_resume(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, recipe="reference", num_train_epochs=2)
    paths = new_run(runs_dir, config)
    with pytest.raises(Preempted):
        train(config, paths.root, stop_event=StopAtStep(12))
    assert read_status(paths)["state"] == "preempted"
    assert max(e["step"] for e in read_all(paths.metrics)) <= 12
    results = train(config, paths.root, resume=True)
    assert results["epochs_completed"] == 2
    events = run_events(paths)
    assert [(e["split"], e["step"]) for e in events] == [
        ("train", 5), ("train", 10), ("train", 15), ("eval", 19), ("train", 20), ("train", 25),
        ("train", 30), ("train", 35), ("eval", 38), ("test", 38)]
