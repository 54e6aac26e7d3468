"""The ETA every reader shows (core.progress.EtaModel, counted down by live_eta): over synthetic
runs with slow steps, checkpoint saves, evaluation passes and a test pass (eta_traces), as a
reader sees it between the job's refreshes; then the model's parts one by one."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from eta_traces import TICK_S, random_trace
from hypothesis import given, settings
from hypothesis import strategies as st

from emotui.core.config import build_config
from emotui.core.progress import (
    ETA_FLOOR_S,
    EVAL_SHARE_GUESS,
    EtaModel,
    PassProgress,
    WorkPlan,
    live_eta,
    makespan,
    phase_text,
    robust_rate,
)

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
EPS = 1e-6


@dataclass(frozen=True)
class Write:
    """One refresh of status.json: the ETA and its pace, as of ``t``."""

    t: float
    eta: float | None
    pace: float

    def read(self, now: float) -> float | None:
        """What a reader shows at ``now`` from this write."""
        status = {"state": "running", "eta_s": self.eta, "eta_pace": self.pace,
                  "position_time": self.t}
        return live_eta(status, now)


def replay(trace) -> list[Write]:
    model = EtaModel(trace.plan)
    writes = []
    for t in trace.refresh_times():
        eta = model.update(t, **trace.observe(t))
        writes.append(Write(t, eta, model.pace))
    return writes


def pairs(writes: list[Write]):
    """Consecutive refreshes, once the job has an estimate."""
    return [(a, b) for a, b in zip(writes, writes[1:]) if a.eta is not None]


# -- properties over whole runs ------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(SEEDS, st.booleans())
def test_a_reader_counts_down_between_refreshes_and_never_shows_0_while_work_remains(
        seed, calibrated):
    trace = random_trace(random.Random(seed), calibrated=calibrated)
    writes = replay(trace)
    assert any(w.eta is not None for w in writes)
    for before, after in pairs(writes):
        gap = after.t - before.t
        shown = [before.read(before.t + gap * k / 4) for k in range(5)]
        assert all(a >= b for a, b in zip(shown, shown[1:])), shown
        if after.t < trace.end:  # training, an evaluation, a save or the test pass remains
            assert min(shown) > 0 and after.eta is not None and after.eta >= ETA_FLOOR_S
    assert writes[-1].t == trace.end and writes[-1].eta == 0


@settings(max_examples=150, deadline=None)
@given(SEEDS, st.booleans())
def test_the_eta_never_climbs_above_what_the_last_refresh_showed(seed, calibrated):
    """6m20 -> 12m19 in 8 s between slow steps, as the issue saw it, cannot happen: at most the
    countdown stops (the time since the last refresh was all lost)."""
    writes = replay(random_trace(random.Random(seed), calibrated=calibrated))
    for before, after in pairs(writes):
        assert after.eta <= before.eta + EPS


@settings(max_examples=200, deadline=None)
@given(SEEDS)
def test_the_eta_rises_only_by_the_time_the_run_lost(seed):
    """Over what a reader showed just before each refresh, the new ETA rises at most by the
    time the run spent beyond its steps' and batches' normal durations since the last one
    (slow steps, saves): a run keeping pace counts down without a jump."""
    trace = random_trace(random.Random(seed), calibrated=True)
    for before, after in pairs(replay(trace)):
        rise = after.eta - before.read(after.t)
        assert rise <= trace.lost(before.t, after.t) + EPS, (before, after)


@settings(max_examples=100, deadline=None)
@given(SEEDS)
def test_a_run_at_a_steady_pace_gets_its_exact_eta_through_evaluation_and_test(seed):
    trace = random_trace(random.Random(seed), calibrated=True, stalls=False)
    for write in replay(trace):
        if write.eta is not None and trace.end - write.t > ETA_FLOOR_S:
            assert write.eta == pytest.approx(trace.end - write.t, rel=1e-6, abs=1e-6)


# -- the cases the issue saw ---------------------------------------------------------------------


def _training(model: EtaModel, start: float, steps: range, step_s: float, writes: list):
    """Steps of ``step_s`` seconds from ``start``, the model refreshed every TICK_S."""
    t, ended = start, start
    for step in steps:
        ended += step_s
        while t < ended:
            writes.append((t, model.update(t, "training", step - 1, step_clock=ended - step_s)))
            t += TICK_S
    return ended


def test_one_slow_step_stops_the_countdown_and_does_not_double_the_eta():
    model = EtaModel(WorkPlan(total_steps=200))
    model.update(0.0, "training", 0)
    writes: list = []
    ended = _training(model, 0.0, range(1, 21), 2.0, writes)
    before = model.update(ended, "training", 20, step_clock=ended)
    assert before == pytest.approx(180 * 2.0) and model.pace == 1.0
    # Step 21 takes 30 s: the ETA waits (each refresh at most where it was), it never climbs,
    # and once the step overruns its 2 s readers stop counting down until the next refresh.
    seen, paces = [], []
    for waited in (1.5, 3, 9, 29):
        seen.append(model.update(ended + waited, "training", 20, step_clock=ended))
        paces.append(model.pace)
    assert seen == sorted(seen, reverse=True) and seen[-1] == pytest.approx(before - 2.0)
    assert paces == [0.5, 0.0, 0.0, 0.0]  # 0.5 s of the step's 2 s were left at 1.5 s
    after = model.update(ended + 30.0, "training", 21, step_clock=ended + 30.0)
    assert after == pytest.approx(179 * 2.0)  # the slow step is not the run's speed
    assert after < before


def test_evaluation_and_the_test_pass_are_counted_down_not_shown_as_0():
    """The issue: 40 s of evaluation and 40 s of test prediction each showed 0s."""
    plan = WorkPlan(total_steps=10, steps_per_epoch=10, examples_per_step=32,
                    eval_per_epoch=True, final_eval=True, validation_examples=2000,
                    test_examples=2000)
    model = EtaModel(plan)
    model.update(0.0, "training", 0)
    writes: list = []
    ended = _training(model, 0.0, range(1, 11), 1.0, writes)
    # The guess: an evaluated example costs half a trained one until measured.
    guess = EVAL_SHARE_GUESS * 1.0 / 32 * 2000
    at_eval = model.update(ended, "evaluating", 10, PassProgress("validation", 0, 2000, 0.0))
    assert at_eval == pytest.approx(2 * guess)
    etas = []
    for k in range(1, 21):  # 20 batches of 100, 2 s each: 40 s where 31 s were guessed
        t = ended + 2.0 * k
        progress = PassProgress("validation", 100 * k, 2000, k / 20, 1 / 20, t)
        etas.append(model.update(t, "evaluating", 10, progress))
    assert all(e > 0 for e in etas) and etas == sorted(etas, reverse=True)
    t = ended + 40.0
    model.update(t, "saving", 10)
    test_start = model.update(t + 1.0, "predicting", 10)
    assert test_start >= ETA_FLOOR_S
    shown = []
    for k in range(1, 21):  # the test pass, measured at the validation pass's speed
        progress = PassProgress("test", 100 * k, 2000, k / 20, 1 / 20, t + 1.0 + 2.0 * k)
        shown.append(model.update(t + 1.0 + 2.0 * k, "predicting", 10, progress))
    assert all(e >= ETA_FLOOR_S for e in shown[:-1]) and shown == sorted(shown, reverse=True)
    assert model.update(t + 42.0, None, 10) == 0


# -- the parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("plan,due", [
    # eval_strategy epoch, 2 epochs of 19 steps: at 19 and 38 (the loop's last: no extra one).
    (WorkPlan(38, 19, eval_per_epoch=True, final_eval=True, validation_examples=10),
     {0: 2, 18: 2, 19: 2, 20: 1, 38: 1}),
    # max_steps mid-epoch: the epoch's end at 19, then the loop's final evaluation at 25.
    (WorkPlan(25, 19, eval_per_epoch=True, final_eval=True, validation_examples=10),
     {0: 2, 19: 2, 20: 1, 25: 1}),
    # every 10 steps of 38, and once more at the end.
    (WorkPlan(38, 19, eval_every=10, final_eval=True, validation_examples=10),
     {0: 4, 10: 4, 11: 3, 30: 2, 31: 1, 38: 1}),
    # the Trainer recipe: no evaluation after the last step beyond the schedule's.
    (WorkPlan(25, 19, eval_per_epoch=True, final_eval=False, validation_examples=10),
     {0: 1, 19: 1, 20: 0}),
    (WorkPlan(38, 19, eval_per_epoch=True, validation_examples=0), {0: 0}),  # no validation
])
def test_evaluations_due(plan, due):
    for step, count in due.items():
        assert plan.evals_due(step, None) == count, step


def test_an_evaluation_that_ran_is_no_longer_due():
    plan = WorkPlan(38, 19, eval_per_epoch=True, final_eval=True, validation_examples=10)
    assert plan.evals_due(19, 19) == 1 and plan.evals_due(38, 38) == 0


def test_an_evaluation_only_run_evaluates_once():
    plan = WorkPlan(10, trains=False, validation_examples=100)
    assert plan.evals_due(0, None) == 1 and plan.evals_due(0, 0) == 0


def test_the_plan_of_a_run_config():
    config, _ = build_config([("test", {"model_name_or_path": "m", "eval_strategy": "steps",
                                        "eval_steps": 50, "per_device_train_batch_size": 16,
                                        "gradient_accumulation_steps": 2})])
    plan = WorkPlan.for_run(config, total_steps=120, steps_per_epoch=40, validation=300,
                            test=400, final_eval=True)
    assert (plan.eval_every, plan.eval_per_epoch, plan.examples_per_step) == (50, False, 32)
    assert (plan.validation_examples, plan.test_examples) == (300, 400)
    assert plan.evals_due(0, None) == 3  # 50, 100, and after step 120
    config, _ = build_config([("test", {"model_name_or_path": "m", "do_eval": False,
                                        "do_predict": False})])
    plan = WorkPlan.for_run(config, total_steps=10, steps_per_epoch=5, validation=300,
                            test=400, final_eval=True)
    assert (plan.validation_examples, plan.test_examples) == (0, 0)


def test_robust_rate_leaves_stalls_out_and_keeps_uneven_steps():
    assert robust_rate([]) is None
    assert robust_rate([(2.0, 1)] * 9 + [(30.0, 1)]) == pytest.approx(2.0)
    # Length-bucketed batches: uneven steps are the run's speed, their mean counts.
    assert robust_rate([(1.0, 1), (1.2, 1), (1.4, 1)]) == pytest.approx(1.2)
    assert robust_rate([(1.0, 10), (3.0, 1)]) == pytest.approx(1.0)  # weighed by units


def test_no_estimate_before_the_first_step_and_a_previous_attempts_none():
    model = EtaModel(WorkPlan(total_steps=10))
    assert model.update(0.0, "starting", 0) is None
    assert model.update(1.0, "training", 0) is None
    assert model.update(3.0, "training", 1, step_clock=3.0) == pytest.approx(9 * 2.0)


def test_a_resumed_run_counts_only_the_steps_left():
    model = EtaModel(WorkPlan(total_steps=100))
    model.update(0.0, "training", 60)
    assert model.update(1.0, "training", 61, step_clock=1.0) == pytest.approx(39.0)


def test_a_pass_count_of_another_split_is_not_this_phases():
    plan = WorkPlan(total_steps=1, validation_examples=100, test_examples=100, final_eval=True)
    model = EtaModel(plan)
    model.update(0.0, "training", 0)
    model.update(1.0, "training", 1, step_clock=1.0)
    done = PassProgress("validation", 100, 100, 1.0, 0.0, 5.0)
    model.update(1.0, "evaluating", 1, PassProgress("validation", 0, 100, 0.0, 1.0, 1.0))
    model.update(5.0, "evaluating", 1, done)
    # The test pass begins while the loop still holds the validation pass's count.
    assert model.update(5.5, "predicting", 1, done) >= ETA_FLOOR_S


def test_live_eta_counts_at_the_jobs_pace_and_stops_at_the_floor():
    status = {"state": "running", "eta_s": 100.0, "eta_pace": 0.5, "position_time": 1000.0}
    assert live_eta(status, 1010.0) == 95.0
    assert live_eta(dict(status, eta_pace=None), 1010.0) == 90.0  # an older job: 1 s/s
    assert live_eta(dict(status, eta_pace=7), 1010.0) == 90.0  # never faster than the clock
    assert live_eta(status, 5000.0) == ETA_FLOOR_S  # work remains until the job says 0
    assert live_eta(dict(status, eta_s=0.4), 1010.0) == 0.4
    assert live_eta(dict(status, eta_s=0), 1010.0) == 0.0


def test_phase_text_counts_a_passs_examples():
    assert phase_text({"phase": "evaluating", "pass_done": 640, "pass_total": 2000}) == \
        "evaluating 640/2,000"
    assert phase_text({"phase": "training", "pass_done": None}) == "training"
    assert phase_text({}) is None


@pytest.mark.parametrize("durations,slots,busy,wall", [
    ([], 2, (), 0.0),
    ([10, 10, 10], 2, (), 20.0),
    ([10, 10], 2, (30.0,), 30.0),  # one slot busy 30 s: both wait for the free one
    ([10, 10, 10], 2, (5.0,), 20.0),
    ([], 4, (7.0, 3.0), 7.0),  # nothing waiting: the longest running one
    ([10], 1, (5.0, 5.0), 15.0),  # more running than slots (the parallelism was lowered)
])
def test_makespan(durations, slots, busy, wall):
    assert makespan(durations, slots, busy) == wall
