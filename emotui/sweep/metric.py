"""Sweep metric names (W&B's ``eval/accuracy`` style) mapped onto emotui's events and results.

W&B sees what the study's HF Trainer logged: ``eval/accuracy`` each epoch and, after the best
model is loaded back, once more for that model, so a run's final value is its best epoch's.
emotui writes the same numbers to metrics.jsonl (``split: eval`` events, one per epoch) and
results.json (``eval_accuracy`` = best epoch's), and this module reads them from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from emotui.core.config import suggest
from emotui.core.errors import ConfigError
from emotui.core.setting_values import finite_number
from emotui.core.vocabulary import Event, EventField, result_key

# A metric's split is the event it is read from (metrics.jsonl's split), its field the score.
SPLITS = (Event.EVAL, Event.TEST, Event.TRAIN)
FIELDS = EventField.SCORES
GOALS = ("minimize", "maximize")
# results.json keys holding a run's final value (best epoch for eval, the test pass for test).
RESULT_KEYS = {(split, fld): result_key(split, fld)
               for split in Event.SCORED for fld in (EventField.ACCURACY, EventField.MACRO_F1)}


def metric_name(split: str, fld: str) -> str:
    """A metric as sweep files and W&B name it: ``eval/accuracy``."""
    return f"{split}/{fld}"


def recorded(split: str, fld: str) -> bool:
    """Whether emotui records this score of this event (a train event has only a loss)."""
    return fld in FIELDS and not (split == Event.TRAIN and fld != EventField.LOSS)


def known_names() -> list[str]:
    return [metric_name(s, f) for s in SPLITS for f in FIELDS if recorded(s, f)]


@dataclass(frozen=True)
class Metric:
    """The metric a sweep optimises: where to read it and which way is better."""

    name: str  # as the sweep file spells it
    split: str
    field: str
    goal: str = "minimize"  # W&B's default
    target: float | None = None

    @classmethod
    def parse(cls, block: Any, where: str) -> Metric:
        if isinstance(block, str):
            block = {"name": block}
        if not isinstance(block, dict) or "name" not in block:
            raise ConfigError(f"{where} must be a mapping with a name, e.g. "
                              "{name: eval/accuracy, goal: maximize}")
        extra = sorted(set(block) - {"name", "goal", "target", "impute", "impute_while_running"})
        if extra:
            raise ConfigError(f"{where}: unknown key '{extra[0]}' (metric takes name, goal, target)")
        name = str(block["name"])
        split, fld = split_name(name, where)
        goal = str(block.get("goal") or "minimize").lower()
        if goal not in GOALS:
            raise ConfigError(f"{where}: goal must be minimize or maximize, got {block.get('goal')!r}")
        target = block.get("target")
        if target is not None:
            target = float(finite_number(target, f"{where} target"))
        return cls(name, split, fld, goal, target)

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"

    def better(self, a: float | None, b: float | None) -> bool:
        """a is strictly better than b (a missing value is never better)."""
        if a is None or (isinstance(a, float) and math.isnan(a)):
            return False
        if b is None or (isinstance(b, float) and math.isnan(b)):
            return True
        return a > b if self.maximize else a < b

    def reached(self, value: float | None) -> bool:
        """value meets the sweep's target (W&B: the sweep then launches no new runs)."""
        if self.target is None or value is None or math.isnan(value):
            return False
        return value >= self.target if self.maximize else value <= self.target

    def sort_key(self, value: float | None) -> tuple[int, float]:
        """Best first; trials without a value last."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0)
        return (0, -value if self.maximize else value)

    def history(self, events: list[dict[str, Any]]) -> list[tuple[float, float]]:
        """(epoch, value) of each per-epoch event of this metric's split, in order."""
        # hyperband watches validation
        split = Event.EVAL if self.split == Event.TEST else self.split
        out = []
        for event in events:
            if event.get(EventField.SPLIT) != split:
                continue
            value = event.get(self.field)
            if value is None:
                if self.field in (event.get(EventField.NONFINITE) or []):
                    value = math.nan
                else:
                    continue
            out.append((float(event.get(EventField.EPOCH) or len(out) + 1), float(value)))
        return out

    def final_value(self, results: dict[str, Any] | None, events: list[dict[str, Any]]) -> float | None:
        """A finished run's value: results.json's when it has one, else the best logged value."""
        key = RESULT_KEYS.get((self.split, self.field))
        if results and key and results.get(key) is not None:
            return float(results[key])
        values = [e.get(self.field) for e in events if e.get(EventField.SPLIT) == self.split]
        values = [float(v) for v in values if isinstance(v, (int, float))]
        if not values:
            return None
        if self.split == Event.TEST:
            return values[-1]
        if self.split == Event.TRAIN:
            return values[-1]
        return max(values) if self.maximize else min(values)


def split_name(name: str, where: str) -> tuple[str, str]:
    """'eval/accuracy', 'eval_accuracy', 'accuracy' (= eval) -> ('eval', 'accuracy')."""
    raw = name.strip()
    text = raw.replace("-", "_").lower()
    for sep in ("/", "_"):
        for split in SPLITS:
            prefix = split + sep
            if text.startswith(prefix):
                fld = text[len(prefix):]
                fld = {"f1": EventField.MACRO_F1, "f1_macro": EventField.MACRO_F1,
                       "acc": EventField.ACCURACY}.get(fld, fld)
                if recorded(split, fld):
                    return split, fld
    if text in FIELDS:
        return Event.EVAL, text
    raise ConfigError(
        f"{where}: unknown metric '{raw}'{suggest(raw, known_names())}; emotui records "
        f"{', '.join(known_names())}"
    )
