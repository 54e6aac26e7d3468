"""A run's position as a reader shows it, and the one ETA model behind every ETA emotui shows.

The job refreshes status.json's position every couple of seconds (``elapsed_s`` and ``eta_s`` as
measured at ``position_time``, a unix time). Between two refreshes a reader moves both on by
the time since the measurement, so a display ticks every second without the job writing that
often. The CLI and the TUI both read the position through here, and format durations alike.

The ETA (``EtaModel``, fed by the job's ticker at each refresh) covers every phase still to come:
the training steps left (seconds per step from recent steps, spikes set aside), each evaluation
the schedule still holds (``WorkPlan``) and the test pass, both from the split sizes and the
measured seconds per evaluated example (until measured, a guess from the training speed). An
estimate may fall freely, but it promises an end time: the next estimate may move that end later
only by the time the run fell behind it, so a slow step or a low guess never makes it leap up.
Shown below what the rates say (after such a guess), it falls as a share of the work done. The
job also says how fast readers count down until its next refresh (``eta_pace``: not at all while
a step overruns its time or a checkpoint is saved), so the next refresh finds them where it puts
them. While work remains it never shows 0. A sweep's or a study's ETA is its runs still to come
at their measured duration, ``makespan`` of them over the slots it runs at once.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from emotui.core.lifecycle import RunState, state_of

# Until an evaluation is measured, an evaluated example costs this share of a trained one: the
# forward pass alone is about a third of forward + backward, guessed high on purpose, because
# an estimate that turns out high comes down at once while one that turns out low may rise
# only by the time lost.
EVAL_SHARE_GUESS = 0.5
RATE_SAMPLES = 16  # recent samples (of steps, of evaluation batches) a speed is taken over
SPIKE_FACTOR = 1.5  # a sample this many times the median is a stall, not the run's speed
PRIOR_SHARE = 0.25  # the guess weighs as this share of a pass's examples measured
PACE_PROBE_S = 1.0  # how far ahead the pace readers count down at is taken
DONE = 1.0 - 1e-9  # a pass's share of work done that counts as all of it (sums of floats)
ETA_FLOOR_S = 1.0  # the least an ETA shows while work remains: never "0s" during a test pass
EVAL_PHASES = {"evaluating": "validation", "predicting": "test"}  # the ticker's phase names


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _since_measured(status: Mapping[str, Any], now: float) -> float:
    """Seconds from the job's last position measurement to ``now`` (0 without one)."""
    measured = _number(status.get("position_time"))
    return max(0.0, now - measured) if measured is not None else 0.0


def _running(status: Mapping[str, Any]) -> bool:
    return state_of(status) is RunState.RUNNING


def live_elapsed(status: Mapping[str, Any], now: float) -> float | None:
    """Wall seconds this attempt has run, as of ``now``; None when the status cannot tell.

    A running run counts up from ``elapsed_s``; a stopped one keeps its last measurement. A
    status written before the job measured anything falls back to started/ended.
    """
    elapsed = _number(status.get("elapsed_s"))
    if elapsed is not None:
        return elapsed + _since_measured(status, now) if _running(status) else elapsed
    started = _number(status.get("started"))
    if started is None:
        return None
    ended = _number(status.get("ended"))
    if ended is not None and not _running(status):
        return max(0.0, ended - started)
    return max(0.0, now - started) if _running(status) else None


def live_eta(status: Mapping[str, Any], now: float) -> float | None:
    """Seconds left as of ``now``: ``eta_s`` counted down since it was measured, at the job's
    ``eta_pace`` (seconds per second, 1 unless the job says otherwise: EtaModel.pace). None
    unless the run is running and the job has an estimate. While the job says work remains, a
    reader stops at ETA_FLOOR_S for its next estimate rather than show 0 (a late refresh)."""
    eta = _number(status.get("eta_s"))
    if eta is None or not _running(status):
        return None
    pace = _number(status.get("eta_pace"))
    pace = 1.0 if pace is None else min(1.0, max(0.0, pace))
    return max(eta - pace * _since_measured(status, now), min(eta, ETA_FLOOR_S))


