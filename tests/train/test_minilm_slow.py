"""The real pretrained MiniLM on the real emotion data (minutes on CPU: marked slow)."""

from __future__ import annotations

import pytest
from toy_runs import new_run

from emotui.core.config import build_config
from emotui.train import predict, train


@pytest.mark.slow
def test_minilm_full_finetuning_learns_emotion(minilm_dir, emotion_data_dir, runs_dir):
    config, _ = build_config([("test", {
        "model_name_or_path": str(minilm_dir),
        "train_file": str(emotion_data_dir / "train.jsonl"),
        "validation_file": str(emotion_data_dir / "validation.jsonl"),
        "test_file": str(emotion_data_dir / "test.jsonl"),
        "max_train_samples": 2000, "num_train_epochs": 1, "learning_rate": 1e-4,
    })])
    paths = new_run(runs_dir, config)
    results = train(config, paths.root)
    # The majority class (joy) is 34.8% of the test split; a model that learned nothing sits there.
    assert results["test_accuracy"] > 0.45
    assert results["collapsed"] is False
    assert results["label_names"] == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    assert predict(paths.root, ["i feel so sad and lonely today"])[0]["label"] == "sadness"
