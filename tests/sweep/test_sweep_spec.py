"""Sweep files: the study's four expand to the right trials; bad files are refused up front."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from emotui.core.errors import ConfigError
from emotui.sweep.space import grid_points
from emotui.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[2]
LRS = [2e-5, 2e-4, 2e-3, 2e-2]
LORA_TARGETS = [
    "query,value",
    "query,key,value,attention.output.dense",
    "query,key,value,attention.output.dense,intermediate.dense,output.dense",
]
TEXTS = [
    "classify the emotion of the following text: ",
    "assign the following text into suitable categories: ",
    "read the following text and think about it: ",
]
# file -> (trial count, swept values, method of every trial)
EXPECTED = {
    "sweep_full_finetuning.yaml": (4, {"learning_rate": LRS}, "full"),
    "sweep_lora.yaml": (48, {"learning_rate": LRS, "lora_r": [2, 8, 32, 128],
                             "lora_target_modules": LORA_TARGETS}, "lora"),
    "sweep_prompt_tuning_hard.yaml": (12, {"learning_rate": LRS, "prompt_tuning_init_text": TEXTS},
                                      "prompt_tuning_text"),
    "sweep_prompt_tuning_soft.yaml": (12, {"learning_rate": LRS,
                                           "prompt_tuning_num_virtual_tokens": [8, 16, 32]},
                                      "prompt_tuning_random"),
}
OURS = {
    "sweep_full_finetuning.yaml": "full_finetuning.yaml",
    "sweep_lora.yaml": "lora.yaml",
    "sweep_prompt_tuning_hard.yaml": "prompt_tuning_hard.yaml",
    "sweep_prompt_tuning_soft.yaml": "prompt_tuning_soft.yaml",
}


@pytest.fixture(scope="module")
def reference_sweeps(shared_dir) -> Path:
    path = shared_dir / "reference" / "sweep_configs"
    if not path.is_dir():
        pytest.skip(f"reference sweep files not found at {path}")
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_file_expands_to_the_study_grid(reference_sweeps, name):
    count, swept, method = EXPECTED[name]
    spec = load_sweep(reference_sweeps / name)
    points = list(grid_points(spec))
    assert spec.method == "grid" and spec.planned_total() == count == len(points)
    assert spec.metric.name == "eval/accuracy" and spec.metric.maximize
    keys = sorted(swept)
    got = sorted(tuple(p[k] for k in keys) for p in points)
    want = sorted(itertools.product(*(swept[k] for k in keys)))
    assert got == want  # every combination exactly once
    for point in points:
        config, _ = spec.trial_config(point)
        assert config.method == method
        assert config.seed == 23 and config.per_device_train_batch_size == 64
        assert config.num_train_epochs == 5 and config.max_seq_length == 128
        assert config.text_column_names == "text"  # the file's text_column_name alias
        assert config.eval_strategy == config.save_strategy == "epoch"
        assert config.load_best_model_at_end and config.metric_for_best_model == "accuracy"
        if method == "lora":
            assert (config.lora_alpha, config.lora_dropout, config.lora_bias) == (16, 0.1, "none")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_emotui_sweep_configs_match_the_reference(reference_sweeps, name):
    ref = load_sweep(reference_sweeps / name)
    ours = load_sweep(REPO / "sweep_configs" / OURS[name])
    ref_trials = [ref.trial_config(p)[0].to_dict() for p in grid_points(ref)]
    our_trials = [ours.trial_config(p)[0].to_dict() for p in grid_points(ours)]
    # Study-compatibility keys (output_dir, metric_name) and W&B logging are left out of ours.
    for trial in ref_trials + our_trials:
        for key in ("output_dir", "metric_name", "report_to"):
            trial.pop(key)
    assert our_trials == ref_trials


def test_set_pins_and_unsets(reference_sweeps):
    spec = load_sweep(reference_sweeps / "sweep_full_finetuning.yaml",
                      ["num_train_epochs=1", "learning_rate=1e-4", "dataset_name=",
                       "max_train_samples=100"])
    points = list(grid_points(spec))
    assert len(points) == 1  # learning_rate pinned: the grid collapses
    config, _ = spec.trial_config(points[0])
    assert config.num_train_epochs == 1 and config.learning_rate == 1e-4
    assert config.dataset_name is None and config.max_train_samples == 100


def _write(tmp_path, text) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


GOOD = "method: grid\nmetric: {name: eval/accuracy, goal: maximize}\nparameters:\n"


@pytest.mark.parametrize("text, message", [
    (GOOD + "  learning_rte: {values: [1e-3]}\n", "did you mean 'learning_rate'"),
    (GOOD + "  learning_rate: {values: [-1]}\n", "learning_rate"),
    (GOOD + "  lora_r: {values: [two]}\n", "must be an integer"),
    (GOOD + "  lr_scheduler_type: {values: [cosin]}\n", "did you mean 'cosine'"),
    ("method: grid\nparameters: [1, 2\n", "not valid YAML"),
    ("method: hyperopt\nparameters:\n  seed: {value: 1}\n", "unknown method"),
    ("method: gird\nparameters:\n  seed: {value: 1}\n", "did you mean 'grid'"),
    (GOOD + "  learning_rate: {min: 1e-5, max: 1e-3}\n", "grid search cannot use distribution uniform"),
    (GOOD + "  learning_rate: {distribution: log_uniform_values, min: 1e-5, max: 1e-3}\n",
     "grid search cannot use"),
    (GOOD + "  lora_r: {values: [16]}\n", "applies to lora"),  # combination rule via build_config
    ("method: random\nrun_cap: 3\nparameters:\n  learning_rate: {distribution: normal, mu: 0, sigma: 1}\n",
     "must be > 0"),
    ("method: random\nrun_cap: 3\nparameters:\n  lora_r: {min: 1.5, max: 9.5}\n", "takes integers"),
    ("method: random\nrun_cap: 0\nparameters:\n  seed: {value: 1}\n", "run_cap"),
    ("method: bayes\nparameters:\n  seed: {values: [1, 2]}\n", "needs a metric"),
    ("method: grid\nmetric: {name: eval/acuracy}\nparameters:\n  seed: {value: 1}\n",
     "did you mean 'eval/accuracy'"),
    ("method: grid\nparameters:\n  seed: {value: 1}\nearly_terminate: {type: hyperband, min_iter: 1}\n",
     "needs a metric"),
    (("method: grid\nmetric: {name: loss}\nparameters:\n  seed: {value: 1}\n"
      "early_terminate: {type: hyperband, max_iter: 9}\n"), "needs s"),
    ("method: grid\nparamters:\n  seed: {value: 1}\n", "did you mean 'parameters'"),
    (GOOD + "  token: {value: abc}\n", "secrets"),
    (GOOD + "  optimizer: {parameters: {lr: {value: 1}}}\n", "unknown setting"),
    (GOOD + "  seed: {distribution: gaussian, mu: 1}\n", "unknown distribution"),
    (GOOD + "  seed: {values: [1, 2], probabilities: [0.5, 0.5]}\n", "probabilities"),
])
def test_bad_sweep_files_are_refused_with_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_sweep(_write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_program_and_command_keys_are_accepted(tmp_path):
    spec = load_sweep(_write(tmp_path, "program: train.py\ncommand:\n  - ${env}\n  - python\n"
                             "  - ${program}\n  - ${args}\nmethod: grid\nparameters:\n"
                             "  seed: {values: [1, 2]}\n"))
    assert spec.program == "train.py" and spec.planned_total() == 2


def test_same_settings_same_id_and_set_changes_it(reference_sweeps):
    path = reference_sweeps / "sweep_full_finetuning.yaml"
    assert load_sweep(path).default_id() == load_sweep(path).default_id()
    assert load_sweep(path).default_id() != load_sweep(path, ["num_train_epochs=1"]).default_id()
    assert load_sweep(path).default_id().startswith("sweep_full_finetuning-")


def test_bad_set_is_refused(reference_sweeps):
    path = reference_sweeps / "sweep_full_finetuning.yaml"
    with pytest.raises(ConfigError, match="did you mean 'num_train_epochs'"):
        load_sweep(path, ["num_train_epoch=1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_sweep(path, ["num_train_epochs"])
    with pytest.raises(ConfigError, match="must be"):
        load_sweep(path, ["learning_rate=0"])


# Study files (emotui study) live beside the sweep files; tests/study validates them.
SWEEP_FILES = sorted(p for p in (REPO / "sweep_configs").rglob("*.yaml")
                     if not p.name.startswith("study"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_every_shipped_sweep_file_validates(path):
    spec = load_sweep(path)
    assert spec.planned_total() and spec.metric is not None