def phase_text(status: Mapping[str, Any]) -> str | None:
    """The phase as a person reads it: "evaluating 640/2,000" while a pass counts examples."""
    phase = status.get("phase")
    if not isinstance(phase, str):
        return None
    done, total = status.get("pass_done"), status.get("pass_total")
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        return f"{phase} {done:,}/{total:,}"
    return phase


def format_duration(seconds: float | None, missing: str = "-") -> str:
    """42s, 4m12s, 1h05m, 2d03h: at most two units, never wider than six characters below
    100 days. ``missing`` stands for None."""
    if seconds is None:
        return missing
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def makespan(durations: Iterable[float], slots: int, busy: Sequence[float] = ()) -> float:
    """Wall time of running ``durations`` in order, ``slots`` at a time, each starting as soon
    as a slot frees up (as a sweep's controller starts trials); ``busy``: the seconds each run
    already under way still needs, one slot each."""
    free = [max(0.0, float(b)) for b in busy]
    free += [0.0] * max(0, max(1, slots) - len(free))
    started = False
    for duration in durations:
        i = min(range(len(free)), key=free.__getitem__)
        free[i] += duration
        started = True
    return max(free) if started or busy else 0.0


# -- what a run still has to do ------------------------------------------------------------------


@dataclass(frozen=True)
class PassProgress:
    """How far an evaluation pass over ``split`` ("validation" or "test") has come: examples
    done of ``total``, the share of its work done (batches differ in cost: the loop's go
    longest first), the share of the batch now being computed, and when (``at``, monotonic
    clock) the pass got this far."""

    split: str
    done: int
    total: int
    fraction: float
    batch_share: float = 0.0
    at: float | None = None


@dataclass(frozen=True)
class WorkPlan:
    """Everything a run does, as the ETA counts it: optimizer steps, evaluation passes over the
    validation split (every ``eval_every`` steps, or at each epoch's end, and with
    ``final_eval`` once more after the last step unless one ran there), a test pass."""

    total_steps: int
    steps_per_epoch: int = 1
    examples_per_step: int = 1
    eval_every: int | None = None
    eval_per_epoch: bool = False
    final_eval: bool = False
    validation_examples: int = 0  # 0: no evaluation
    test_examples: int = 0  # 0: no test pass
    trains: bool = True

    @classmethod
    def for_run(cls, config: Any, *, total_steps: int, steps_per_epoch: int, validation: int,
                test: int, final_eval: bool) -> "WorkPlan":
        """The plan of a run of ``config`` (a RunConfig) with splits of these sizes;
        ``final_eval``: whether the recipe evaluates after the last step when the schedule
        did not (emotui's loop does; the Trainer recipe only with eval_strategy "no")."""
        evaluates = bool(config.do_eval) and validation > 0
        strategy = config.eval_strategy
        return cls(
            total_steps=max(0, int(total_steps)), steps_per_epoch=max(1, int(steps_per_epoch)),
            examples_per_step=max(1, config.per_device_train_batch_size
                                  * config.gradient_accumulation_steps),
            eval_every=config.eval_steps if strategy == "steps" and config.eval_steps else None,
            eval_per_epoch=strategy == "epoch", final_eval=final_eval,
            validation_examples=validation if evaluates else 0,
            test_examples=test if config.do_predict else 0, trains=bool(config.do_train))

    def evals_due(self, step: int, last_eval_step: int | None) -> int:
        """Validation passes still to run once ``step`` steps are done, the one due at
        ``step`` itself included unless it ran (``last_eval_step``)."""
        if not self.validation_examples:
            return 0
        if not self.trains:  # the recipe evaluates once, with no step taken
            return 0 if last_eval_step is not None else 1
        total, step = self.total_steps, min(step, self.total_steps)
        period = self.eval_every or (self.steps_per_epoch if self.eval_per_epoch else None)
        after = total // period - step // period if period else 0
        at_step = bool(period) and step > 0 and step % period == 0
        if self.final_eval and (not period or total % period):
            after += step < total
            at_step = at_step or step == total
        return after + int(at_step and last_eval_step != step)


# -- the ETA model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rates:
    step_s: float | None  # seconds per optimizer step
    example_s: float | None  # seconds per evaluated example


