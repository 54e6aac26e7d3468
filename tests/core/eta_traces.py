"""Synthetic runs for the ETA model's tests: what a job's ticker would observe, step by step.

A trace is a run laid out in time: training steps (some of them slow: a spike), a checkpoint
save now and then, evaluation passes over the validation split at the plan's points (batches
longest first, so each is a different share of the pass), a test pass at the end. ``observe(t)``
is what the ticker reads at time ``t`` (phase, step, the pass under way, when the last step
ended); ``refresh_times`` are when it writes: every TICK_S and at every phase change. ``lost``
is the time a stretch of the run spent beyond its units' normal durations (spikes, saves).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field

from emotui.core.progress import EVAL_SHARE_GUESS, PassProgress, WorkPlan

TICK_S = 1.5


@dataclass
class Unit:
    """One step or batch: it ran from ``start`` to ``end`` where ``nominal`` seconds were due."""

    start: float
    end: float
    nominal: float


@dataclass
class Pass:
    split: str
    start: float
    sizes: list[int]
    shares: list[float]
    ends: list[float]  # each batch's end

    def progress(self, t: float) -> PassProgress:
        done = bisect_right(self.ends, t)
        at = self.ends[done - 1] if done else self.start
        share = self.shares[done] if done < len(self.shares) else 0.0
        return PassProgress(self.split, sum(self.sizes[:done]), sum(self.sizes),
                            min(1.0, sum(self.shares[:done])), share, at)


@dataclass
class Trace:
    plan: WorkPlan
    phases: list[tuple[float, str]] = field(default_factory=list)  # (from, phase)
    step_ends: list[float] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    stalls: list[tuple[float, float]] = field(default_factory=list)  # saves: all lost
    end: float = 0.0

    def phase(self, t: float) -> str | None:
        i = bisect_right([p[0] for p in self.phases], t) - 1
        return self.phases[i][1] if i >= 0 else "starting"

    def observe(self, t: float) -> dict:
        """The ticker's reading at ``t`` (keyword arguments of EtaModel.update)."""
        step = bisect_right(self.step_ends, t)
        evaluation = None
        for run in self.passes:
            if run.start <= t:
                evaluation = run.progress(t)
        return {"phase": self.phase(t), "step": step, "evaluation": evaluation,
                "step_clock": self.step_ends[step - 1] if step else None}

    def refresh_times(self) -> list[float]:
        ticks = [k * TICK_S for k in range(1, int(self.end / TICK_S) + 1)]
        return sorted(set(ticks + [start for start, _ in self.phases]))

    def lost(self, t0: float, t1: float) -> float:
        def overlap(a: float, b: float) -> float:
            return max(0.0, min(b, t1) - max(a, t0))

        late = sum(overlap(u.start + u.nominal, u.end) for u in self.units)
        return late + sum(overlap(a, b) for a, b in self.stalls)


def random_trace(rng: random.Random, *, calibrated: bool, stalls: bool = True) -> Trace:
    """A run of a random plan. ``calibrated``: its units all take their normal time unless a
    training step is slow (a spike) or a checkpoint is saved, and an evaluated example costs
    what the model guesses before it measures one; otherwise evaluation is 4x faster to 2x
    slower than guessed, evaluation batches have spikes too and the first step is slow (a
    warm-up), so only what holds for any run can be checked. ``stalls``: spikes and saves."""
    steps_per_epoch = rng.randint(2, 30)
    epochs = rng.randint(1, 4)
    total = steps_per_epoch * epochs - rng.choice([0, 0, rng.randint(0, steps_per_epoch - 1)])
    strategy = rng.choice(["epoch", "steps", "no"])
    plan = WorkPlan(
        total_steps=max(1, total), steps_per_epoch=steps_per_epoch,
        examples_per_step=rng.choice([8, 16, 32, 64]),
        eval_every=rng.randint(3, 25) if strategy == "steps" else None,
        eval_per_epoch=strategy == "epoch", final_eval=strategy != "no",
        validation_examples=rng.choice([0, 50, 500, 2000]),
        test_examples=rng.choice([0, 100, 2000]))
    step_s = rng.choice([0.05, 0.3, 1.0, 2.0, 5.0]) * rng.uniform(0.8, 1.25)
    example_s = EVAL_SHARE_GUESS * step_s / plan.examples_per_step
    if not calibrated:
        example_s *= rng.uniform(0.25, 2.0)
    spike_p = rng.choice([0.0, 0.05, 0.15]) if stalls else 0.0
    trace = Trace(plan)
    t = 0.0

    def run_unit(nominal: float, first: bool = False, step: bool = True) -> float:
        nonlocal t
        slow = (step or not calibrated) and rng.random() < spike_p or (first and not calibrated)
        took = nominal * (rng.uniform(4, 10) if slow else 1.0)
        trace.units.append(Unit(t, t + took, nominal))
        t += took
        return t

    def evaluate(split: str, examples: int) -> None:
        nonlocal t
        trace.phases.append((t, "evaluating" if split == "validation" else "predicting"))
        size = rng.choice([16, 64, 256])
        sizes = [min(size, examples - i) for i in range(0, examples, size)]
        weights = [n * (1.0 + 2.0 * (len(sizes) - i) / len(sizes)) for i, n in enumerate(sizes)]
        shares = [w / sum(weights) for w in weights]
        run = Pass(split, t, sizes, shares, [])
        trace.passes.append(run)
        for i, share in enumerate(shares):
            # Uncalibrated: long texts (first) cost more than their share of tokens says.
            skew = 1.0 if calibrated else 1.5 - i / max(1, len(shares) - 1)
            run.ends.append(run_unit(share * examples * example_s * skew, step=False))

    def save() -> None:
        nonlocal t
        if stalls and rng.random() < 0.3:
            trace.phases.append((t, "saving"))
            trace.stalls.append((t, t + rng.uniform(0.2, 3.0)))
            t = trace.stalls[-1][1]

    trace.phases.append((0.0, "training"))
    for step in range(1, plan.total_steps + 1):
        trace.step_ends.append(run_unit(step_s, first=step == 1))
        if plan.evals_due(step, None) > plan.evals_due(step, step):  # an evaluation at step
            evaluate("validation", plan.validation_examples)
            save()
            if step < plan.total_steps:
                trace.phases.append((t, "training"))
    if plan.test_examples:
        evaluate("test", plan.test_examples)
    trace.phases.append((t, None))
    trace.end = t
    return trace
