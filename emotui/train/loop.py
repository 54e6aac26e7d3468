"""emotui's default recipe: a plain PyTorch training loop.

bf16 autocast where the GPU has it, dynamic padding with length-bucketed batches (each batch as
wide as its longest text; padding is a few percent of the tokens, reported as ``pad_fraction``),
SDPA attention, fused AdamW on CUDA, a linear (or cosine/constant) schedule with warm-up, gradient
clipping, and no host-device synchronisation per step: the loss is summed on the device and read
only at logging steps. Evaluation runs in large length-sorted batches. ``torch_compile``
(emotui.train.compiling) compiles the model's layers for long GPU runs.

The loop owns the training position (``LoopState``, in loop_state.py) so it can stop at any
optimizer step, checkpoint, and resume on the very next batch of the same epoch order.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict
from typing import Any, Callable, ContextManager, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.core.general_settings import greater_is_better, logging_interval, plan_steps
from emotui.core.progress import PassProgress
from emotui.core.vocabulary import Event, EventField
from emotui.train.batches import Encoded, collate, train_batches
from emotui.train.checkpoint import Checkpointer, load_trainer_state, rng_state, set_rng_state
from emotui.train.compiling import (
    CompileStats,
    compile_cache_dir,
    compile_model,
    mark_step,
    should_compile,
    uses_cuda_graphs,
)
from emotui.train.errors import Preempted
from emotui.train.loop_state import LoopState
from emotui.train.metrics import classification_metrics
from emotui.train.sentinel import CollapseSentinel

log = logging.getLogger("emotui")


class LoopHooks(Protocol):
    """What the loop reports to the job that runs it."""

    def event(self, split: str, step: int, **fields: Any) -> None: ...

    def progress(self, state: "LoopState", total_steps: int) -> None: ...

    def phase(self, name: str) -> ContextManager[None]: ...


def resolve_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(config: RunConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: bf16 (default on GPUs that support it), fp16, or None (fp32)."""
    if config.fp16:
        if device.type != "cuda":
            raise ConfigError("fp16 needs a CUDA GPU; drop --fp16 (bf16 also works on CPU)")
        return torch.float16
    if config.bf16 is None:
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return torch.bfloat16 if config.bf16 else None


