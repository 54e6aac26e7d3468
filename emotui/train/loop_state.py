"""Where a training run stands (``LoopState``): the optimizer step, the epoch and the batch
within it, the best evaluation so far, the logging window carried over a resume, and where the
time went (training, evaluation, compiling, padding). emotui's loop keeps it and saves it as a
mapping in checkpoints/last/trainer_state.pt, so a resume continues on the very next batch of
the same epoch order; the reference recipe fills one from the Trainer's for results.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emotui.core.vocabulary import ResultKey


@dataclass
class LoopState:
    """Where training stands; saved in checkpoints/last/trainer_state.pt."""

    global_step: int = 0
    epoch: int = 0  # index of the epoch in progress
    batch_in_epoch: int = 0  # micro-batches of that epoch already consumed
    best_metric: float | None = None
    best_step: int | None = None
    best_epoch: float | None = None
    best_eval: dict[str, Any] | None = None
    last_eval_step: int | None = None
    nonfinite_loss: bool = False
    collapse_reason: str | None = None  # set by the collapse sentinel: training stops
    train_runtime_s: float = 0.0
    samples_trained: int = 0
    eval_runtime_s: float = 0.0
    eval_samples: int = 0
    # Logging window carried over a resume, so the next train event covers the same steps.
    window_loss_sum: float = 0.0
    window_steps: int = 0
    window_samples: int = 0
    window_tokens: int = 0  # text tokens (not padding) of the window's batches
    window_pad_tokens: int = 0
    evals: list[dict[str, Any]] = field(default_factory=list)
    # Where the time went, for results.json.
    torch_compile: bool = False
    compile_s: float = 0.0  # compiling (and recompiling for new shapes), across resumes
    tokens_trained: int = 0
    pad_tokens_trained: int = 0
    eval_tokens: int = 0
    eval_pad_tokens: int = 0

    def speed_details(self) -> dict[str, Any]:
        """results.json details: compile time, padding share, text tokens per second."""
        def share(pad: int, real: int) -> float | None:
            return round(pad / (pad + real), 4) if pad + real else None

        return {
            ResultKey.TORCH_COMPILE: self.torch_compile,
            ResultKey.COMPILE_S: round(self.compile_s, 2),
            ResultKey.TRAIN_PAD_FRACTION: share(self.pad_tokens_trained, self.tokens_trained),
            ResultKey.EVAL_PAD_FRACTION: share(self.eval_pad_tokens, self.eval_tokens),
            ResultKey.TRAIN_TOKENS_PER_SECOND: round(self.tokens_trained / self.train_runtime_s, 1)
            if self.train_runtime_s > 0 else None,
        }
