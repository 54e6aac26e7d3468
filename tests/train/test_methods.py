"""Every method end to end through train() on the tiny model: run directory, results, checkpoints."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file
from toy_runs import TOY_SETTINGS, new_run, run_events, toy_config, toy_settings

from emotui.core import methods
from emotui.core.events import read_all
from emotui.core.method_settings import LORA_INITS
from emotui.core.results import RESULT_KEYS
from emotui.core.status import read_status
from emotui.train import predict, train


def test_every_registered_method_has_toy_settings():
    assert set(TOY_SETTINGS) == set(methods.names())


@pytest.fixture(scope="module", params=methods.METHODS, ids=lambda m: m.name)
def finished_run(request, tiny_model_dir, toy_data_dir, tmp_path_factory):
    config = toy_config(tiny_model_dir, toy_data_dir, **toy_settings(request.param))
    paths = new_run(tmp_path_factory.mktemp("runs"), config)
    results = train(config, paths.root)
    return request.param.name, config, paths, results


def test_results_contract(finished_run):
    method, config, paths, results = finished_run
    on_disk = json.loads(paths.results.read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert set(RESULT_KEYS) <= set(on_disk)
    assert on_disk["run_id"] == paths.run_id
    assert on_disk["status"] == "completed"
    assert on_disk["method"] == method
    assert on_disk["label_names"] == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    assert set(on_disk["per_class"]) == set(on_disk["label_names"])
    assert sum(c["support"] for c in on_disk["per_class"].values()) == 60
    matrix = on_disk["confusion_matrix"]
    assert len(matrix) == 6 and sum(map(sum, matrix)) == 60
    assert 0 < on_disk["trainable_params"] <= on_disk["total_params"]
    if method != "full":
        assert on_disk["trainable_params"] < on_disk["total_params"] / 5
        # Adapter only: well below the full model's fp32 weights.
        assert on_disk["checkpoint_bytes"] < on_disk["total_params"] * 4 / 5
    assert on_disk["checkpoint_bytes"] > 0
    assert on_disk["train_runtime_s"] > 0 and on_disk["train_samples_per_second"] > 0
    assert on_disk["eval_samples_per_second"] > 0
    assert on_disk["peak_gpu_memory_bytes"] is None  # CPU
    assert on_disk["epochs_completed"] == 4
    assert 1 <= on_disk["best_epoch"] <= 4
    assert on_disk["collapsed"] is False
    status = read_status(paths)
    assert status["state"] == "completed" and status["progress"] == 1.0
    assert status["ended"] >= status["started"]
    assert paths.heartbeat.exists()


def test_learns_the_toy_task(finished_run):
    _, _, paths, results = finished_run
    train_events = [e for e in read_all(paths.metrics) if e["split"] == "train"]
    assert train_events[-1]["loss"] < train_events[0]["loss"]
    majority = 1 / 6  # the toy splits are balanced
    assert results["eval_accuracy"] > majority + 0.3
    assert results["test_accuracy"] > majority + 0.3


def test_metrics_events(finished_run):
    _, config, paths, _ = finished_run
    events = run_events(paths)
    splits = [e["split"] for e in events]
    assert {"train", "eval", "test"} <= set(splits)
    assert splits[-1] == "test" and splits.count("test") == 1
    train_steps = [e["step"] for e in events if e["split"] == "train"]
    assert train_steps == sorted(set(train_steps))
    assert all(s % config.logging_steps == 0 for s in train_steps[:-1])
    steps_per_epoch = 19  # 300 rows / batch 16
    assert [e["step"] for e in events if e["split"] == "eval"] == [19, 38, 57, 76]
    assert train_steps[-1] == 4 * steps_per_epoch
    for e in events:
        if e["split"] == "train":
            assert {"loss", "learning_rate", "grad_norm", "samples_per_second", "epoch"} <= set(e)
        else:
            assert {"loss", "accuracy", "macro_f1", "epoch"} <= set(e)


def test_checkpoints(finished_run):
    method, _, paths, results = finished_run
    best, last = paths.checkpoint_best, paths.checkpoint_last
    assert best.is_dir() and last.is_dir()
    assert (last / "trainer_state.pt").is_file()
    assert not (best / "trainer_state.pt").exists()
    names = {p.name for p in best.iterdir()}
    if method == "full":
        assert "model.safetensors" in names and "tokenizer.json" in names
    else:
        # Adapter only: no base-model weights, but the fresh classification head is in it.
        assert {"adapter_model.safetensors", "adapter_config.json"} <= names
        assert "model.safetensors" not in names
        keys = load_file(str(best / "adapter_model.safetensors")).keys()
        assert any("classifier" in k for k in keys)
        assert not any("encoder.layer.0.attention.self.query.weight" == k.split("base_model.model.")[-1]
                       for k in keys)
    # No stray temporary folders are left behind.
    assert not [p for p in paths.checkpoints.iterdir() if p.name.startswith(".")]
    assert (paths.root / "test_predictions.jsonl").is_file()


def test_predict_uses_best_checkpoint(finished_run):
    _, _, paths, _ = finished_run
    out = predict(paths.root, ["sad lonely gloomy", "happy cheerful glad", "furious angry mad"])
    assert [o["label"] for o in out] == ["sadness", "joy", "anger"]
    for o in out:
        assert set(o["probabilities"]) == {"sadness", "joy", "love", "anger", "fear", "surprise"}
        assert abs(sum(o["probabilities"].values()) - 1) < 1e-4


def test_predict_reproduces_the_test_predictions(finished_run):
    """`predict` rebuilds the best model as training left it (adapter, prompt encoder, head)."""
    _, _, paths, _ = finished_run
    rows = [json.loads(line) for line in paths.predictions.read_text().splitlines()]
    out = predict(paths.root, [r["text"] for r in rows])
    assert [o["label"] for o in out] == [r["prediction"] for r in rows]
    for o, r in zip(out, rows):
        assert o["probabilities"][r["prediction"]] == pytest.approx(r["confidence"], abs=1e-3)


# LoRA's options on the tiny model, every initialisation the setting offers among them: each
# trains, saves what it adds, and predicts from it what training predicted (PiSSA's and OLoRA's
# residual base is rebuilt from the base model).
LORA_OPTIONS = {
    "dora": ({"use_dora": True}, "lora_magnitude_vector"),
    "rslora": ({"use_rslora": True}, "lora_A"),
    **{init: ({"init_lora_weights": init}, "lora_B" if init == "mica" else "lora_A")
       for init in LORA_INITS if init != "true"},
}


@pytest.mark.parametrize("option", list(LORA_OPTIONS))
def test_lora_options(option, tiny_model_dir, toy_data_dir, runs_dir):
    settings, saved_key = LORA_OPTIONS[option]
    config = toy_config(tiny_model_dir, toy_data_dir, method="lora", learning_rate=1e-2,
                        num_train_epochs=3, **settings)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    assert results["status"] == "completed" and results["method"] == "lora"
    assert results["test_accuracy"] > 1 / 6 + 0.3
    keys = load_file(str(paths.checkpoint_best / "adapter_model.safetensors")).keys()
    assert any(saved_key in k for k in keys)
    rows = [json.loads(line) for line in paths.predictions.read_text().splitlines()]
    out = predict(paths.root, [r["text"] for r in rows[:12]])
    assert [o["label"] for o in out] == [r["prediction"] for r in rows[:12]]
    for o, r in zip(out, rows):
        assert o["probabilities"][r["prediction"]] == pytest.approx(r["confidence"], abs=1e-3)


def test_prompt_encoders_save_their_own_weights(tiny_model_dir, toy_data_dir, runs_dir):
    """P-tuning's adapter file holds the encoder's output; the encoder's weights travel beside
    it, so the best epoch (and a resumed run) continue from the weights, not from the output."""
    config = toy_config(tiny_model_dir, toy_data_dir, method="prefix", learning_rate=1e-2,
                        num_train_epochs=2, prefix_projection=True,
                        prefix_encoder_hidden_size=32)
    paths = new_run(runs_dir, config)
    train(config, paths.root)
    names = {p.name for p in paths.checkpoint_best.iterdir()}
    assert {"adapter_model.safetensors", "prompt_encoder.safetensors"} <= names
    encoder = load_file(str(paths.checkpoint_best / "prompt_encoder.safetensors"))
    assert any(".transform." in k for k in encoder)
    rows = [json.loads(line) for line in paths.predictions.read_text().splitlines()]
    out = predict(paths.root, [r["text"] for r in rows[:12]])
    assert [o["label"] for o in out] == [r["prediction"] for r in rows[:12]]

