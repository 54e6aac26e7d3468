"""``train(config, run_dir)``: one run's whole life while it trains.

Marks the run running, keeps its heartbeat, loads data and model, runs the recipe, streams
metric events to metrics.jsonl (and the tracker), keeps status.json's progress current, and
writes results.json. Setup errors (ConfigError, DataError) surface unchanged, before any step;
later errors mark the run failed with a one-line reason and propagate; a stop request checkpoints
and raises Preempted; ``resume=True`` picks up from checkpoints/last.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from emotui.core.config import RunConfig
from emotui.train.hub import go_offline_if_unreachable
from emotui.core.errors import EmotuiError
from emotui.core.events import MetricsWriter, truncate_after_step
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, atomic_write_json
from emotui.core.status import (
    HEARTBEAT_INTERVAL_S,
    RunState,
    mark_running,
    now,
    read_status,
    touch_heartbeat,
    write_status,
)
from emotui.train.errors import Preempted

log = logging.getLogger("emotui")


class Heartbeat:
    """Touches the run's heartbeat file every few seconds from a daemon thread."""

    def __init__(self, paths: RunPaths, interval: float = HEARTBEAT_INTERVAL_S):
        self.paths = paths
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="emotui-heartbeat", daemon=True)

    def _beat(self) -> None:
        while True:
            try:
                touch_heartbeat(self.paths)
            except OSError:
                pass  # a flaky network filesystem must not kill training; the next beat retries
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, EmotuiError):
        return str(exc)
    text = str(exc).strip()
    last = text.splitlines()[-1].strip() if text else ""
    return f"{type(exc).__name__}: {last}" if last else type(exc).__name__


class RunReporter:
    """The loop's hooks: events to metrics.jsonl and the tracker, progress to status.json."""

    def __init__(self, paths: RunPaths, tracker):
        self.paths = paths
        self.tracker = tracker
        # Opened once the resume point is known (metrics past it are dropped first).
        self.writer: MetricsWriter | None = None
        self.session_start = time.monotonic()
        self.session_first_step: int | None = None

    def open(self) -> None:
        self.writer = MetricsWriter(self.paths.metrics)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def event(self, split: str, step: int, **fields: Any) -> None:
        event = self.writer.write(split, step, **fields)
        try:
            self.tracker.log_event(event)
        except Exception:  # a tracker hiccup must never stop training
            log.warning("tracker could not log an event", exc_info=True)

    def begin(self, step: int) -> None:
        """Training (re)starts at ``step`` now: the ETA counts from here."""
        self.session_start, self.session_first_step = time.monotonic(), step

    def progress(self, state, total_steps: int) -> None:
        if self.session_first_step is None:
            self.session_first_step = state.global_step
        done = state.global_step - self.session_first_step
        elapsed = time.monotonic() - self.session_start
        remaining = total_steps - state.global_step
        eta = round(elapsed / done * remaining, 1) if done > 0 else None
        best = state.best_eval or {}
        write_status(
            self.paths, progress=round(min(1.0, state.global_step / max(total_steps, 1)), 4),
            step=state.global_step, total_steps=total_steps, epoch=state.epoch,
            eval_accuracy=best.get("accuracy"), eval_macro_f1=best.get("macro_f1"), eta_s=eta,
        )


def configure_library_logging() -> None:
    """transformers/datasets progress bars and load reports are noise in a run's logs."""
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    # PEFT 0.21 calls a transformers 5 API that warns on every model wrap; not actionable.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*",
                            category=FutureWarning)
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def train(config: RunConfig, run_dir: str | Path, *, resume: bool = False,
          stop_event: threading.Event | None = None) -> dict[str, Any]:
    paths = RunPaths(Path(run_dir).expanduser().absolute())
    paths.root.mkdir(parents=True, exist_ok=True)
    mark_running(paths)
    with Heartbeat(paths):
        try:
            go_offline_if_unreachable(config)
            if config.recipe == "reference":
                from emotui.train.reference import run_reference

                results = run_reference(config, paths, resume=resume, stop_event=stop_event)
            else:
                results = run_default(config, paths, resume=resume, stop_event=stop_event)
            write_status(paths, state=RunState.COMPLETED, ended=now(), progress=1.0, eta_s=0,
                         reason=None)
            return results
        except Preempted as exc:
            write_status(paths, state=RunState.PREEMPTED, reason=f"preempted at step {exc.step}")
            raise
        except KeyboardInterrupt:
            write_status(paths, state=RunState.CANCELLED, ended=now(), reason="interrupted")
            raise
        except BaseException as exc:
            write_status(paths, state=RunState.FAILED, ended=now(), reason=failure_reason(exc))
            raise


