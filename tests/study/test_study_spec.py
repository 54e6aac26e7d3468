"""The study file read into a StudySpec: what each method's search sweep holds, the precedence
of fixed / data / --set, a stored spec read back, durations, and a light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emotui.core.errors import ConfigError
from emotui.study.budget import Budget, parse_duration
from emotui.study.spec import from_json
from emotui.study.study_file import load_study

REPO = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str, **kw):
    file = tmp_path / "study.yaml"
    file.write_text(text)
    return load_study([str(file)], **kw)


def _params(spec, method):
    return spec.methods[method].sweep["parameters"]


def test_fixed_model_and_data_reach_every_methods_search(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    spec = _load(tmp_path, f"""\
model: roberta-base
data: {data}
fixed: {{num_train_epochs: 2}}
methods:
  lora: {REPO / 'sweep_configs' / 'lora.yaml'}
  prompt-random:
""")
    lora = _params(spec, "lora")
    assert lora["num_train_epochs"] == {"value": 2}
    assert lora["data_dir"] == {"value": str(data)}
    # data: replaces the sweep file's dataset_name; its grid stays whole.
    assert lora["dataset_name"] == {"value": None}
    assert spec.methods["lora"].planned == 48
    config, _ = spec.methods["lora"].spec.trial_config(
        {"learning_rate": 2e-3, "lora_r": 8, "lora_target_modules": "query,value"})
    assert config.data_dir == str(data) and config.dataset_name is None
    assert config.num_train_epochs == 2 and config.lora_alpha == 16  # the file's own value
    # A method with nothing is its defaults: one run of that method.
    random = spec.methods["prompt_tuning_random"]
    assert random.planned == 1 and random.origin == "defaults"
    assert random.spec.trial_config({})[0].method == "prompt_tuning_random"


def test_set_replaces_a_searched_setting_and_fixed_refuses_it(tmp_path):
    text = ("methods:\n  full:\n    parameters:\n"
            "      learning_rate: {values: [1.0e-4, 1.0e-3]}\n")
    spec = _load(tmp_path, text, overrides=["learning_rate=3e-4"])
    assert spec.methods["full"].planned == 1
    assert spec.methods["full"].spec.trial_config({})[0].learning_rate == 3e-4
    with pytest.raises(ConfigError, match="searched here and pinned by fixed"):
        _load(tmp_path, text + "fixed: {learning_rate: 3.0e-4}\n")


def test_search_settings_and_seeds(tmp_path):
    text = """\
methods:
  lora:
    parameters:
      learning_rate: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}
    trials: 5
  ia3:
    parameters:
      learning_rate: {distribution: log_uniform_values, min: 1.0e-3, max: 1.0e-1}
search: {method: random, trials: 3, early_terminate: {type: hyperband, min_iter: 1}}
"""
    spec = _load(tmp_path, text)
    assert spec.methods["lora"].planned == 5 and spec.methods["ia3"].planned == 3
    assert spec.methods["ia3"].spec.hyperband is not None
    with pytest.raises(ConfigError, match="draws each trial once"):
        _load(tmp_path, text.replace("early_terminate", "seeds: [1, 2], early_terminate"))
    grid = _load(tmp_path, "methods:\n  full:\n    parameters:\n"
                 "      learning_rate: {values: [1.0e-4, 1.0e-3]}\nsearch: {seeds: [1, 2]}\n")
    assert grid.methods["full"].planned == 4  # two rates x two seeds


def test_a_sweep_file_of_another_method_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="searches ia3, not lora"):
        _load(tmp_path, f"methods:\n  lora: {REPO / 'sweep_configs' / 'ia3.yaml'}\n")


def test_the_confirm_sweep_pins_the_winner_and_changes_what_confirm_says(tmp_path):
    spec = _load(tmp_path, """\
fixed: {num_train_epochs: 1, do_predict: false}
methods:
  full:
    parameters:
      learning_rate: {values: [1.0e-4, 1.0e-3]}
