"""``--recipe reference``: the study's own recipe, transformers' ``Trainer`` as its train.py ran it.

fp32 unless bf16/fp16 is given, every text padded to ``max_seq_length``, evaluation and checkpoints
per the config (the study: every epoch, best model loaded at the end), any further
``TrainingArguments`` passed on from ``extra_training_args``, and PEFT's own prompt
initialisation. It writes the same metrics.jsonl events (through a ``TrainerCallback``), the same
checkpoints/best and the same results.json as the default recipe, so runs of both compare.

Checkpoints: the Trainer's own ``checkpoint-N`` folders live in checkpoints/last, beside a small
``trainer_state.pt`` naming the newest one (what a resume continues from).
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotui.core.checkpoints import start_over
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.core.events import truncate_after_step
from emotui.core.general_settings import greater_is_better, logging_interval, plan_steps
from emotui.core.progress import PassProgress, WorkPlan
from emotui.core.runstore import RunPaths
from emotui.core.vocabulary import Event, EventField
from emotui.train import runlog
from emotui.train.checkpoint import Checkpointer, prompt_encoder_weights
from emotui.train.data import load_splits
from emotui.train.errors import Preempted
from emotui.train.loop_state import LoopState
from emotui.train.metrics import classification_metrics
from emotui.train.model import build_model
from emotui.train.reporting import (
    configure_library_logging,
    open_reporter,
    save_results,
    write_predictions,
)
from emotui.train.ticker import Position, PositionTicker

log = logging.getLogger("emotui")

def _trainer_key(prefix: str, name: str) -> str:
    """HF Trainer's name for a metric it reports: its ``metric_key_prefix`` ("eval", "test",
    "train" for speed), "_", the name (eval_loss, eval_accuracy, test_loss, train_runtime)."""
    return f"{prefix}_{name}"


# What the study's train.py did (run_classification.py defaults) where emotui's defaults differ.
STUDY_PAD_TO_MAX_LENGTH = True


def training_arguments(config: RunConfig, output_dir: Path, logging_steps: int):
    from transformers import TrainingArguments

    args: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        weight_decay=config.weight_decay,
        adam_beta1=config.adam_beta1, adam_beta2=config.adam_beta2,
        adam_epsilon=config.adam_epsilon,
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type=config.lr_scheduler_type,
        # transformers 5 folds warmup_ratio into warmup_steps (a float below 1 is a ratio).
        warmup_steps=config.warmup_steps or float(config.warmup_ratio),
        label_smoothing_factor=config.label_smoothing_factor,
        seed=config.seed,
        bf16=bool(config.bf16), fp16=config.fp16,  # fp32 unless asked: the study ran fp32
        eval_strategy=config.eval_strategy if config.do_eval else "no",
        eval_steps=config.eval_steps,
        save_strategy=config.save_strategy, save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=config.load_best_model_at_end and config.do_eval
        and config.eval_strategy != "no",
        metric_for_best_model=config.metric_for_best_model,
        greater_is_better=config.greater_is_better,
        logging_strategy="steps", logging_steps=logging_steps,
        report_to="none",  # emotui does its own tracking from the callback's events
        disable_tqdm=True,
        dataloader_num_workers=config.dataloader_num_workers,
        torch_compile=bool(config.torch_compile),  # auto: off, as the study ran
    )
    accepted = set(inspect.signature(TrainingArguments.__init__).parameters)
    for key, value in (config.extra_training_args or {}).items():
        if key in accepted and key not in ("output_dir", "report_to"):
            args[key] = value
        else:
            log.warning("reference recipe: TrainingArguments has no '%s' here; ignored", key)
    return TrainingArguments(**args)


def study_matmul_precision(config: RunConfig) -> None:
    """fp32 matmuls as the study ran them (PyTorch's default), unless tf32 is asked for; the
    default recipe turns TF32 on, and both may run in one process (the benchmark)."""
    if torch.cuda.is_available():
        tf32 = bool((config.extra_training_args or {}).get("tf32", False))
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


def hf_dataset(tokenizer, texts, labels, max_length: int):
    import datasets

    padding = "max_length" if STUDY_PAD_TO_MAX_LENGTH else False
    enc = tokenizer(texts, padding=padding, truncation=True, max_length=max_length)
    columns = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
    columns["labels"] = list(labels)
    return datasets.Dataset.from_dict(columns)


def make_callback(reporter, config: RunConfig, checkpointer, paths: RunPaths,
                  stop_event: threading.Event | None, steps_per_epoch: int,
                  mean_text_tokens: float | None = None, sizes: dict[str, int] | None = None):
    """``mean_text_tokens``: the training texts' mean length in tokens; every text is padded to
    max_seq_length, so a logging step's tokens/s and padding share follow from it. ``sizes``:
    examples per split, for the ETA of evaluation and test passes."""
    sizes = sizes or {}
    from transformers import TrainerCallback

    class EmotuiCallback(TrainerCallback):
        """metrics.jsonl events, status progress, best checkpoint, preemption."""

        def __init__(self):
            self.preempted_at: int | None = None
            self.window_start = time.perf_counter()
            self.window_step = 0
            self.evals: list[dict[str, Any]] = []
            self.best: dict[str, Any] | None = None
            self.eval_samples_per_second: float | None = None
            self.trainer_state = None  # the Trainer's TrainerState, once training began
            self.pass_progress: PassProgress | None = None  # the evaluation under way
            self.step_clock: float | None = None  # when the last step ended

        def on_train_begin(self, args, state, control, **kw):
            self.window_start, self.window_step = time.perf_counter(), state.global_step
            self.trainer_state = state
            per_step = args.train_batch_size * args.gradient_accumulation_steps
            plan = WorkPlan.for_run(
                config, total_steps=state.max_steps, steps_per_epoch=steps_per_epoch,
                validation=sizes.get("validation", 0), test=sizes.get("test", 0),
                final_eval=config.eval_strategy == "no")  # run_reference's evaluate()
            reporter.follow(lambda: self.position(per_step), state.max_steps, plan)
            reporter.begin(state.global_step)

        def position(self, samples_per_step: int) -> Position:
            state = self.trainer_state  # read from the ticker's thread: plain attributes only
            return Position(state.global_step, float(state.epoch or 0.0),
                            state.global_step * samples_per_step, self.pass_progress,
                            self.step_clock)

        def begin_evaluation(self) -> None:
            if reporter.ticker.phase == "training":
                self.pass_progress = None  # the last pass's count stays until the next begins
                reporter.ticker.set_phase("evaluating")

        def on_prediction_step(self, args, state, control, **kw):
            self.begin_evaluation()  # evaluate() outside the schedule begins here
            # Every text is padded alike: examples measure the pass's work.
            split = "test" if reporter.ticker.phase == "predicting" else "validation"
            last = self.pass_progress if self.pass_progress and \
                self.pass_progress.split == split else None
            total = sizes.get(split) or 0
            done = min(total, (last.done if last else 0) + args.eval_batch_size)
            if total:
                self.pass_progress = PassProgress(split, done, total, done / total,
                                                  min(1.0, args.eval_batch_size / total),
                                                  time.monotonic())

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" not in logs or _trainer_key("eval", EventField.LOSS) in logs:
                return
            now = time.perf_counter()
            samples = (state.global_step - self.window_step) * args.train_batch_size \
                * args.gradient_accumulation_steps
            rate = samples / max(now - self.window_start, 1e-9)
            tokens = {}
            if mean_text_tokens:
                tokens = dict(tokens_per_s=round(rate * mean_text_tokens, 1),
                              pad_fraction=round(1 - mean_text_tokens / config.max_seq_length, 4))
            reporter.event(
                Event.TRAIN, state.global_step,
                epoch=round(state.global_step / steps_per_epoch, 4),
                loss=float(logs["loss"]), learning_rate=logs.get("learning_rate"),
                grad_norm=_float(logs.get("grad_norm")), samples_per_second=round(rate, 2),
                **tokens,
            )
            self.window_start, self.window_step = now, state.global_step
            reporter.progress(_Progress(state, self.best), state.max_steps)

        def on_evaluate(self, args, state, control, metrics=None, **kw):
            metrics = metrics or {}
            epoch = round(state.global_step / steps_per_epoch, 4)
            summary = {EventField.STEP: state.global_step, EventField.EPOCH: epoch,
                       EventField.LOSS: _float(metrics.get(_trainer_key("eval", EventField.LOSS))),
                       EventField.ACCURACY: metrics.get(_trainer_key("eval", EventField.ACCURACY)),
                       EventField.MACRO_F1: metrics.get(_trainer_key("eval", EventField.MACRO_F1))}
            self.evals.append(summary)
            self.eval_samples_per_second = metrics.get(_trainer_key("eval", "samples_per_second"))
            reporter.event(Event.EVAL, state.global_step, epoch=epoch,
                           loss=summary[EventField.LOSS], accuracy=summary[EventField.ACCURACY],
                           macro_f1=summary[EventField.MACRO_F1])
            key = config.metric_for_best_model
            better = greater_is_better(config)
            value = summary[key]
            if value is not None and (self.best is None or (
                    value > self.best[key] if better else value < self.best[key])):
                self.best = summary
                # The Trainer keeps its own best checkpoint-N; emotui's best is adapter/model only.
                checkpointer.save_best(state.global_step)
            reporter.progress(_Progress(state, self.best), state.max_steps)
            if reporter.ticker.phase == "evaluating":
                reporter.ticker.set_phase("training")

        def on_save(self, args, state, control, **kw):
            # Written beside and renamed over: a kill mid-write keeps the previous marker.
            marker = paths.resume_state.with_name(f".{paths.resume_state.name}.tmp")
            torch.save({"recipe": "reference", "checkpoint": f"checkpoint-{state.global_step}",
                        "global_step": state.global_step}, marker)
            os.replace(marker, paths.resume_state)
            runlog.checkpoint_saved("last", state.global_step)

        def on_step_end(self, args, state, control, **kw):
            self.trainer_state = state
            self.step_clock = time.monotonic()
            if stop_event is not None and stop_event.is_set() and self.preempted_at is None:
                self.preempted_at = state.global_step
                control.should_save = True
                control.should_training_stop = True
            if control.should_evaluate:  # the Trainer's flow decided it (DefaultFlowCallback)
                self.begin_evaluation()

        def on_epoch_end(self, args, state, control, **kw):
            if self.preempted_at is not None:
                # Stopping for preemption is not the end of an epoch: no evaluation, no 2nd save.
                control.should_evaluate = False
                control.should_save = False
            if control.should_evaluate:
                self.begin_evaluation()

    return EmotuiCallback()


class _Progress:
    """The loop-state fields RunReporter.progress reads, from a TrainerState."""

    def __init__(self, state, best):
        self.global_step = state.global_step
        self.epoch = int(state.epoch or 0)
        self.best_eval = best


def _float(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def trainer_checkpoint(hf_dir: Path, marker_path: Path) -> tuple[Path, int] | None:
    """The Trainer checkpoint a resume continues from, and its step: the one emotui's marker
    names, else the newest complete one (a kill between the Trainer's save and the marker's, or
    the Trainer's rotation deleting the one the marker still named). None: there is none."""
    if marker_path.is_file():
        marker = torch.load(marker_path, map_location="cpu", weights_only=True)
        candidate = hf_dir / marker["checkpoint"]
        if candidate.is_dir():
            return candidate, int(marker["global_step"])
    # The Trainer writes trainer_state.json last into a checkpoint folder.
    complete = [(int(p.name.rpartition("-")[2]), p) for p in hf_dir.glob("checkpoint-*")
                if p.name.rpartition("-")[2].isdigit() and (p / "trainer_state.json").is_file()]
    if not complete:
        return None
    step, newest = max(complete)
    return newest, step


def run_reference(config: RunConfig, paths: RunPaths, *, resume: bool,
                  stop_event: threading.Event | None, ticker: PositionTicker) -> dict[str, Any]:
    from transformers import PrinterCallback, ProgressCallback, Trainer, set_seed

    configure_library_logging()
    set_seed(config.seed)
    dataset = load_splits(config)
    built = build_model(config, dataset.label_names, native_prompt_init=True)
    if prompt_encoder_weights(built.model):
        # The Trainer reloads its checkpoints (resume, best model) from PEFT's adapter file alone.
        raise ConfigError(
            f"--recipe reference cannot train {config.method} with this prompt encoder: the "
            "Trainer's checkpoints keep the encoder's output, not its weights; use --recipe "
            "default")
    splits = {name: hf_dataset(built.tokenizer, s.texts, s.labels, config.max_seq_length)
              for name, s in dataset.splits.items()}
    checkpointer = Checkpointer(paths, built.model, built.tokenizer, built.is_peft,
                                dataset.label_names)
    hf_dir = paths.checkpoint_last
    hf_dir.mkdir(parents=True, exist_ok=True)
    resume_from = None
    found = trainer_checkpoint(hf_dir, paths.resume_state) if resume else None
    if found is not None:
        resume_from = str(found[0])
        truncate_after_step(paths.metrics, found[1])
    if resume_from is None:
        # Nothing to continue from: start over, saying so if a resume was asked, with the
        # earlier metrics set aside (never deleted).
        notice = start_over(paths, "checkpoints/last holds no complete Trainer checkpoint"
                            if resume else None)
        if notice:
            log.warning(notice)

    def compute_metrics(prediction) -> dict[str, float]:
        preds = np.asarray(prediction.predictions).argmax(axis=-1)
        out = classification_metrics(prediction.label_ids, preds, dataset.label_names)
        return {score: out[score] for score in (EventField.ACCURACY, EventField.MACRO_F1)}

    train_rows = len(splits["train"]) if "train" in splits else 0
    steps_per_epoch, total_steps = plan_steps(config, train_rows)
    args = training_arguments(config, hf_dir, logging_interval(config.logging_steps, total_steps))
    study_matmul_precision(config)
    precision = "bfloat16" if config.bf16 else "float16" if config.fp16 else "float32"
    reporter = open_reporter(config, paths, ticker)
    reporter.open()
    mean_text_tokens = float(np.mean([sum(m) for m in splits["train"]["attention_mask"]])) \
        if train_rows else None
    callback = make_callback(reporter, config, checkpointer, paths, stop_event, steps_per_epoch,
                             mean_text_tokens, {name: len(split) for name, split in splits.items()})
    ok, results = False, {}
    try:
        trainer = Trainer(
            model=built.model, args=args, train_dataset=splits.get("train"),
            eval_dataset=splits.get("validation") if config.do_eval else None,
            compute_metrics=compute_metrics, callbacks=[callback],
        )
        # The Trainer prints each log dict ({'eval_loss': ...}) to stdout; the callback's events
        # make the run's log instead, and stdout stays the caller's (emotui run --json).
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        device = trainer.args.device
        reporter.runlog.started(
            config, device=runlog.describe_device(device), precision=precision,
            examples={name: len(split) for name, split in splits.items()},
            total_steps=total_steps, steps_per_epoch=steps_per_epoch,
            trainable_params=built.trainable_params, total_params=built.total_params)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        state = LoopState()
        if config.do_train:
            output = trainer.train(resume_from_checkpoint=resume_from)
            if callback.preempted_at is not None:
                raise Preempted(str(paths.root), callback.preempted_at)
            state.train_runtime_s = float(output.metrics.get(_trainer_key("train", "runtime"), 0.0))
            speed = output.metrics.get(_trainer_key("train", "samples_per_second"), 0)
            state.samples_trained = int(round(speed * state.train_runtime_s))
        state.global_step = trainer.state.global_step
        if callback.best is None and config.do_eval:
            trainer.evaluate()
        if callback.best is not None:
            state.best_eval = callback.best
            state.best_epoch = callback.best["epoch"]
            state.best_step = callback.best["step"]
        if checkpointer.best_step is None or not paths.checkpoint_best.is_dir():
            checkpointer.save_best(state.global_step)
        state.evals = callback.evals
        test = None
        if config.do_predict and "test" in splits:
            start = time.perf_counter()
            reporter.set_phase("predicting")
            prediction = trainer.predict(splits["test"], metric_key_prefix="test")
            elapsed = time.perf_counter() - start
            logits = torch.from_numpy(np.asarray(prediction.predictions)).float()
            probs = torch.softmax(logits, dim=-1).numpy()
            preds = probs.argmax(axis=-1)
            test = classification_metrics(prediction.label_ids, preds, dataset.label_names)
            test.update({EventField.LOSS: _float(prediction.metrics.get(
                _trainer_key("test", EventField.LOSS))),
                "predictions": preds, "probabilities": probs})
            reporter.event(Event.TEST, state.global_step,
                           epoch=round(state.global_step / steps_per_epoch, 4),
                           loss=test[EventField.LOSS], accuracy=test[EventField.ACCURACY],
                           macro_f1=test[EventField.MACRO_F1])
            state.eval_runtime_s += elapsed
            state.eval_samples += len(splits["test"])
            write_predictions(paths, dataset.splits["test"].texts, dataset.splits["test"].labels,
                              test, dataset.label_names)
        if callback.eval_samples_per_second:
            # Report the Trainer's own evaluation throughput (validation passes).
            state.eval_runtime_s, state.eval_samples = 1.0, callback.eval_samples_per_second
        checkpointer.cleanup()
        encoded = {name: _Labels(s.labels) for name, s in dataset.splits.items()}
        results = save_results(
            config, paths, state, test, encoded, dataset.label_names, built,
            steps_per_epoch=steps_per_epoch, device=device, precision=precision,
        )
        ok = True
        return results
    finally:
        reporter.finish(results, ok)


class _Labels:
    """Just the ``labels`` array assemble_results reads from an encoded split."""

    def __init__(self, labels):
        self.labels = np.asarray(labels, dtype=np.int64)
