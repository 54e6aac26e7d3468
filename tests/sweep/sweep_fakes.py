"""A stand-in for emotui.train.train with the same contract, fast and torch-free.

It marks the run running, writes one eval event per epoch (accuracy from the learning rate, so
tests can make a trial deliberately bad), checkpoints each epoch, honours ``stop_event`` between
epochs (save, mark preempted, raise Preempted) and resumes from its checkpoint.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from emotui.core.events import MetricsWriter, truncate_after_step
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, atomic_write_json
from emotui.core.lifecycle import RunState, mark_running
from emotui.core.status import now, write_status
from emotui.sweep.launching import TrialLauncher
from emotui.train import Preempted

STEPS_PER_EPOCH = 10


def accuracy_for(lr: float, epoch: int) -> float:
    """Good near lr 1e-3, bad far from it; improves a little each epoch."""
    quality = max(0.0, 1.0 - abs(math.log10(lr) + 3.0) / 3.0)
    return round(0.2 + 0.6 * quality + 0.02 * epoch, 4)


class FakeTrain:
    def __init__(self, interrupt: dict[str, int] | None = None):
        self.calls: list[tuple[str, bool]] = []
        # run index in call order -> epoch after which it "gets Ctrl-C" (first attempt only)
        self.interrupt = dict(interrupt or {})

    def __call__(self, config: Any, run_dir: Path, *, resume: bool = False,
                 stop_event: Any = None) -> dict:
        paths = RunPaths(Path(run_dir))
        self.calls.append((paths.run_id, resume))
        call_number = len(self.calls) - 1
        mark_running(paths)
        start = 0
        if resume and (paths.checkpoint_last / "epoch").exists():
            start = int((paths.checkpoint_last / "epoch").read_text())
            truncate_after_step(paths.metrics, start * STEPS_PER_EPOCH)
        epochs = int(config.num_train_epochs)
        with MetricsWriter(paths.metrics) as writer:
            for epoch in range(start + 1, epochs + 1):
                if stop_event is not None and stop_event.is_set():
                    write_status(paths, state=RunState.PREEMPTED, reason="stop requested")
                    raise Preempted(str(run_dir), (epoch - 1) * STEPS_PER_EPOCH)
                acc = accuracy_for(config.learning_rate, epoch)
                writer.write("train", epoch * STEPS_PER_EPOCH, epoch=epoch, loss=1 - acc)
                writer.write("eval", epoch * STEPS_PER_EPOCH, epoch=epoch, accuracy=acc,
                             macro_f1=acc - 0.05, loss=1 - acc)
                paths.checkpoint_last.mkdir(parents=True, exist_ok=True)
                (paths.checkpoint_last / "epoch").write_text(str(epoch))
                write_status(paths, epoch=epoch, progress=epoch / epochs)
                if self.interrupt.get(str(call_number)) == epoch:
                    del self.interrupt[str(call_number)]
                    stop_event.set()  # what Ctrl-C does in the inline launcher
            writer.write("test", epochs * STEPS_PER_EPOCH, epoch=epochs, accuracy=acc - 0.01)
        results = empty_results(paths.run_id, config.method, config.model_name_or_path)
        results.update(status="completed", eval_accuracy=acc, eval_macro_f1=acc - 0.05,
                       test_accuracy=acc - 0.01, best_epoch=epochs, epochs_completed=epochs,
                       collapsed=acc < 0.5)
        atomic_write_json(paths.results, results)
        write_status(paths, state=RunState.COMPLETED, ended=now())
        return results


def inline_launcher(train_fn: Any = None) -> TrialLauncher:
    """Trials trained one by one in this process by ``train_fn`` (default: the real train)."""
    return TrialLauncher("inline", train_fn=train_fn)


def write_sweep(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_ids(runs_dir: Path) -> list[str]:
    return sorted(p.name for p in runs_dir.iterdir() if (p / "status.json").exists())


def status(runs_dir: Path, run_id: str) -> dict:
    return json.loads((runs_dir / run_id / "status.json").read_text())
