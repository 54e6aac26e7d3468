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

SPLITS = ("eval", "test", "train")
FIELDS = ("accuracy", "macro_f1", "loss")
GOALS = ("minimize", "maximize")
# results.json keys holding a run's final value (best epoch for eval, the test pass for test).
RESULT_KEYS = {
    ("eval", "accuracy"): "eval_accuracy",
    ("eval", "macro_f1"): "eval_macro_f1",
    ("test", "accuracy"): "test_accuracy",
    ("test", "macro_f1"): "test_macro_f1",
}


def known_names() -> list[str]:
    return [f"{s}/{f}" for s in SPLITS for f in FIELDS if not (s == "train" and f != "loss")]


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
        split = "eval" if self.split == "test" else self.split  # hyperband watches validation
        out = []
        for event in events:
            if event.get("split") != split:
                continue
            value = event.get(self.field)
            if value is None:
                if self.field in (event.get("nonfinite") or []):
                    value = math.nan
                else:
                    continue
            out.append((float(event.get("epoch") or len(out) + 1), float(value)))
        return out

    def final_value(self, results: dict[str, Any] | None, events: list[dict[str, Any]]) -> float | None:
        """A finished run's value: results.json's when it has one, else the best logged value."""
        key = RESULT_KEYS.get((self.split, self.field))
        if results and key and results.get(key) is not None:
            return float(results[key])
        values = [e.get(self.field) for e in events if e.get("split") == self.split]
        values = [float(v) for v in values if isinstance(v, (int, float))]
        if not values:
            return None
        if self.split == "test":
            return values[-1]
        if self.split == "train":
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
                fld = {"f1": "macro_f1", "f1_macro": "macro_f1", "acc": "accuracy"}.get(fld, fld)
                if fld in FIELDS and not (split == "train" and fld != "loss"):
                    return split, fld
    if text in FIELDS:
        return "eval", text
    raise ConfigError(
        f"{where}: unknown metric '{raw}'{suggest(raw, known_names())}; emotui records "
        f"{', '.join(known_names())}"
    )