def open_tracker(config: RunConfig, paths: RunPaths):
    from emotui.tracking import open_logger

    tracker = open_logger(config, paths)
    fields = tracker.start() or {}
    if fields:
        write_status(paths, **fields)
    return tracker


def run_default(config: RunConfig, paths: RunPaths, *, resume: bool,
                stop_event: threading.Event | None) -> dict[str, Any]:
    """emotui's own recipe (loop.py)."""
    import torch
    from transformers import set_seed

    from emotui.train.batches import encode
    from emotui.train.checkpoint import Checkpointer
    from emotui.train.data import load_splits
    from emotui.train.loop import TrainingLoop, resolve_device
    from emotui.train.model import build_model

    configure_library_logging()
    # -- setup: ConfigError / DataError surface from here, before any step --------------------
    set_seed(config.seed)
    dataset = load_splits(config)
    built = build_model(config, dataset.label_names)
    encoded = {
        name: encode(built.tokenizer, split.texts, split.labels, config.max_seq_length)
        for name, split in dataset.splits.items()
    }
    device = resolve_device()
    checkpointer = Checkpointer(paths, built.model, built.tokenizer, built.is_peft,
                                dataset.label_names)
    pad_id = built.tokenizer.pad_token_id if built.tokenizer.pad_token_id is not None else 0
    if resume and not paths.resume_state.is_file():
        resume = False  # nothing saved yet: start over (the run died before its first checkpoint)
    if not resume and paths.metrics.exists():
        paths.metrics.unlink()
    tracker = open_tracker(config, paths)
    reporter = RunReporter(paths, tracker)
    ok = False
    results: dict[str, Any] = {}
    try:
        loop = TrainingLoop(config, built.model, pad_id, encoded, dataset.label_names,
                            checkpointer, reporter, stop_event, device)
        if resume:
            loop.resume()
            truncate_after_step(paths.metrics, loop.state.global_step)
            log.info("resumed at step %d (epoch %d, batch %d)", loop.state.global_step,
                     loop.state.epoch, loop.state.batch_in_epoch)
        reporter.open()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        write_status(paths, total_steps=loop.total_steps, trainable_params=built.trainable_params,
                     total_params=built.total_params, device=str(device))
        log.info("training %s on %s: %d examples, %d steps, %s of %s parameters trainable",
                 config.method, device, len(encoded["train"]) if "train" in encoded else 0,
                 loop.total_steps, f"{built.trainable_params:,}", f"{built.total_params:,}")

        if config.do_train:
            reporter.begin(loop.state.global_step)
            loop.run()
        elif config.do_eval:
            loop.evaluate_and_keep_best()
        if checkpointer.best_step is None or not paths.checkpoint_best.is_dir():
            # No evaluation chose a best model: the final weights are the best we have.
            checkpointer.save_best(loop.state.global_step)
            loop.state.best_step = loop.state.global_step

        test = None
        if config.do_predict and "test" in encoded:
            if config.load_best_model_at_end:
                loop.restore_best()
            test = loop.evaluate("test")
            epoch = round(loop.state.global_step / loop.steps_per_epoch, 4)
            reporter.event("test", loop.state.global_step, epoch=epoch,
                                       loss=test["loss"], accuracy=test["accuracy"],
                                       macro_f1=test["macro_f1"])
            write_predictions(paths, dataset.splits["test"].texts, encoded["test"].labels,
                              test, dataset.label_names)
        checkpointer.cleanup()
        results = save_results(
            config, paths, loop.state, test, encoded, dataset.label_names, built,
            steps_per_epoch=loop.steps_per_epoch, device=device,
            precision=str(loop.amp_dtype).replace("torch.", "") if loop.amp_dtype else "float32",
        )
        ok = True
        return results
    finally:
        finish_tracking(reporter, tracker, results, ok)


