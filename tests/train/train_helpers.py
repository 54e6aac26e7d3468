"""Helpers shared by the train tests."""

from __future__ import annotations

from pathlib import Path

from emotui.core.config import build_config, dump_config
from emotui.core.runstore import RunStore
from emotui.core.status import RunState, write_status


def toy_config(model_dir: Path, data_dir: Path, **overrides):
    values = {
        "model_name_or_path": str(model_dir),
        "train_file": str(data_dir / "train.jsonl"),
        "validation_file": str(data_dir / "validation.jsonl"),
        "test_file": str(data_dir / "test.jsonl"),
        "num_train_epochs": 4,
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "logging_steps": 5,
        "max_seq_length": 64,
        "seed": 7,
    }
    values.update(overrides)
    config, _ = build_config([("test", values)])
    return config


def new_run(runs_dir: Path, config):
    """A run directory as the CLI prepares it: config.yaml + a queued status."""
    paths = RunStore(runs_dir).create(config.method)
    paths.config.write_text(dump_config(config), encoding="utf-8")
    write_status(paths, state=RunState.QUEUED, backend="inline")
    return paths
