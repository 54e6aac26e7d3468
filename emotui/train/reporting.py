"""What both recipes (``job.run_default`` and ``reference.run_reference``) do around training.

Metric events to metrics.jsonl, the tracker and the training log, the position and phases in
status.json (``RunReporter``, over the job's ``PositionTicker``), the tracker's start and
finish, test predictions, results.json, and quiet library logging. A module of its own so each
recipe imports it, and neither recipe imports the other's module for it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import warnings
from typing import Any, Callable, ContextManager

from emotui.core.config import RunConfig
from emotui.core.errors import EmotuiError
from emotui.core.events import MetricsWriter
from emotui.core.progress import WorkPlan
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, atomic_write_json, atomic_write_text
from emotui.core.schema import RESULTS_SCHEMA, SCHEMA_KEY
from emotui.core.status import check_fence, held_attempt, read_status, write_status
from emotui.core.vocabulary import Event, EventField, ResultKey
from emotui.tracking import open_logger
from emotui.train.metrics import majority_rate
from emotui.train.runlog import RunLog
from emotui.train.ticker import Position, PositionTicker

log = logging.getLogger("emotui")


class RunReporter:
    """The loop's hooks: events to metrics.jsonl, the tracker and the training log; the position
    in status.json (through the job's PositionTicker) and its phases."""

    def __init__(self, paths: RunPaths, tracker, ticker: PositionTicker, runlog: RunLog):
        self.paths = paths
        self.tracker = tracker
        self.ticker = ticker
        self.runlog = runlog
        # Opened once the resume point is known (metrics past it are dropped first).
        self.writer: MetricsWriter | None = None
        # Training and the ticker's telemetry both append to metrics.jsonl.
        self._lock = threading.Lock()

    def open(self) -> None:
        self.writer = MetricsWriter(self.paths.metrics)
        self.ticker.send_telemetry_to(self.system)

    def close(self) -> None:
        with self._lock:
            if self.writer is not None:
                self.writer.close()
                self.writer = None

    def finish(self, results: dict[str, Any], ok: bool) -> None:
        """Close metrics.jsonl and hand the tracker the final results; a tracker error never
        escapes."""
        self.close()
        try:
            self.tracker.finish(results, ok)
        except Exception:
            log.warning("tracker could not finish", exc_info=True)

    def event(self, split: str, step: int, **fields: Any) -> None:
        check_fence(self.paths)  # a superseded attempt, or a deleted run, stops here
        with self._lock:
            event = self.writer.write(split, step, **fields)
        self.runlog.event(event)
        try:
            self.tracker.log_event(event)
        except Exception:  # a tracker hiccup must never stop training
            log.warning("tracker could not log an event", exc_info=True)

    def system(self, step: int, sample: dict[str, Any]) -> None:
        """A telemetry sample (the "system" split); metrics.jsonl only, since W&B samples its
        own system metrics. Dropped when the attempt is no longer the run's."""
        try:
            check_fence(self.paths)
        except EmotuiError:
            return  # the ticker's thread: training's own next write stops the run
        with self._lock:
            if self.writer is not None:
                self.writer.write(Event.SYSTEM, step, **sample)

    def follow(self, source: Callable[[], Position], total_steps: int,
               plan: WorkPlan | None = None) -> None:
        """Where the position comes from, and all the run does (see PositionTicker.follow)."""
        self.ticker.follow(source, total_steps, plan)

    def begin(self, step: int) -> None:
        """Training (re)starts at ``step`` now: the ETA counts from here."""
        self.ticker.begin(step)

    def phase(self, name: str) -> ContextManager[None]:
        """The position shows phase ``name`` (evaluating, predicting, saving) for the block."""
        return self.ticker.during(name)

    def set_phase(self, name: str) -> None:
        """The run moves on to phase ``name`` (after training: predicting the test split)."""
        self.ticker.set_phase(name)

    def progress(self, state, total_steps: int) -> None:
        """After a logging step or an evaluation: the best evaluation so far into status.json
        (the position itself is the ticker's)."""
        best = state.best_eval or {}
        self.ticker.note(**{ResultKey.EVAL_ACCURACY: best.get(EventField.ACCURACY),
                            ResultKey.EVAL_MACRO_F1: best.get(EventField.MACRO_F1)})


def configure_library_logging() -> None:
    """transformers/datasets progress bars and load reports are noise in a run's logs.

    datasets is not imported for it: a run on local files never needs it (it costs seconds of
    start-up, pandas and pyarrow with it). Whoever imports it later (a Hub dataset, the
    reference recipe) finds it quiet through the variables it reads on import."""
    import transformers

    transformers.logging.set_verbosity_error()
    # PEFT 0.21 calls a transformers 5 API that warns on every model wrap; not actionable.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*",
                            category=FutureWarning)
    transformers.logging.disable_progress_bar()
    datasets = sys.modules.get("datasets")
    if datasets is None:
        os.environ["DATASETS_VERBOSITY"] = "error"
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    else:
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()


def open_reporter(config: RunConfig, paths: RunPaths, ticker: PositionTicker) -> RunReporter:
    """The run's tracker, started (what it says of itself goes into status.json), and the
    RunReporter over it and the run's training log."""
    tracker = open_logger(config, paths)
    fields = tracker.start() or {}
    if fields:
        write_status(paths, **fields)
    return RunReporter(paths, tracker, ticker, RunLog(config))