class TrainingLoop:
    def __init__(self, config: RunConfig, model: torch.nn.Module, pad_id: int,
                 data: dict[str, Encoded], label_names: list[str], checkpointer: Checkpointer,
                 hooks: LoopHooks, stop_event: threading.Event | None = None,
                 device: torch.device | None = None):
        self.config = config
        self.device = device or resolve_device()
        self.model = model.to(self.device)
        self.pad_id = pad_id
        self.data = data
        self.label_names = label_names
        self.checkpointer = checkpointer
        self.hooks = hooks
        self.stop_event = stop_event
        self.state = LoopState()
        self.sentinel = CollapseSentinel.for_run(config, data)
        self.amp_dtype = resolve_precision(config, self.device)
        if self.device.type == "cuda":
            # TF32 for what stays in fp32 (the optimizer, fp32 runs): same accuracy, much faster.
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        train = data.get("train")
        self.batches_per_epoch = (
            math.ceil(len(train) / config.per_device_train_batch_size) if train is not None else 0
        )
        self.steps_per_epoch, self.total_steps = plan_steps(
            config, len(train) if train is not None else 0)
        self.logging_steps = logging_interval(config.logging_steps, self.total_steps)
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.forward_model = self.model
        self.cuda_graphs = False
        planned = self.total_steps if config.do_train else 0
        self.compiled = should_compile(config.torch_compile, self.device, planned)
        self.state.torch_compile = self.compiled
        if self.compiled:
            # The study's TrainingArguments name; e.g. "reduce-overhead" adds CUDA graphs.
            mode = (config.extra_training_args or {}).get("torch_compile_mode")
            self.forward_model = compile_model(self.model, mode=mode)
            self.cuda_graphs = uses_cuda_graphs(mode)
            log.info("torch.compile: the model's layers (%s), compiled at first use; cache %s",
                     "explicitly" if config.torch_compile else f"auto, {planned} steps",
                     compile_cache_dir())
        self._compile_start = CompileStats.now()
        self._compile_before = 0.0  # compile seconds of earlier sessions (a resumed run)
        self._loss_sum = torch.zeros((), device=self.device)
        self._grad_norm: torch.Tensor | None = None
        self.train_step: Callable[[dict[str, torch.Tensor]], torch.Tensor] = self.forward_backward
        # Read by the job's ticker, for the ETA: the evaluation under way, when a step ended.
        self.pass_progress: PassProgress | None = None
        self.step_clock: float | None = None

    # -- setup ----------------------------------------------------------------------------------

    def _make_optimizer(self) -> torch.optim.Optimizer:
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            # As transformers' Trainer: no weight decay on biases and normalisation weights.
            if param.ndim < 2 or "norm" in name.lower():
                no_decay.append(param)
            else:
                decay.append(param)
        groups = [{"params": decay, "weight_decay": self.config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        groups = [g for g in groups if g["params"]]
        kwargs = {"fused": True} if self.device.type == "cuda" else {}
        return torch.optim.AdamW(
            groups, lr=self.config.learning_rate,
            betas=(self.config.adam_beta1, self.config.adam_beta2), eps=self.config.adam_epsilon,
            **kwargs,
        )

    def _make_scheduler(self):
        from transformers import get_scheduler

        warmup = self.config.warmup_steps or math.ceil(self.config.warmup_ratio * self.total_steps)
        return get_scheduler(self.config.lr_scheduler_type, self.optimizer,
                             num_warmup_steps=warmup, num_training_steps=self.total_steps)

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _batch(self, enc: Encoded, index: np.ndarray) -> dict[str, torch.Tensor]:
        pad_to = self.config.max_seq_length if self.config.pad_to_max_length else None
        batch = collate(enc, index, self.pad_id, pad_to=pad_to)
        non_blocking = self.device.type == "cuda"
        if non_blocking:
            batch = {k: v.pin_memory() for k, v in batch.items()}
        return {k: v.to(self.device, non_blocking=non_blocking) for k, v in batch.items()}

    # -- training -------------------------------------------------------------------------------

    def forward_backward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One micro-batch: forward, loss, backward. Returns the detached loss (on device)."""
        if self.cuda_graphs:
            mark_step()
        with self.autocast():
            logits = self.forward_model(input_ids=batch["input_ids"],
                                        attention_mask=batch["attention_mask"]).logits
        loss = F.cross_entropy(logits.float(), batch["labels"],
                               label_smoothing=self.config.label_smoothing_factor)
        scaled = loss / self.config.gradient_accumulation_steps
        if self.scaler is not None:
            self.scaler.scale(scaled).backward()
        else:
            scaled.backward()
        return loss.detach()

    def optimizer_step(self) -> float:
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm and self.config.max_grad_norm > 0:
            self._grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        else:
            self._grad_norm = None
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return lr

    def run(self) -> None:
        """Train until total_steps, evaluating and checkpointing as configured."""
        cfg, st = self.config, self.state
        train = self.data["train"]
        accum = cfg.gradient_accumulation_steps
        self.model.train()
        segment_start = time.perf_counter()  # train_runtime accumulates across resumes
        window_start = time.perf_counter()
        window_loss = torch.zeros((), device=self.device) + st.window_loss_sum
        micro_in_step = 0
        lr = cfg.learning_rate
        while st.global_step < self.total_steps and not st.collapse_reason:
            batches = train_batches(train.lengths, cfg.per_device_train_batch_size, cfg.seed,
                                    st.epoch)
            reached_total = False
            while st.batch_in_epoch < len(batches):
                index = batches[st.batch_in_epoch]
                batch = self._batch(train, index)
                tokens = int(train.lengths[index].sum())
                padding = batch["input_ids"].numel() - tokens
                st.window_tokens += tokens
                st.window_pad_tokens += padding
                st.tokens_trained += tokens
                st.pad_tokens_trained += padding
                loss = self.train_step(batch)
                st.batch_in_epoch += 1
                micro_in_step += 1
                window_loss += loss / accum
                st.window_samples += len(index)
                st.samples_trained += len(index)
                if micro_in_step < accum and st.batch_in_epoch < len(batches):
                    continue
                micro_in_step = 0
                lr = self.optimizer_step()
                self.step_clock = time.monotonic()  # before the step count a reader pairs it with
                st.global_step += 1
                st.window_steps += 1
                if st.global_step % self.logging_steps == 0:
                    window_start = self._log_train(window_loss, window_start, lr)
                    window_loss = torch.zeros((), device=self.device)
                if cfg.eval_strategy == "steps" and st.global_step % cfg.eval_steps == 0:
                    self.evaluate_and_keep_best()
                if cfg.save_strategy == "steps" and st.global_step % cfg.save_steps == 0:
                    self.save_last(window_loss)
                if self.stop_event is not None and self.stop_event.is_set():
                    st.train_runtime_s += time.perf_counter() - segment_start
                    self.save_last(window_loss)
                    raise Preempted(str(self.checkpointer.paths.root), st.global_step)
                # A collapse ends training like the last step (evaluated, checkpointed below).
                if st.global_step >= self.total_steps or st.collapse_reason:
                    reached_total = True
                    break
            if reached_total and st.batch_in_epoch < len(batches):
                break  # max_steps or a fractional epoch count ends mid-epoch
            st.epoch += 1
            st.batch_in_epoch = 0
            if cfg.eval_strategy == "epoch":
                self.evaluate_and_keep_best()
            if cfg.save_strategy == "epoch" and st.global_step < self.total_steps:
                self.save_last(window_loss)
        if st.window_steps:
            self._log_train(window_loss, window_start, lr)
            window_loss = torch.zeros((), device=self.device)
        if cfg.do_eval and cfg.eval_strategy != "no" and st.last_eval_step != st.global_step:
            self.evaluate_and_keep_best()
        st.train_runtime_s += time.perf_counter() - segment_start
        if cfg.save_strategy != "no":
            self.save_last(window_loss)

    def _log_train(self, window_loss: torch.Tensor, window_start: float, lr: float) -> float:
        st = self.state
        now = time.perf_counter()
        steps = max(st.window_steps, 1)
        loss = float(window_loss.item()) / steps  # the one host sync, at logging steps only
        if not math.isfinite(loss):
            st.nonfinite_loss = True
        grad_norm = float(self._grad_norm.item()) if self._grad_norm is not None else None
        seconds = max(now - window_start, 1e-9)
        padded = st.window_tokens + st.window_pad_tokens
        self.hooks.event(
            Event.TRAIN, st.global_step, epoch=round(st.global_step / self.steps_per_epoch, 4),
            loss=loss, learning_rate=lr, grad_norm=grad_norm,
            samples_per_second=round(st.window_samples / seconds, 2),
            tokens_per_s=round(st.window_tokens / seconds, 1),
            pad_fraction=round(st.window_pad_tokens / padded, 4) if padded else None,
        )
        st.window_loss_sum, st.window_steps, st.window_samples = 0.0, 0, 0
        st.window_tokens = st.window_pad_tokens = 0
        self.count_compile_time()
        self.hooks.progress(st, self.total_steps)
        return now

    def _phase(self, name: str) -> ContextManager[None]:
        """The job shows ``name`` as the run's phase during the block (no hooks: nobody to tell)."""
        return self.hooks.phase(name) if self.hooks is not None else nullcontext()

    # -- evaluation -----------------------------------------------------------------------------

    @torch.no_grad()
    def predict_split(self, enc: Encoded,
                      split: str = "validation") -> tuple[float, np.ndarray, np.ndarray]:
        """(mean loss, predictions, probabilities) in the split's original order."""
        was_training = self.model.training
        self.model.eval()
        start = time.perf_counter()
        logits_all = torch.empty((len(enc), len(self.label_names)), device=self.device)
        batches = enc.eval_batches(self.config.per_device_eval_batch_size)
        # Each batch's share of the pass in padded tokens, not examples: the longest go first.
        work = np.array([len(i) * int(enc.lengths[i].max()) for i in batches], dtype=float)
        shares, done, share_done = work / max(work.sum(), 1.0), 0, 0.0
        for index, share in zip(batches, shares):
            self.pass_progress = PassProgress(split, done, len(enc), share_done, float(share),
                                              time.monotonic())
            batch = self._batch(enc, index)
            tokens = int(enc.lengths[index].sum())
            self.state.eval_tokens += tokens
            self.state.eval_pad_tokens += batch["input_ids"].numel() - tokens
            if self.cuda_graphs:
                mark_step()
            with self.autocast():
                logits = self.forward_model(input_ids=batch["input_ids"],
                                            attention_mask=batch["attention_mask"]).logits
            logits_all[torch.from_numpy(index).to(self.device)] = logits.float()
            done, share_done = done + len(index), min(1.0, share_done + float(share))
        self.pass_progress = PassProgress(split, len(enc), len(enc), 1.0, 0.0, time.monotonic())
        labels = torch.from_numpy(enc.labels).to(self.device)
        loss = float(F.cross_entropy(logits_all, labels).item())
        probs = torch.softmax(logits_all, dim=-1).cpu().numpy()
        self.state.eval_runtime_s += time.perf_counter() - start
        self.state.eval_samples += len(enc)
        self.count_compile_time()
        if was_training:
            self.model.train()
        return loss, probs.argmax(axis=-1), probs

    def evaluate(self, split: str) -> dict[str, Any]:
        enc = self.data[split]
        self.pass_progress = PassProgress(split, 0, len(enc), 0.0)  # not the last pass's count
        with self._phase("predicting" if split == "test" else "evaluating"):
            loss, preds, probs = self.predict_split(enc, split)
        metrics = classification_metrics(enc.labels, preds, self.label_names)
        metrics[EventField.LOSS] = loss
        metrics["predictions"] = preds
        metrics["probabilities"] = probs
        if not math.isfinite(loss):
            self.state.nonfinite_loss = True
        return metrics

    def evaluate_and_keep_best(self) -> dict[str, Any] | None:
        st = self.state
        if not self.config.do_eval or "validation" not in self.data:
            return None
        result = self.evaluate("validation")
        epoch = round(st.global_step / self.steps_per_epoch, 4)
        summary = {EventField.STEP: st.global_step, EventField.EPOCH: epoch,
                   EventField.LOSS: result[EventField.LOSS],
                   EventField.ACCURACY: result[EventField.ACCURACY],
                   EventField.MACRO_F1: result[EventField.MACRO_F1]}
        st.evals.append(summary)
        st.collapse_reason = st.collapse_reason or self.sentinel.check(st.evals, st.nonfinite_loss)
        st.last_eval_step = st.global_step
        self.hooks.event(Event.EVAL, st.global_step, epoch=epoch, loss=result[EventField.LOSS],
                         accuracy=result[EventField.ACCURACY],
                         macro_f1=result[EventField.MACRO_F1])
        value = result[self.config.metric_for_best_model]
        better = greater_is_better(self.config)
        improved = st.best_metric is None or (
            math.isfinite(value) and (value > st.best_metric if better else value < st.best_metric)
        ) or not math.isfinite(st.best_metric)
        if improved:
            st.best_metric, st.best_step, st.best_epoch = value, st.global_step, epoch
            st.best_eval = summary
            with self._phase("saving"):
                self.checkpointer.save_best(st.global_step)
        self.hooks.progress(st, self.total_steps)
        return result

    # -- checkpoints ----------------------------------------------------------------------------

    def count_compile_time(self) -> None:
        """state.compile_s: this session's compile seconds on top of earlier sessions'."""
        if self.compiled:
            session = CompileStats.now().since(self._compile_start).seconds
            self.state.compile_s = self._compile_before + session

    def save_last(self, window_loss: torch.Tensor) -> None:
        self.state.window_loss_sum = float(window_loss.item())
        self.count_compile_time()
        state = {
            "loop": asdict(self.state),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng_state(),
            "total_steps": self.total_steps,
        }
        with self._phase("saving"):
            self.checkpointer.save_last(self.state.global_step, state)

    def resume(self) -> None:
        """Continue from checkpoints/last: weights, optimizer, schedule, RNG and data position."""
        folder = self.checkpointer.paths.checkpoint_last
        saved = load_trainer_state(folder)
        self.checkpointer.load_weights(folder)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler is not None and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        self.state = LoopState(**saved["loop"])
        self.state.collapse_reason = None  # a resumed run is watched afresh
        self.checkpointer.best_step = self.state.best_step
        self.state.torch_compile = self.compiled
        self._compile_before = self.state.compile_s
        set_rng_state(saved["rng"])

    def restore_best(self) -> None:
        """Load checkpoints/best into the model when it differs from the current weights."""
        st = self.state
        best = self.checkpointer.paths.checkpoint_best
        if st.best_step is not None and st.best_step != st.global_step and best.is_dir():
            self.checkpointer.load_weights(best)
