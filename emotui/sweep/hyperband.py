"""Hyperband early termination with W&B's bracket rule, on the per-epoch eval metric.

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

from emotui.sweep.metric import Metric
from emotui.sweep.spec import Hyperband


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