def save_results(config: RunConfig, paths: RunPaths, state, test, encoded, label_names, built,
                 *, steps_per_epoch: int, device, precision: str) -> dict[str, Any]:
    """Assemble results.json (both recipes) and write it atomically."""
    import torch

    from emotui.train.checkpoint import folder_bytes

    results = assemble_results(
        config, paths, state, test, encoded, label_names, built,
        checkpoint_bytes=folder_bytes(paths.checkpoint_best),
        peak_memory=torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
        steps_per_epoch=steps_per_epoch, device=str(device), precision=precision,
    )
    atomic_write_json(paths.results, results)
    return results


def finish_tracking(reporter: "RunReporter", tracker, results: dict[str, Any], ok: bool) -> None:
    """Close metrics.jsonl and hand the tracker the final results; a tracker error never escapes."""
    reporter.close()
    try:
        tracker.finish(results, ok)
    except Exception:
        log.warning("tracker could not finish", exc_info=True)


def write_predictions(paths: RunPaths, texts, labels, test: dict[str, Any], names) -> None:
    lines = []
    for text, label, pred, probs in zip(texts, labels, test["predictions"], test["probabilities"]):
        lines.append(json.dumps({"text": text, "label": names[int(label)],
                                 "prediction": names[int(pred)],
                                 "confidence": round(float(probs[int(pred)]), 5)}))
    from emotui.core.runstore import atomic_write_text

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
    from emotui.train.metrics import majority_rate

    results = empty_results(paths.run_id, config.method, config.model_name_or_path)
    best = state.best_eval or {}
    quality = test if test is not None else None
    collapsed = bool(state.nonfinite_loss)
    if best.get("accuracy") is not None and "validation" in encoded:
        collapsed |= abs(best["accuracy"] - majority_rate(encoded["validation"].labels)) <= 0.01
    if test is not None:
        collapsed |= abs(test["accuracy"] - majority_rate(encoded["test"].labels)) <= 0.01
        # A diverged model may answer one class for everything that is not the majority class.
        collapsed |= predicted_classes(test.get("confusion_matrix")) <= 1
    runtime = state.train_runtime_s
    results.update(
        status="completed",
        best_epoch=_number(state.best_epoch),
        eval_accuracy=best.get("accuracy"),
        eval_macro_f1=best.get("macro_f1"),
        eval_loss=best.get("loss"),
        test_accuracy=test["accuracy"] if test else None,
        test_macro_f1=test["macro_f1"] if test else None,
        test_loss=test["loss"] if test else None,
        per_class=quality["per_class"] if quality else None,
        confusion_matrix=quality["confusion_matrix"] if quality else None,
        label_names=list(label_names),
        trainable_params=built.trainable_params,
        total_params=built.total_params,
        checkpoint_bytes=checkpoint_bytes,
        train_runtime_s=round(runtime, 3) if config.do_train else None,
        train_samples_per_second=round(state.samples_trained / runtime, 2)
        if runtime > 0 else None,
        eval_samples_per_second=round(state.eval_samples / state.eval_runtime_s, 2)
        if state.eval_runtime_s > 0 else None,
        peak_gpu_memory_bytes=peak_memory,
        epochs_completed=_number(round(state.global_step / steps_per_epoch, 4))
        if config.do_train else 0,
        collapsed=collapsed,
        global_steps=state.global_step,
        num_virtual_tokens=built.num_virtual_tokens,
        recipe=config.recipe,
        device=device,
        precision=precision,
        evals=state.evals,
    )
    # The tracker's link (written to status.json when it started) belongs with the results too.
    status = read_status(paths)
    results.update({key: status.get(key) for key in ("wandb_run_id", "wandb_url")})
    if results["collapsed"]:
        log.warning("run looks collapsed (accuracy at the majority-class rate or a non-finite loss)")
    for key, value in list(results.items()):
        if isinstance(value, float) and not math.isfinite(value):
            results[key] = None
    return results