def robust_rate(samples: Iterable[tuple[float, float]]) -> float | None:
    """Seconds per unit from (seconds per unit, units) samples: time over units, leaving out
    stalls (a sample above SPIKE_FACTOR x the weighted median). A mean of the rest rather than
    their median, which would read uneven steps (length-bucketed batches) as faster than they
    are; a stall is left out here because the countdown already stops while it lasts."""
    samples = [(s, n) for s, n in samples if n > 0]
    if not samples:
        return None
    ordered, half, seen = sorted(samples), sum(n for _, n in samples) / 2, 0.0
    for typical, weight in ordered:
        seen += weight
        if seen >= half:
            break
    kept = [(s, n) for s, n in samples if s <= SPIKE_FACTOR * typical]
    return sum(s * n for s, n in kept) / sum(n for _, n in kept)


class EtaModel:
    """The run's ETA from the positions the job observes (``update`` at each refresh, with a
    monotonic ``clock``); see the module docstring. Pure and single-threaded: the ticker calls
    it under its lock."""

    def __init__(self, plan: WorkPlan):
        self.plan = plan
        self._steps: deque[tuple[float, float]] = deque(maxlen=RATE_SAMPLES)
        self._passes: deque[float] = deque(maxlen=3)  # seconds per example of whole passes
        self._phase: str | None = None
        self._step = 0
        self._anchor: tuple[float, int] | None = None  # training: (clock, step) last step ended
        self._pass: tuple[str, float] | None = None  # (split, clock) of the pass under way
        self._progress: PassProgress | None = None  # its progress, once the loop reported it
        self._progress_since = 0.0  # when its progress last moved
        self._last_eval_step: int | None = None
        self._tested = False
        # What the last estimate promised: (clock, shown, rates, remaining at those rates).
        self._promise: tuple[float, float, _Rates, float] | None = None
        self.pace = 1.0  # seconds the shown ETA loses per second until the next refresh

    def update(self, clock: float, phase: str | None, step: int,
               evaluation: PassProgress | None = None,
               step_clock: float | None = None) -> float | None:
        """The ETA to show as of ``clock``, the run being in ``phase`` with ``step`` steps done,
        the last of them at ``step_clock`` (same clock; else when seen), ``evaluation``: the
        loop's latest pass, used when it is the phase's. None until the speed of the work left
        is known."""
        self._observe_steps(clock, phase, int(step), step_clock)
        self._observe_pass(clock, EVAL_PHASES.get(phase or ""), evaluation)
        self._phase = phase
        return self._show(clock)

    # -- observing ---------------------------------------------------------------------------

    def _observe_steps(self, clock: float, phase: str | None, step: int,
                       step_clock: float | None) -> None:
        if self._anchor is not None and step > self._anchor[1]:
            # When the step ended, not when a refresh saw it: a refresh every 1.5 s would
            # make 2 s steps look 1.5 or 3 s long, and the countdown within a step jerk.
            started, first = self._anchor
            ended = step_clock if step_clock is not None and started < step_clock <= clock \
                else clock
            self._steps.append(((ended - started) / (step - first), step - first))
            self._anchor = (ended, step)
        if phase != "training":
            self._anchor = None  # evaluation and saving are not training speed
        elif self._anchor is None:
            self._anchor = (clock, step)
        self._step = step

    def _observe_pass(self, clock: float, split: str | None,
                      evaluation: PassProgress | None) -> None:
        if self._pass is not None and self._pass[0] != split:
            self._end_pass(clock)
        if split is None:
            return
        if self._pass is None:
            self._pass, self._progress_since = (split, clock), clock
        if evaluation is None or evaluation.split != split:
            return
        if self._progress is None or evaluation.fraction != self._progress.fraction:
            self._progress_since = evaluation.at if evaluation.at is not None else clock
        self._progress = evaluation
        if split == "test" and evaluation.fraction >= DONE:
            self._tested = True

    def _end_pass(self, clock: float) -> None:
        """A whole pass's time per example: the next passes' cost. Whole, because a pass's
        batches are not alike (the loop's go longest first, and long texts cost more)."""
        (split, started), progress = self._pass, self._progress
        ended = clock if progress is None or progress.at is None else progress.at
        examples = self._examples(split)
        if (progress is None or progress.fraction >= DONE) and examples and ended > started:
            self._passes.append((ended - started) / examples)
        if split == "validation":
            self._last_eval_step = self._step
        else:
            self._tested = True
        self._pass = self._progress = None

    def _examples(self, split: str) -> int:
        return self.plan.validation_examples if split == "validation" else self.plan.test_examples

    # -- estimating --------------------------------------------------------------------------

    def _rates(self) -> _Rates:
        step_s = robust_rate(self._steps)
        guess = EVAL_SHARE_GUESS * step_s / self.plan.examples_per_step \
            if step_s is not None else None
        if self._passes:
            return _Rates(step_s, statistics.median(self._passes))
        progress, example_s = self._progress, guess
        if progress is not None and progress.fraction > 0 and progress.at is not None:
            # The first pass so far, weighed against the guess (a first batch or two say
            # little: a warm-up, the longest texts first), which counts as PRIOR_SHARE of a
            # pass's examples measured.
            seen = progress.fraction * progress.total
            so_far = max(0.0, progress.at - self._pass[1]) / seen
            prior = PRIOR_SHARE * progress.total if guess is not None else 0.0
            example_s = (seen * so_far + prior * (guess or 0.0)) / (seen + prior)
        return _Rates(step_s, example_s)

    def _remaining(self, clock: float, rates: _Rates) -> float | None:
        """Seconds of work left as of ``clock`` at ``rates``; None when a rate it needs is
        unknown. The step or batch under way counts as done for the time it has run, up to
        what it should take: a slow one stops the countdown instead of reversing it."""
        plan, left = self.plan, 0.0
        steps = max(0, plan.total_steps - self._step) if plan.trains else 0
        if steps:
            if rates.step_s is None:
                return None
            left += steps * rates.step_s
            if self._anchor is not None:
                left -= min(clock - self._anchor[0], rates.step_s)
        split = self._pass[0] if self._pass is not None else None
        evals = plan.evals_due(self._step, self._last_eval_step) - (split == "validation")
        examples = max(0, evals) * plan.validation_examples
        if plan.test_examples and not self._tested and split != "test":
            examples += plan.test_examples
        if examples or split is not None:
            if rates.example_s is None:
                return None
            left += examples * rates.example_s
            if split is not None:
                left += self._pass_left(clock, split, rates.example_s)
        return max(0.0, left)

    def _pass_left(self, clock: float, split: str, example_s: float) -> float:
        cost = self._examples(split) * example_s
        progress = self._progress
        if progress is None:  # no count from the loop (yet): by time alone
            return max(0.0, cost - (clock - self._pass[1]))
        running = min(clock - self._progress_since, progress.batch_share * cost)
        return max(0.0, (1.0 - progress.fraction) * cost - running)

    def _show(self, clock: float) -> float | None:
        rates = self._rates()
        raw = self._remaining(clock, rates)
        if raw is None:
            self._promise = None
            return None
        shown = raw
        if self._promise is not None:
            then, promised, old_rates, old_left = self._promise
            # The share of the then-remaining work done since, valued at the rates then: the
            # end the last estimate promised moves later only by the time the run took beyond
            # that share of it (a stall: all of it), however the rates changed meanwhile.
            left_now = self._remaining(clock, old_rates)
            done = 1.0 if left_now is None or old_left <= 0 else \
                min(1.0, max(0.0, 1.0 - left_now / old_left))
            shown = min(raw, max(promised - (clock - then), promised * (1.0 - done)))
        if raw > 0 or self._phase is not None:
            shown = max(shown, ETA_FLOOR_S)  # the job works on (a last save): not done yet
        # How fast readers count down until the next refresh, so that it finds them where it
        # puts them: as fast as the estimate falls with nothing more done (not at all while a
        # step or batch overruns its time or a checkpoint is saved: the ETA waits), times the
        # share the shown ETA is of the estimate (it falls as a share of the work done).
        ahead = self._remaining(clock + PACE_PROBE_S, rates)
        falling = 1.0 if ahead is None else min(1.0, max(0.0, (raw - ahead) / PACE_PROBE_S))
        self.pace = falling * (min(1.0, shown / raw) if raw > 0 else 1.0)
        self._promise = (clock, shown, rates, raw)
        return shown
