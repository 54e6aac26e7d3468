"""Sweeps and method defaults: the study's files give every value (nothing filled in, as before);
a file that leaves the learning rate out gets each method's own; every method has a sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotui.core import methods
from emotui.sweep.spec import grid_points, load_sweep

REPO = Path(__file__).resolve().parents[2]
STUDY_FILES = ("full_finetuning.yaml", "lora.yaml", "prompt_tuning_hard.yaml",
               "prompt_tuning_soft.yaml")
# The sweep file of each method beyond the study's four.
METHOD_FILES = {"ia3": "ia3.yaml", "prefix_tuning": "prefix_tuning.yaml",
                "p_tuning": "p_tuning.yaml", "lora": "lora_variants.yaml"}


def trials(name: str):
    spec = load_sweep(REPO / "sweep_configs" / name)
    return [spec.trial_config(point)[0] for point in grid_points(spec)]


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


def test_the_methods_file_runs_every_method_at_its_defaults():
    configs = trials("methods_at_defaults.yaml")
    assert [c.method for c in configs] == list(methods.names())
    for config in configs:
        spec = methods.get(config.method)
        assert config.learning_rate == spec.defaults["learning_rate"]
        assert "learning_rate" in config.method_defaults


@pytest.mark.parametrize("method", METHOD_FILES)
def test_each_new_method_has_a_sweep_in_the_study_style(method):
    configs = trials(METHOD_FILES[method])
    assert len(configs) >= 8 and {c.method for c in configs} == {method}
    assert len({c.learning_rate for c in configs}) >= 3
    for config in configs:
        assert config.seed == 23 and config.num_train_epochs == 5
        assert config.per_device_train_batch_size == 64 and config.method_defaults == []
