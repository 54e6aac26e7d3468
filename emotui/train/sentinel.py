"""The collapse sentinel: stop a run that has stopped learning instead of letting it finish.

A run collapses when its model answers (nearly) one class for everything, or diverges: eval
accuracy at or below the majority-class rate, or a non-finite loss. The study let three of its
four full fine-tuning learning rates run all five epochs stuck at the majority class; the
sentinel stops such a run after ``collapse_patience`` evaluations in a row (default 2).

The check reads the loop's evaluation history (``LoopState.evals``), so it keeps no state of
its own and a resumed run is judged on the same evaluations as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from emotui.core.results import COLLAPSE_REASON_PREFIX
from emotui.core.vocabulary import EventField
from emotui.train.metrics import majority_rate

log = logging.getLogger("emotui")

# Accuracies are ratios of integers: equal rates may differ in the last bits.
RATE_EPSILON = 1e-9


@dataclass(frozen=True)
class CollapseSentinel:
    threshold: float | None  # an eval accuracy at or below this counts as collapsed
    patience: int
    enabled: bool = True

    @classmethod
    def for_run(cls, config: Any, data: Mapping[str, Any]) -> "CollapseSentinel":
        """The sentinel of a run: its settings, and the majority-class rate of its labels.

        The threshold is the larger of the training and the validation majority rates: a model
        that learnt only the training prior answers the training majority class, which scores
        its validation share (on emotion: joy, 33.5% of train, 35.2% of validation).
        """
        rates = [majority_rate(data[name].labels) for name in ("train", "validation")
                 if name in data and len(data[name].labels)]
        return cls(threshold=max(rates) if rates else None,
                   patience=int(config.collapse_patience),
                   enabled=bool(config.stop_on_collapse))

    def is_collapsed(self, evaluation: Mapping[str, Any]) -> bool:
        """Whether one evaluation ({"loss", "accuracy", ...}) looks collapsed."""
        loss, accuracy = evaluation.get(EventField.LOSS), evaluation.get(EventField.ACCURACY)
        if loss is None or not math.isfinite(loss):
            return True
        return (self.threshold is not None and accuracy is not None
                and accuracy <= self.threshold + RATE_EPSILON)

    def check(self, evals: Sequence[Mapping[str, Any]], nonfinite_train_loss: bool) -> str | None:
        """The reason to stop ("collapsed: ...") after the latest evaluation, or None.

        ``nonfinite_train_loss``: a training loss was NaN/inf since the run began (a diverged
        model never recovers, so the latest evaluation counts as collapsed too).
        """
        if not self.enabled or len(evals) < self.patience:
            return None
        recent = evals[-self.patience:]
        flags = [self.is_collapsed(e) for e in recent]
        if nonfinite_train_loss:
            flags[-1] = True
        if not all(flags):
            return None
        latest = recent[-1]
        loss, accuracy = latest.get(EventField.LOSS), latest.get(EventField.ACCURACY)
        if nonfinite_train_loss or loss is None or not math.isfinite(loss):
            what = "non-finite loss"
        else:
            what = (f"eval accuracy {accuracy:.4f} at or below the majority-class rate "
                    f"{self.threshold:.4f}")
        reason = (f"{COLLAPSE_REASON_PREFIX} {what} for {self.patience} evaluation"
                  f"{'s' if self.patience > 1 else ''} in a row (step {latest.get('step')}); "
                  "stopped (--stop_on_collapse false trains on)")
        log.warning("%s", reason)
        return reason