def save_results(config: RunConfig, paths: RunPaths, state, test, encoded, label_names, built,
                 *, steps_per_epoch: int, device, precision: str) -> dict[str, Any]:
    """Assemble results.json (both recipes) and write it atomically."""
    import torch

    from emotui.train.checkpoint import folder_bytes  # lazy: pulls torch

    results = assemble_results(
        config, paths, state, test, encoded, label_names, built,
        checkpoint_bytes=folder_bytes(paths.checkpoint_best),
        peak_memory=torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
        steps_per_epoch=steps_per_epoch, device=str(device), precision=precision,
    )
    # Never from an attempt the run has moved on from, nor into a folder that is gone.
    check_fence(paths)
    results[SCHEMA_KEY] = RESULTS_SCHEMA
    results[ResultKey.ATTEMPT] = held_attempt(paths)
    atomic_write_json(paths.results, results)
    return results


def write_predictions(paths: RunPaths, texts, labels, test: dict[str, Any], names) -> None:
    lines = []
    for text, label, pred, probs in zip(texts, labels, test["predictions"], test["probabilities"]):
        lines.append(json.dumps({"text": text, "label": names[int(label)],
                                 "prediction": names[int(pred)],
                                 "confidence": round(float(probs[int(pred)]), 5)}))
    atomic_write_text(paths.predictions, "\n".join(lines) + ("\n" if lines else ""))


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 4)


def predicted_classes(confusion_matrix) -> int:
    """How many classes a model predicted at all (columns of the confusion matrix in use)."""
    if not confusion_matrix:
        return 2  # unknown: not evidence of a collapse
    return sum(1 for column in zip(*confusion_matrix) if any(column))


def assemble_results(config: RunConfig, paths: RunPaths, state, test, encoded, label_names,
                     built, *, checkpoint_bytes: int, peak_memory: int | None,
                     steps_per_epoch: int, device: str, precision: str) -> dict[str, Any]:
    """results.json: every key of RESULT_KEYS, plus a few details."""
    results = empty_results(paths.run_id, config.method, config.model_name_or_path)
    best = state.best_eval or {}
    quality = test if test is not None else None
    collapsed = bool(state.nonfinite_loss or state.collapse_reason)
    if best.get(EventField.ACCURACY) is not None and "validation" in encoded:
        majority = majority_rate(encoded["validation"].labels)
        collapsed |= abs(best[EventField.ACCURACY] - majority) <= 0.01
    if test is not None:
        majority = majority_rate(encoded["test"].labels)
        collapsed |= abs(test[EventField.ACCURACY] - majority) <= 0.01
        # A diverged model may answer one class for everything that is not the majority class.
        collapsed |= predicted_classes(test.get(ResultKey.CONFUSION_MATRIX)) <= 1
    runtime = state.train_runtime_s
    results.update({
        ResultKey.STATUS: "completed",
        ResultKey.BEST_EPOCH: _number(state.best_epoch),
        ResultKey.EVAL_ACCURACY: best.get(EventField.ACCURACY),
        ResultKey.EVAL_MACRO_F1: best.get(EventField.MACRO_F1),
        ResultKey.EVAL_LOSS: best.get(EventField.LOSS),
        ResultKey.TEST_ACCURACY: test[EventField.ACCURACY] if test else None,
        ResultKey.TEST_MACRO_F1: test[EventField.MACRO_F1] if test else None,
        ResultKey.TEST_LOSS: test[EventField.LOSS] if test else None,
        ResultKey.PER_CLASS: quality[ResultKey.PER_CLASS] if quality else None,
        ResultKey.CONFUSION_MATRIX: quality[ResultKey.CONFUSION_MATRIX] if quality else None,
        ResultKey.LABEL_NAMES: list(label_names),
        ResultKey.TRAINABLE_PARAMS: built.trainable_params,
        ResultKey.TOTAL_PARAMS: built.total_params,
        ResultKey.CHECKPOINT_BYTES: checkpoint_bytes,
        ResultKey.TRAIN_RUNTIME_S: round(runtime, 3) if config.do_train else None,
        ResultKey.TRAIN_SAMPLES_PER_SECOND: round(state.samples_trained / runtime, 2)
        if runtime > 0 else None,
        ResultKey.EVAL_SAMPLES_PER_SECOND: round(state.eval_samples / state.eval_runtime_s, 2)
        if state.eval_runtime_s > 0 else None,
        ResultKey.PEAK_GPU_MEMORY_BYTES: peak_memory,
        ResultKey.EPOCHS_COMPLETED: _number(round(state.global_step / steps_per_epoch, 4))
        if config.do_train else 0,
        ResultKey.COLLAPSED: collapsed,
        ResultKey.COLLAPSE_REASON: state.collapse_reason,  # the sentinel stopped the run
        ResultKey.GLOBAL_STEPS: state.global_step,
        ResultKey.NUM_VIRTUAL_TOKENS: built.num_virtual_tokens,
        ResultKey.RECIPE: config.recipe,
        ResultKey.DEVICE: device,
        ResultKey.PRECISION: precision,
        ResultKey.EVALS: state.evals,
        **state.speed_details(),  # compile seconds, padding share, tokens/s
    })
    # The tracker's link (written to status.json when it started) belongs with the results too.
    status = read_status(paths)
    results.update({key: status.get(key) for key in ("wandb_run_id", "wandb_url")})
    if results[ResultKey.COLLAPSED]:
        log.warning("run looks collapsed (accuracy at the majority-class rate or a non-finite loss)")
    for key, value in list(results.items()):
        if isinstance(value, float) and not math.isfinite(value):
            results[key] = None
    return results