confirm: {seeds: [1, 2, 3], num_train_epochs: 4, max_train_samples: null}
""")
    search = spec.methods["full"].spec
    values = search.parameter_values({"learning_rate": 1e-3})
    confirm = spec.parse_confirm("full", spec.confirm_sweep("full", values))
    assert confirm.planned_total() == 3
    configs = [confirm.trial_config({"seed": s})[0] for s in (1, 2, 3)]
    assert [c.seed for c in configs] == [1, 2, 3]
    for config in configs:
        assert config.learning_rate == 1e-3 and config.num_train_epochs == 4
        assert config.do_predict and config.do_eval and config.max_train_samples is None


def test_a_stored_spec_reads_back_the_same(tmp_path):
    spec = _load(tmp_path, (REPO / "sweep_configs" / "study.yaml").read_text())
    data = {**spec.to_json(), "fingerprint": spec.fingerprint()}
    again = from_json(data, "spec.json")
    assert again.fingerprint() == spec.fingerprint()
    assert [m.planned for m in again.methods.values()] == [4, 48, 12, 12]
    assert again.confirm_seeds == [1, 2, 3] and again.metric.name == "eval/accuracy"
    with pytest.raises(ConfigError, match="another version of emotui"):
        from_json({**data, "schema_version": 99}, "spec.json")


@pytest.mark.parametrize("text,seconds", [("90m", 5400), ("1.5h", 5400), ("1h30m", 5400),
                                          ("45s", 45), ("01:30:00", 5400), ("2d", 172800)])
def test_durations(text, seconds):
    assert parse_duration(text, "wall_time") == seconds


def test_budget_keys():
    assert Budget.parse({"cpu_hours": 0.5, "wall_time": "1h"}, "b") == Budget(0.5, 3600.0)
    for bad, phrase in (({"gpu_hours": 1, "cpu_hours": 1}, "the same budget"),
                        ({"gpu_hours": -1}, "above 0"), ({"wall_time": 60}, "has no unit")):
        with pytest.raises(ConfigError, match=phrase):
            Budget.parse(bad, "b")


def test_the_study_package_never_imports_torch():
    code = ("import sys\nimport emotui.study.controller, emotui.study.summary, "
            "emotui.study.plan, emotui.cli.study_cmd\n"
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets', 'matplotlib')"
            " if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_a_method_can_change_more_in_its_confirm_runs(tmp_path):
    text = """\
fixed: {num_train_epochs: 1}
methods:
  full:
    parameters:
      learning_rate: {values: [1.0e-4, 1.0e-3]}
    confirm: {num_train_epochs: 3}
  ia3:
confirm: {seeds: [1, 2], num_train_epochs: 2}
"""
    spec = _load(tmp_path, text)
    assert spec.confirm_changes("full") == {"num_train_epochs": 3}
    assert spec.confirm_changes("ia3") == {"num_train_epochs": 2}
    for method, epochs in (("full", 3), ("ia3", 2)):
        search = spec.methods[method].spec
        values = search.parameter_values({"learning_rate": 1e-3} if method == "full" else {})
        confirm = spec.parse_confirm(method, spec.confirm_sweep(method, values))
        assert confirm.trial_config({"seed": 1})[0].num_train_epochs == epochs
    again = from_json({**spec.to_json(), "fingerprint": spec.fingerprint()}, "spec.json")
    assert again.fingerprint() == spec.fingerprint()
    for bad, phrase in (("    confirm: {seeds: [4]}\n", "the confirm seeds are the study's"),
                        ("    confirm: {lora_r: 16}\n", "lora_r")):
        with pytest.raises(ConfigError, match=phrase):
            _load(tmp_path, text.replace("    confirm: {num_train_epochs: 3}\n", bad))
    with pytest.raises(ConfigError, match="lists no confirm seeds"):
        _load(tmp_path, text.replace("confirm: {seeds: [1, 2], num_train_epochs: 2}\n", ""))


@pytest.mark.parametrize("path", sorted((REPO / "sweep_configs").glob("study*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_study_file_validates(path, monkeypatch):
    monkeypatch.chdir(REPO)  # their model and data paths are relative to the repository
    spec = load_study([str(path)])
    assert spec.methods and all(m.planned >= 1 for m in spec.methods.values())
    assert spec.confirm_seeds == [1, 2, 3]
