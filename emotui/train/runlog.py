"""The run's training log: the lines of stdout.log, the same on every backend.

Logger "emotui.run"; core.runlogs routes it into the run's stdout.log with a timestamp. One line
for the start (method, model, device, precision, examples per split, steps), each logging step
(loss, learning rate, samples/s), each evaluation (accuracy, macro-F1, the best so far), each
checkpoint, the test result and, last, the outcome ("completed in 4m12s: test accuracy 92.85%",
"failed: <reason>"). Humans read it: accuracy as a percentage, durations as 4m12s.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from emotui.core.config import RunConfig
from emotui.core.general_settings import greater_is_better
from emotui.core.progress import format_duration
from emotui.core.vocabulary import Event, EventField, ResultKey

log = logging.getLogger("emotui.run")


def _percent(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "-"


def _loss(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "nan"


def _epoch(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


class RunLog:
    """Writes one run's training-log lines; remembers what later lines refer to."""

    def __init__(self, config: RunConfig):
        self.metric = config.metric_for_best_model
        self.greater = greater_is_better(config)
        self.total_steps: int | None = None
        self.best: dict[str, Any] | None = None

    def started(self, config: RunConfig, *, device: str, precision: str,
                examples: Mapping[str, int], total_steps: int, steps_per_epoch: int,
                trainable_params: int | None = None, total_params: int | None = None) -> None:
        self.total_steps = total_steps
        log.info("start: %s (recipe %s), model %s, on %s, %s", config.method, config.recipe,
                 config.model_name_or_path, device, precision)
        counts = ", ".join(f"{n:,} {split}" for split, n in examples.items())
        params = ""
        if trainable_params is not None and total_params:
            params = (f"; {trainable_params:,} of {total_params:,} parameters trainable "
                      f"({trainable_params / total_params:.2%})")
        log.info("examples: %s; %d optimizer steps (%d per epoch)%s", counts or "none",
                 total_steps, steps_per_epoch, params)

    def event(self, event: Mapping[str, Any]) -> None:
        """The line for a metrics.jsonl event (train, eval, test); other splits have none."""
        split = event.get(EventField.SPLIT)
        if split == Event.TRAIN:
            self._train(event)
        elif split == Event.EVAL:
            self._eval(event)
        elif split == Event.TEST:
            log.info("test at step %d: accuracy %s, macro-F1 %s, loss %s", event[EventField.STEP],
                     _percent(event.get(EventField.ACCURACY)),
                     _percent(event.get(EventField.MACRO_F1)), _loss(event.get(EventField.LOSS)))

    def _train(self, event: Mapping[str, Any]) -> None:
        total = f"/{self.total_steps}" if self.total_steps else ""
        parts = [f"loss {_loss(event.get(EventField.LOSS))}"]
        if isinstance(event.get("learning_rate"), (int, float)):
            parts.append(f"lr {event['learning_rate']:.2e}")
        if isinstance(event.get("samples_per_second"), (int, float)):
            parts.append(f"{event['samples_per_second']:.1f} samples/s")
        if isinstance(event.get("tokens_per_s"), (int, float)):
            parts.append(f"{event['tokens_per_s']:.0f} tokens/s")
        log.info("step %d%s, epoch %s: %s", event["step"], total, _epoch(event.get("epoch")),
                 ", ".join(parts))

    def _eval(self, event: Mapping[str, Any]) -> None:
        value = event.get(self.metric)
        if isinstance(value, (int, float)) and (
                self.best is None or (value > self.best[self.metric] if self.greater
                                      else value < self.best[self.metric])):
            self.best = dict(event)
        best = ""
        if self.best is not None:
            shown = _loss if self.metric == EventField.LOSS else _percent
            best = (f"; best {self.metric.replace('_', '-')} {shown(self.best[self.metric])} "
                    f"at epoch {_epoch(self.best.get('epoch'))}")
        log.info("eval at step %d, epoch %s: accuracy %s, macro-F1 %s, loss %s%s", event["step"],
                 _epoch(event.get("epoch")), _percent(event.get(EventField.ACCURACY)),
                 _percent(event.get(EventField.MACRO_F1)), _loss(event.get(EventField.LOSS)), best)


def describe_device(device) -> str:
    """"cuda:0 (NVIDIA H100 80GB HBM3)" for a GPU, "cpu" otherwise."""
    if getattr(device, "type", None) == "cuda":
        import torch

        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def checkpoint_saved(kind: str, step: int) -> None:
    log.info("checkpoint %s saved at step %d", kind, step)


def completed(results: Mapping[str, Any], seconds: float) -> None:
    """The last line of a run that completed."""
    took = f"completed in {format_duration(seconds)}"
    if results.get(ResultKey.COLLAPSE_REASON):
        took += f" (stopped early: {results[ResultKey.COLLAPSE_REASON]})"
    if isinstance(results.get(ResultKey.TEST_ACCURACY), (int, float)):
        log.info("%s: test accuracy %s", took, _percent(results[ResultKey.TEST_ACCURACY]))
    elif isinstance(results.get(ResultKey.EVAL_ACCURACY), (int, float)):
        log.info("%s: eval accuracy %s", took, _percent(results[ResultKey.EVAL_ACCURACY]))
    else:
        log.info("%s", took)


def stopped(state: str, reason: str | None) -> None:
    """The last line of a run that did not complete (failed, cancelled, preempted)."""
    log.info("%s: %s", state, reason or "no reason recorded")
