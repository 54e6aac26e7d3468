"""Hyperband early termination with W&B's bracket rule, on the per-epoch eval metric, and the
sweep file's ``early_terminate`` block that asks for it (``Hyperband.parse``: every number in it
finite, ``strict`` a boolean).

W&B (sweeps/hyperband_stopping.py): brackets at min_iter * eta^k (or max_iter / eta^k, k <= s);
at each bracket the threshold is the value that keeps the best 1/eta of all runs that reached it
(running and finished alike); a running run whose value is worse than the threshold of the last
bracket it has passed is stopped. ``strict`` (W&B's default) compares the run's value *at* that
bracket; ``strict: false`` compares its best value so far, which stops fewer runs.

Two deliberate differences: brackets count epochs from 1 (the bracket at epoch 1 uses the first
epoch's evaluation; W&B indexes logged values from 0), and a NaN (a diverged loss) counts as the
worst value instead of being skipped, so a collapsed trial is stopped rather than kept.

A trial that finished early (stopped here, or by its own collapse sentinel after a run of
majority-class evaluations) counts at the brackets it reached, and only there: its history ends
where it stopped, as a stopped W&B run's does.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emotui.core.errors import ConfigError
from emotui.core.setting_values import finite_number
from emotui.sweep.metric import Metric


@dataclass
class Hyperband:
    """early_terminate: {type: hyperband, min_iter | max_iter + s, eta, strict}."""

    eta: float = 3.0
    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None
    strict: bool = True

    @classmethod
    def parse(cls, block: Any, where: str) -> Hyperband:
        if not isinstance(block, dict):
            raise ConfigError(f"{where} must be a mapping such as {{type: hyperband, min_iter: 1}}")
        kind = block.get("type")
        if kind != "hyperband":
            raise ConfigError(f"{where}: type must be hyperband (the only early_terminate W&B "
                              f"has), got {kind!r}")
        extra = sorted(set(block) - {"type", "min_iter", "max_iter", "s", "eta", "strict"})
        if extra:
            raise ConfigError(f"{where}: unknown key '{extra[0]}' (hyperband takes min_iter or "
                              "max_iter + s, eta, strict)")
        out = cls()
        # Each a finite number (a NaN eta passes "eta > 1": NaN compares false with everything).
        out.eta = float(finite_number(block.get("eta", 3), f"{where} eta"))
        for key in ("min_iter", "max_iter", "s"):
            if key in block:
                setattr(out, key, finite_number(block[key], f"{where} {key}", integer=True))
        strict = block.get("strict", True)
        if not isinstance(strict, bool):
            raise ConfigError(f"{where} strict must be true or false, got {strict!r}")
        out.strict = strict
        if out.eta <= 1:
            raise ConfigError(f"{where}: eta must be > 1, got {out.eta:g}")
        if out.min_iter is None and out.max_iter is None:
            raise ConfigError(f"{where} needs min_iter (first bracket, in epochs) or max_iter + s")
        if out.min_iter is not None and out.min_iter < 1:
            raise ConfigError(f"{where}: min_iter must be >= 1, got {out.min_iter}")
        if out.max_iter is not None and out.max_iter < 1:
            raise ConfigError(f"{where}: max_iter must be >= 1, got {out.max_iter}")
        if out.s is not None and not 1 <= out.s <= 100:
            raise ConfigError(f"{where}: s must be between 1 and 100 brackets, got {out.s}")
        if out.min_iter is None and out.s is None:
            raise ConfigError(f"{where}: max_iter needs s (how many brackets below max_iter)")
        if not out.brackets(10**6):
            raise ConfigError(f"{where} gives no bracket: raise max_iter or s, or lower eta")
        return out

    def brackets(self, max_epochs: float) -> list[int]:
        """Epochs at which runs are compared (W&B: min_iter*eta^k, or max_iter/eta^k for k<=s)."""
        bands: list[int] = []
        if self.min_iter is not None:
            band = float(self.min_iter)
            while band <= max_epochs and len(bands) < 100:
                bands.append(int(band))
                band *= self.eta
        else:
            band = float(self.max_iter or 0)
            for _ in range(self.s or 0):
                band /= self.eta
                if band < 1:
                    break
                bands.append(int(band))
        return sorted(b for b in set(bands) if b <= max_epochs)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "hyperband", "eta": self.eta, "strict": self.strict}
        for key in ("min_iter", "max_iter", "s"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class StopDecision:
    bracket: int  # epoch
    value: float
    threshold: float

    def reason(self, metric: Metric) -> str:
        return (f"early-stopped by hyperband at epoch {self.bracket}: {metric.name} "
                f"{self.value:.4g} worse than the bracket's threshold {self.threshold:.4g}")


def _loss_sign(metric: Metric, value: float) -> float:
    """Lower is better after this (W&B negates maximised metrics); NaN is the worst."""
    if value is None or math.isnan(value):
        return math.inf
    return -value if metric.maximize else value


def thresholds(hb: Hyperband, metric: Metric, histories: Mapping[Hashable, Sequence[float]],
               max_epochs: float) -> dict[int, float]:
    """Bracket epoch -> threshold (in lower-is-better units) from every run's per-epoch values."""
    out = {}
    eta = hb.eta
    for band in hb.brackets(max_epochs):
        values = sorted(_loss_sign(metric, h[band - 1]) for h in histories.values() if len(h) >= band)
        if values:
            out[band] = values[int((1.0 / eta) * len(values))]
    return out


def should_stop(hb: Hyperband, metric: Metric, histories: Mapping[Hashable, Sequence[float]],
                run: Hashable, max_epochs: float) -> StopDecision | None:
    """Whether running trial ``run`` falls below the threshold of the last bracket it passed."""
    history = list(histories.get(run) or [])
    if not history:
        return None
    limits = thresholds(hb, metric, histories, max_epochs)
    passed = [b for b in sorted(limits) if b <= len(history)]
    if not passed:
        return None
    band = passed[-1]
    if hb.strict:
        value = _loss_sign(metric, history[band - 1])
    else:
        value = min(_loss_sign(metric, v) for v in history)
    if value > limits[band]:
        shown = history[band - 1] if hb.strict else (
            max(history) if metric.maximize else min(history))
        thr = -limits[band] if metric.maximize else limits[band]
        return StopDecision(bracket=band, value=shown, threshold=thr)
    return None
