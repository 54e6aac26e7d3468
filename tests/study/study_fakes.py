"""A stand-in for emotui.train.train for studies: fast, torch-free, with the same contract.

It marks the run running, writes one eval event per epoch, checkpoints each epoch, honours
``stop_event`` between epochs (mark preempted, raise Preempted), resumes from its checkpoint,
predicts the test split when the config says so, and writes results.json. Validation accuracy
rises with the learning rate's closeness to 1e-3; the test accuracy can be made to disagree
(``test_reversed``), and a learning rate of 1 or more collapses (majority-class accuracy).

``kill`` makes the process that trains kill itself (SIGKILL) at a chosen point, the way a
killed study process dies: ``{"call": n, "epoch": e}`` after the n-th call (0-based) wrote
epoch e.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

from emotui.core.events import MetricsWriter, read_all, truncate_after_step
from emotui.core.lifecycle import mark_completed, mark_preempted, mark_running
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, atomic_write_json
from emotui.core.status import write_status
from emotui.train import Preempted

STEPS_PER_EPOCH = 10
MAJORITY = 0.35


def eval_accuracy(lr: float, epoch: int) -> float:
    if lr >= 1.0:
        return MAJORITY  # diverged: the majority class
    quality = max(0.0, 1.0 - abs(math.log10(lr) + 3.0) / 3.0)
    return round(0.4 + 0.5 * quality + 0.01 * epoch, 4)


def test_accuracy(lr: float, epoch: int, reversed_: bool) -> float:
    if lr >= 1.0:
        return MAJORITY
    acc = eval_accuracy(lr, epoch)
    return round(1.3 - acc, 4) if reversed_ else round(acc - 0.01, 4)


class StandInTrain:
    def __init__(self, *, test_reversed: bool = False, kill: dict[str, int] | None = None,
                 epoch_s: float = 0.0):
        self.test_reversed = test_reversed
        self.kill = kill
        self.epoch_s = epoch_s
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, config: Any, run_dir: Path, *, resume: bool = False,
                 stop_event: Any = None) -> dict:
        paths = RunPaths(Path(run_dir))
        self.calls.append((paths.run_id, resume))
        call_number = len(self.calls) - 1
        mark_running(paths)
        start = 0
        marker = paths.checkpoint_last / "epoch"
        if resume and marker.exists():
            start = int(marker.read_text())
            truncate_after_step(paths.metrics, start * STEPS_PER_EPOCH)
        epochs = int(config.num_train_epochs)
        lr = float(config.learning_rate)
        acc = eval_accuracy(lr, max(start, 1))
        with MetricsWriter(paths.metrics) as writer:
            for epoch in range(start + 1, epochs + 1):
                if stop_event is not None and stop_event.is_set():
                    mark_preempted(paths, "stop requested")
                    raise Preempted(str(run_dir), (epoch - 1) * STEPS_PER_EPOCH)
                if self.epoch_s:
                    time.sleep(self.epoch_s)
                acc = eval_accuracy(lr, epoch)
                writer.write("train", epoch * STEPS_PER_EPOCH, epoch=epoch, loss=1 - acc)
                writer.write("eval", epoch * STEPS_PER_EPOCH, epoch=epoch, accuracy=acc,
                             macro_f1=acc - 0.05, loss=1 - acc)
                paths.checkpoint_last.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(epoch))
                write_status(paths, epoch=epoch, progress=epoch / epochs)
                if self.kill and self.kill.get("call") == call_number and \
                        self.kill.get("epoch") == epoch:
                    os.kill(os.getpid(), signal.SIGKILL)
            test = None
            if config.do_predict:
                test = test_accuracy(lr, epochs, self.test_reversed)
                writer.write("test", epochs * STEPS_PER_EPOCH, epoch=epochs, accuracy=test,
                             macro_f1=test - 0.05)
        results = empty_results(paths.run_id, config.method, config.model_name_or_path)
        collapsed = acc <= MAJORITY
        results.update(
            status="completed", eval_accuracy=acc, eval_macro_f1=acc - 0.05,
            test_accuracy=test, test_macro_f1=None if test is None else test - 0.05,
            best_epoch=epochs, epochs_completed=epochs, collapsed=collapsed,
            train_runtime_s=0.01 * epochs, train_samples_per_second=1000.0,
            trainable_params=1000, total_params=10000, device="cpu",
            label_names=["a", "b", "c", "d", "e", "f"],
        )
        atomic_write_json(paths.results, results)
        mark_completed(paths)
        return results


def eval_lines(paths: RunPaths) -> list[dict]:
    return [e for e in read_all(paths.metrics) if e.get("split") == "eval"]


def stand_in_exporter() -> tuple[Any, list[tuple[str, str]]]:
    """A module standing for ``emotui.train.export`` whose ``export_run`` writes a small
    HF-style folder (config.json naming the run): the stand-in trains no weights to export.
    Returns (module, the list its calls are recorded in); a test installs it in sys.modules."""
    import types

    calls: list[tuple[str, str]] = []

    def export_run(paths: RunPaths, out: Path | None, merged: bool | None) -> Path:
        out = Path(out)
        out.mkdir(parents=True)
        (out / "config.json").write_text(json.dumps({"emotui_run": paths.run_id}))
        calls.append((paths.run_id, str(out)))
        return out

    module = types.ModuleType("emotui.train.export")
    module.export_run = export_run  # type: ignore[attr-defined]
    return module, calls
