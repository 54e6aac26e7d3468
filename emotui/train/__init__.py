"""Training: the only layer that imports torch, transformers, peft and datasets.

Importing this package is cheap: ``train``, ``predict`` and ``Preempted`` are resolved on first
use, so light code (the CLI, launch backends) can name them without loading torch.
"""

from __future__ import annotations

from typing import Any

from emotui.train.errors import Preempted

__all__ = ["Preempted", "predict", "train"]


def train(config: Any, run_dir: Any, *, resume: bool = False, stop_event: Any = None) -> dict:
    """Run one training job in ``run_dir``; see :func:`emotui.train.job.train`."""
    # lazy: its recipes pull torch (this package stays light)
    from emotui.train.job import train as _train

    return _train(config, run_dir, resume=resume, stop_event=stop_event)


def predict(run_dir: Any, texts: list[str], batch_size: int = 64) -> list[dict]:
    """Classify texts with a run's best checkpoint; see :func:`emotui.train.predict.predict`."""
    # lazy: pulls torch (this package stays light)
    from emotui.train.predict import predict as _predict

    return _predict(run_dir, texts, batch_size=batch_size)
