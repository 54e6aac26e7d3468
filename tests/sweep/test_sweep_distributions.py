"""Random and bayes sampling: every W&B distribution stays in its bounds; run_cap is respected."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotui.core.errors import ConfigError
from emotui.sweep.distributions import Distribution
from emotui.sweep.runner import dry_run
from emotui.sweep.spec import parse_sweep

finite = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def bounded(draw, low=finite):
    lo = draw(low)
    hi = draw(low.filter(lambda x: x > lo + 1e-6 * max(1.0, abs(lo))))
    return lo, hi


def _within(value, lo, hi, rel=1e-9):
    tol = rel * max(1.0, abs(lo), abs(hi))
    return lo - tol <= value <= hi + tol


@settings(max_examples=60, deadline=None)
@given(bounds=bounded(), seed=st.integers(0, 2**32))
def test_uniform_family_in_bounds(bounds, seed):
    lo, hi = bounds
    rng = random.Random(seed)
    for kind in ("uniform", "log_uniform"):
        d = Distribution.parse({"distribution": kind, "min": lo, "max": hi}, "p")
        a, b = (lo, hi) if kind == "uniform" else (math.exp(lo), math.exp(hi))
        assert all(_within(d.sample(rng), a, b) for _ in range(20))
    d = Distribution.parse({"distribution": "inv_log_uniform", "min": lo, "max": hi}, "p")
    assert all(_within(d.sample(rng), math.exp(-hi), math.exp(-lo)) for _ in range(20))


@settings(max_examples=60, deadline=None)
@given(bounds=bounded(positive), seed=st.integers(0, 2**32))
def test_value_scaled_log_families_in_bounds(bounds, seed):
    lo, hi = bounds
    rng = random.Random(seed)
    for kind in ("log_uniform_values", "inv_log_uniform_values"):
        d = Distribution.parse({"distribution": kind, "min": lo, "max": hi}, "p")
        assert all(_within(d.sample(rng), lo, hi) for _ in range(20))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(lo=st.integers(-1000, 1000), span=st.integers(1, 1000), q=st.integers(1, 50),
       seed=st.integers(0, 2**32))
def test_quantized_families_are_multiples_in_bounds(lo, span, q, seed):
    hi = lo + span
    rng = random.Random(seed)
    if math.ceil(lo / q) > math.floor(hi / q):
        with pytest.raises(ConfigError):
            Distribution.parse({"distribution": "q_uniform", "min": lo, "max": hi, "q": q}, "p")
        return
    d = Distribution.parse({"distribution": "q_uniform", "min": lo, "max": hi, "q": q}, "p")
    for _ in range(20):
        v = d.sample(rng)
        assert isinstance(v, int) and v % q == 0 and lo <= v <= hi
    if lo > 0:
        d = Distribution.parse({"distribution": "q_log_uniform_values", "min": lo, "max": hi,
                                "q": q}, "p")
        for _ in range(20):
            v = d.sample(rng)
            assert isinstance(v, int) and v % q == 0 and lo <= v <= hi


@settings(max_examples=40, deadline=None)
@given(bounds=bounded(st.integers(-10**6, 10**6)), seed=st.integers(0, 2**32))
def test_int_uniform_inferred_and_inclusive(bounds, seed):
    lo, hi = bounds
    d = Distribution.parse({"min": lo, "max": hi}, "p")  # ints -> int_uniform, as W&B infers
    assert d.kind == "int_uniform"
    rng = random.Random(seed)
    assert all(lo <= d.sample(rng) <= hi for _ in range(20))
    assert Distribution.parse({"min": float(lo), "max": float(hi) + 0.5}, "p").kind == "uniform"


@settings(max_examples=40, deadline=None)
@given(mu=st.floats(-3, 3), sigma=st.floats(0.01, 2), q=st.sampled_from([0.5, 1, 2]),
       seed=st.integers(0, 2**32))
def test_normal_families(mu, sigma, q, seed):
    rng = random.Random(seed)
    assert Distribution.parse({"mu": mu, "sigma": sigma}, "p").kind == "normal"
    log_normal = Distribution.parse({"distribution": "log_normal", "mu": mu, "sigma": sigma}, "p")
    assert all(log_normal.sample(rng) > 0 for _ in range(20))
    for kind in ("q_normal", "q_log_normal"):
        d = Distribution.parse({"distribution": kind, "mu": mu, "sigma": sigma, "q": q}, "p")
        for _ in range(20):
            v = d.sample(rng)
            assert abs(v / q - round(v / q)) < 1e-6
            if kind == "q_log_normal":
                assert v >= 0


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.1, 5), b=st.floats(0.1, 5), seed=st.integers(0, 2**32))
def test_beta_in_unit_interval(a, b, seed):
    rng = random.Random(seed)
    d = Distribution.parse({"distribution": "beta", "a": a, "b": b}, "p")
    assert all(0 <= d.sample(rng) <= 1 for _ in range(20))


def test_categorical_probabilities_and_constant():
    rng = random.Random(0)
    d = Distribution.parse({"values": ["a", "b", "c"], "probabilities": [0.0, 1.0, 0.0]}, "p")
    assert {d.sample(rng) for _ in range(50)} == {"b"}
    assert Distribution.parse({"value": 7}, "p").sample(rng) == 7
    with pytest.raises(ConfigError, match="sum to 1"):
        Distribution.parse({"values": [1, 2], "probabilities": [0.3, 0.3]}, "p")


# -- whole sweeps: random and bayes over every distribution, with run_cap ------------------------

EVERY_DISTRIBUTION = {
    "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
    "weight_decay": {"distribution": "beta", "a": 2, "b": 5},
    "lora_r": {"distribution": "int_uniform", "min": 2, "max": 64},
    "lora_alpha": {"distribution": "q_uniform", "min": 4, "max": 64, "q": 4},
    "lora_dropout": {"distribution": "uniform", "min": 0.0, "max": 0.3},
    "warmup_ratio": {"distribution": "q_beta", "a": 2, "b": 5, "q": 0.05},
    "adam_beta2": {"distribution": "log_uniform", "min": -0.1, "max": -0.001},
    "adam_epsilon": {"distribution": "log_normal", "mu": -18, "sigma": 1},
    "label_smoothing_factor": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 0.2},
    "per_device_train_batch_size": {"distribution": "q_log_uniform_values", "min": 16, "max": 128,
                                    "q": 8},
    # seed has a range (numpy's 0 .. 2**32 - 1) an unbounded q_normal leaves: shuffle_seed has none.
    "shuffle_seed": {"distribution": "q_normal", "mu": 100, "sigma": 10, "q": 1},
    "max_grad_norm": {"distribution": "q_log_normal", "mu": 0, "sigma": 0.5, "q": 0.25},
    "lr_scheduler_type": {"values": ["linear", "cosine"], "probabilities": [0.7, 0.3]},
    "peft_method": {"value": "lora"},
    "neftune_noise_alpha": {"distribution": "normal", "mu": 5, "sigma": 1},  # passed through
}
BOUNDS = {
    "learning_rate": (1e-5, 1e-2), "weight_decay": (0.0, 1.0), "lora_r": (2, 64),
    "lora_alpha": (4, 64), "lora_dropout": (0, 0.3), "warmup_ratio": (0, 1),
    "adam_beta2": (math.exp(-0.1), math.exp(-0.001)), "label_smoothing_factor": (0.01, 0.2),
    "per_device_train_batch_size": (16, 128),
}


def _check_trial(trial):
    config = trial["config"]
    for key, (lo, hi) in BOUNDS.items():
        assert _within(config[key], lo, hi, rel=1e-6), (key, config[key])
    assert config["lora_alpha"] % 4 == 0 and config["per_device_train_batch_size"] % 8 == 0
    assert config["adam_epsilon"] > 0 and config["max_grad_norm"] >= 0
    assert abs(config["max_grad_norm"] / 0.25 - round(config["max_grad_norm"] / 0.25)) < 1e-9
    assert config["method"] == "lora"


@pytest.mark.parametrize("method", ["random", "bayes"])
@settings(max_examples=8, deadline=None)
@given(run_cap=st.integers(1, 12))
def test_random_and_bayes_respect_run_cap_and_bounds(method, run_cap):
    text = {"method": method, "run_cap": run_cap, "parameters": EVERY_DISTRIBUTION,
            "metric": {"name": "eval/accuracy", "goal": "maximize"}}
    spec = parse_sweep(text, source="s.yaml")
    trials = dry_run(spec, None, count=run_cap if method == "bayes" else None, max_parallel=1)
    assert len(trials) == run_cap
    for trial in trials:
        _check_trial(trial)


def test_random_is_reproducible_and_count_limits():
    spec = parse_sweep({"method": "random", "run_cap": 5, "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2}}},
        source="s.yaml")
    first = dry_run(spec, None, count=None, max_parallel=1)
    assert first == dry_run(spec, None, count=None, max_parallel=1)
    assert dry_run(spec, None, count=2, max_parallel=1) == first[:2]
    assert len({t["params"]["learning_rate"] for t in first}) == 5
    unbounded = parse_sweep({"method": "random", "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2}}},
        source="s.yaml")
    with pytest.raises(ConfigError, match="--count"):
        dry_run(unbounded, None, count=None, max_parallel=1)
    assert len(dry_run(unbounded, None, count=3, max_parallel=1)) == 3
