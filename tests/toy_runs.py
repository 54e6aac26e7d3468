"""Tiny-model run configs and run directories, shared by the train, launch and Slurm tests.

(tests/ is on sys.path because tests/conftest.py lives there.)
"""

from __future__ import annotations

import threading
from pathlib import Path

from emotui.core.config import build_config
from emotui.core.events import read_all
from emotui.core.lifecycle import create_run
from emotui.core.runstore import RunPaths, RunStore


# Each method's settings on the toy task (the fixture model, 300 rows, a few epochs): a learning
# rate that learns it (the registry's defaults are for real encoders), and what the fixture's
# size needs. A method added to the registry adds its entry here: every test that trains each
# registered method (tests/train/test_methods.py, test_resume.py, test_model_export.py) fails
# until it is there.
TOY_SETTINGS = {
    "full": {"learning_rate": 3e-3},
    "lora": {"learning_rate": 1e-2},
    "prompt_tuning_text": {"learning_rate": 3e-2},
    "prompt_tuning_random": {"learning_rate": 1e-2},
    "ia3": {"learning_rate": 3e-2},
    "prefix_tuning": {"learning_rate": 1e-2},
    "p_tuning": {"learning_rate": 1e-2},
    "loha": {"learning_rate": 1e-2},
    "lokr": {"learning_rate": 1e-2},
    # The fixture's hidden size is 32: projections of rank 256 would outweigh the model.
    "vera": {"learning_rate": 3e-2, "vera_r": 16},
}


def toy_settings(spec, **overrides) -> dict:
    """The settings that train registered method ``spec`` on the toy task."""
    if spec.name not in TOY_SETTINGS:
        raise AssertionError(f"method {spec.name} has no toy settings: add it to TOY_SETTINGS "
                             "in tests/toy_runs.py")
    return {"method": spec.alias, **TOY_SETTINGS[spec.name], **overrides}


def toy_config(model_dir: Path, data_dir: Path, **overrides):
    """A validated config training the fixture model on the toy data in seconds."""
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


def new_run(runs_dir: Path, config, backend: str = "inline") -> RunPaths:
    """A run directory exactly as `emotui run` prepares it: config.yaml + a queued status."""
    return create_run(RunStore(runs_dir), config, backend=backend)


class StopAtStep(threading.Event):
    """A stop request that arrives after the given number of optimizer steps."""

    def __init__(self, steps: int):
        super().__init__()
        self.remaining = steps

    def is_set(self) -> bool:
        self.remaining -= 1
        return self.remaining <= 0


def run_events(paths: RunPaths) -> list[dict]:
    """metrics.jsonl's training events (train, eval, test): the system telemetry between them
    comes every few seconds of wall time, so tests comparing event sequences leave it out."""
    return [e for e in read_all(paths.metrics) if e.get("split") != "system"]
