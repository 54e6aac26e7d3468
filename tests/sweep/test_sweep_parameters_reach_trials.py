"""Every parameter a sweep file gives reaches every trial's config.yaml, whatever its spelling
(value: X, values: [X], values: [X, Y], a distribution), and grids are counted, not listed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from sweep_fakes import FakeTrain, inline_launcher

from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore
from emotui.sweep.distributions import Distribution
from emotui.sweep.runner import dry_run, open_sweep, run_sweep, save_sweep
from emotui.sweep.space import grid_point, grid_points
from emotui.sweep.spec import check_trial_config, parse_sweep
from emotui.sweep.store import read_trials

# One parameter per spelling; each trial must hold each of these (or one of the swept values).
SPELLINGS = """\
method: {method}
run_cap: 3
metric: {{name: eval/accuracy, goal: maximize}}
parameters:
  learning_rate: {{values: [1.0e-3]}}
  lora_r: {{value: 16}}
  peft_method: {{distribution: constant, value: lora}}
  lora_alpha: {{distribution: categorical, values: [32]}}
  weight_decay: {{values: [0.01, 0.02]}}
  num_train_epochs: {{values: [1]}}
  seed: {{min: 3, max: 4}}
  warmup_ratio: {{distribution: q_uniform, min: 0.0, max: 0.2, q: 0.1}}
  optim: {{value: adamw_torch}}
  text_column_name: {{values: [text]}}
  dataset_name: {{value: null}}
"""
FIXED = {"learning_rate": 1e-3, "lora_r": 16, "peft_method": "lora", "lora_alpha": 32.0,
         "num_train_epochs": 1.0, "text_column_names": "text", "dataset_name": None}


def _trial_configs(runs: Path) -> list[dict]:
    return [yaml.safe_load((d / "config.yaml").read_text()) for d in sorted(runs.iterdir())
            if (d / "config.yaml").is_file()]


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_every_spelling_reaches_every_trials_config_yaml(tmp_path, method):
    file = tmp_path / "sweep.yaml"
    file.write_text(SPELLINGS.format(method=method))
    store = RunStore(tmp_path / "runs")
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])
    assert run_sweep(spec, paths, store, inline_launcher(FakeTrain())) == "finished"
    configs = _trial_configs(store.root)
    assert len(configs) == 3  # run_cap
    for config in configs:
        for key, value in FIXED.items():
            assert config[key] == value, (key, config[key])
        assert config["weight_decay"] in (0.01, 0.02) and config["seed"] in (3, 4)
        assert config["extra_training_args"]["optim"] == "adamw_torch"
        assert config["method"] == "lora"
    # Each trial's config.yaml against the sweep's parameters and the trial's own record.
    trials = read_trials(paths)
    assert len(trials) == 3
    for trial in trials:
        config = yaml.safe_load((store.root / trial["run_id"] / "config.yaml").read_text())
        check_trial_config(spec, spec.parameter_values(trial["params"]), config)


def test_dry_run_shows_what_the_trials_run(tmp_path):
    spec = parse_sweep(yaml.safe_load(SPELLINGS.format(method="grid")), source="s.yaml")
    for trial in dry_run(spec, None, count=None, max_parallel=1):
        for key, value in FIXED.items():
            assert trial["config"][key] == value


def test_a_parameter_that_does_not_arrive_is_an_error():
    spec = parse_sweep({"method": "grid", "parameters": {"learning_rate": {"values": [1e-3]}}},
                       source="s.yaml")
    chosen = spec.parameter_values({})
    assert chosen == {"learning_rate": 1e-3}
    with pytest.raises(ConfigError, match="learning_rate = 0.001 did not reach"):
        check_trial_config(spec, chosen, {"learning_rate": 5e-5})


def test_a_swept_value_missing_from_a_trial_is_an_error():
    spec = parse_sweep({"method": "grid", "parameters": {
        "learning_rate": {"values": [1e-3, 1e-4]}}}, source="s.yaml")
    with pytest.raises(ConfigError, match="lack parameter learning_rate"):
        spec.trial_config({})


def test_grid_points_are_computed_by_index():
    spec = parse_sweep({"method": "grid", "parameters": {
        "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
        "lora_r": {"min": 2, "max": 5},
        "peft_method": {"value": "lora"},
        "warmup_ratio": {"distribution": "q_uniform", "min": 0, "max": 0.3, "q": 0.1}}},
        source="s.yaml")
    listed = list(grid_points(spec))
    assert len(listed) == spec.grid_size() == 3 * 4 * 1 * 3
    assert [grid_point(spec, i) for i in range(len(listed))] == listed
    assert grid_point(spec, len(listed)) is None


@pytest.mark.parametrize("lo, hi, q", [(0, 1, 0.1), (0.0, 0.3, 0.1), (1e-5, 1e-3, 1e-4),
                                       (-2, 2, 0.5), (0, 10, 3), (0.1, 0.7, 0.2)])
def test_q_uniform_count_matches_its_values(lo, hi, q):
    dist = Distribution.parse({"distribution": "q_uniform", "min": lo, "max": hi, "q": q}, "x")
    values = dist.grid_values()
    assert dist.grid_count() == len(values)
    assert [dist.grid_value(i) for i in range(len(values))] == values


def test_a_million_point_grid_is_checked_and_counted_at_once(tmp_path, capsys):
    from emotui.cli.main import main

    file = tmp_path / "big.yaml"
    file.write_text("method: grid\nparameters:\n"
                    "  learning_rate: {values: [1.0e-5, 2.0e-5, 3.0e-5, 4.0e-5, 5.0e-5, 6.0e-5, "
                    "7.0e-5, 8.0e-5, 9.0e-5, 1.0e-4]}\n"
                    "  seed: {min: 1, max: 1000}\n"
                    "  per_device_train_batch_size: {min: 1, max: 100}\n")
    started = time.monotonic()
    assert main(["sweep", str(file), "--runs-dir", str(tmp_path / "runs"), "--dry-run"]) == 0
    assert time.monotonic() - started < 30
    out, err = capsys.readouterr()
    assert "1,000,000 trials planned; would start 1,000,000 now" in out and "999,800 more" in out
    assert "would start 1,000,000 trials; listing the first 200" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
