"""Sweeps and method defaults: the study's files give every value (nothing filled in, as before);
a file that leaves the learning rate out gets each method's own; every method has a sweep."""

from __future__ import annotations

import functools
from pathlib import Path

import methods_at_defaults
import pytest

from emotui.core import methods
from emotui.core.config_files import read_yaml_mapping
from emotui.sweep.space import grid_points
from emotui.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[2]
SWEEPS = REPO / "sweep_configs"
STUDY_FILES = ("full_finetuning.yaml", "lora.yaml", "prompt_tuning_hard.yaml",
               "prompt_tuning_soft.yaml")
DEFAULTS_FILE = "methods_at_defaults.yaml"


@functools.cache
def trials(name: str):
    spec = load_sweep(SWEEPS / name)
    return [spec.trial_config(point)[0] for point in grid_points(spec)]


def sweep_files() -> list[str]:
    """The sweep files in sweep_configs/ (the study files there, which name methods rather
    than a program, aside)."""
    return [path.name for path in sorted(SWEEPS.glob("*.yaml"))
            if "program" in read_yaml_mapping(path)]


def own_sweeps(method: str) -> list[str]:
    """The sweep files that search ``method`` alone."""
    return [name for name in sweep_files() if name != DEFAULTS_FILE
            and {c.method for c in trials(name)} == {method}]


@pytest.mark.parametrize("name", STUDY_FILES)
def test_the_study_sweeps_give_every_value(name):
    for config in trials(name):
        assert config.method_defaults == []
        assert config.learning_rate in (2e-5, 2e-4, 2e-3, 2e-2)


def test_the_reference_files_give_every_value(shared_dir):
    folder = shared_dir / "reference" / "sweep_configs"
    if not folder.is_dir():
        pytest.skip(f"reference sweep files not found at {folder}")
    for path in sorted(folder.glob("*.yaml")):
        spec = load_sweep(path)
        for point in grid_points(spec):
            assert spec.trial_config(point)[0].method_defaults == [], path.name


def test_the_methods_file_is_generated_from_the_registry():
    assert (SWEEPS / DEFAULTS_FILE).read_text(encoding="utf-8") == methods_at_defaults.text(), (
        f"sweep_configs/{DEFAULTS_FILE} is stale: regenerate it with "
        f"{methods_at_defaults.COMMAND}")


def test_the_methods_file_runs_every_method_at_its_defaults():
    configs = trials(DEFAULTS_FILE)
    assert [c.method for c in configs] == list(methods.names())
    for config in configs:
        spec = methods.get(config.method)
        assert config.learning_rate == spec.defaults["learning_rate"]
        assert "learning_rate" in config.method_defaults


@pytest.mark.parametrize("spec", methods.METHODS, ids=lambda m: m.name)
def test_every_method_has_a_sweep_of_its_own(spec):
    assert own_sweeps(spec.name), (
        f"no file in sweep_configs/ searches {spec.name} alone; add one in the study's style "
        f"(sweep_configs/{spec.name}.yaml, like ia3.yaml)")


@pytest.mark.parametrize("name", [n for n in sweep_files()
                                  if n not in (*STUDY_FILES, DEFAULTS_FILE)])
def test_each_further_sweep_is_in_the_study_style(name):
    configs = trials(name)
    assert len(configs) >= 8 and len({c.method for c in configs}) == 1
    assert len({c.learning_rate for c in configs}) >= 3
    for config in configs:
        assert config.seed == 23 and config.num_train_epochs == 5
        assert config.per_device_train_batch_size == 64 and config.method_defaults == []
