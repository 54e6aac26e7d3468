"""Hostile files and values on the command line: a YAML bomb in any file emotui reads, sweep
fields of the wrong type, non-finite numbers, and pass-through TrainingArguments of the wrong
type. Each is one line, exit 2, nothing in the store, before any run id."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bad_input_helpers import assert_clean_refusal, store_entries
from emotui.core.config import build_config
from emotui.core.errors import ConfigError
from emotui.core.training_args import check_value
from emotui.sweep.spec import load_sweep, parse_sweep

BOMB_LEVELS = 9  # 9 ** 9 values once expanded: far past core.yaml_load.MAX_NODES


def bomb(key: str, levels: int = BOMB_LEVELS) -> str:
    """``key:`` holding a billion laughs (anchored inside it, so no other key is added)."""
    return f"{key}:\n" + '  - &l0 "lol"\n' + "".join(
        f"  - &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, levels + 1))


SWEEP = "method: grid\nparameters:\n  learning_rate: {values: [0.001]}\n"


@pytest.mark.parametrize("key", ["command", "program", "project", "description"])
def test_a_bomb_under_an_ignored_sweep_key_is_one_line(cli, tmp_path, key):
    file = tmp_path / "bomb.yaml"
    file.write_text(SWEEP + bomb(key))
    result = cli("sweep", str(file), "--backend", "local")
    assert_clean_refusal(result, cli.runs_dir, "holds more than 200,000 values once its "
                         "aliases (*name) are expanded")


def test_a_bomb_in_a_study_file_is_one_line(cli, tmp_path):
    file = tmp_path / "study.yaml"
    file.write_text("methods:\n  full:\n" + bomb("description"))
    result = cli("study", str(file), "--dry-run")
    assert_clean_refusal(result, cli.runs_dir, f"study file {file} holds more than")


def test_a_bomb_in_a_config_file_is_one_line(cli, tmp_path):
    file = tmp_path / "exp.yaml"
    file.write_text("learning_rate: 0.001\n" + bomb("slurm"))
    result = cli("run", "--config", str(file), "--backend", "local")
    assert_clean_refusal(result, cli.runs_dir, f"config file {file} holds more than")


def test_a_bomb_in_the_user_config_is_one_line(cli, tmp_path, monkeypatch):
    file = tmp_path / "user.yaml"
    file.write_text(bomb("wandb"))
    monkeypatch.setenv("EMOTUI_CONFIG", str(file))
    result = cli("run", "--backend", "local")
    assert_clean_refusal(result, cli.runs_dir, f"user config {file} holds more than")


def test_a_bomb_in_a_set_value_is_one_line(cli, tmp_path):
    file = tmp_path / "ok.yaml"
    file.write_text(SWEEP)
    value = "[" + ", ".join(["&a0 [lol]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]"
                                             for i in range(1, 10)]) + "]"
    result = cli("sweep", str(file), "--dry-run", "--set", f"lr_scheduler_kwargs={value}")
    assert_clean_refusal(result, cli.runs_dir, "--set lr_scheduler_kwargs holds more than")


# -- item 13: sweep fields of the wrong type, non-finite numbers ---------------------------------


@pytest.mark.parametrize("line, fragment", [
    ("name: 12345", 'name must be text, got 12345; quote it: name: "12345"'),
    ("name: [a, b]", "name must be text, got ['a', 'b']"),
    ("project: {a: 1}", "project must be text"),
    ("program: 3.5", "program must be text"),
    ("command: [python, {a: 1}]", "command must be a list of text"),
])
def test_sweep_text_fields_of_the_wrong_type_are_one_line(cli, tmp_path, line, fragment):
    file = tmp_path / "s.yaml"
    file.write_text(SWEEP + line + "\n")
    assert_clean_refusal(cli("sweep", str(file), "--dry-run"), cli.runs_dir, fragment)


HYPERBAND = ("method: random\nrun_cap: 2\nmetric: {name: eval/accuracy, goal: maximize}\n"
             "parameters:\n  learning_rate: {values: [0.001]}\n")
# Every place a sweep (or study) file holds a number emotui reads, as a template.
NUMBER_SLOTS = {
    "eta": HYPERBAND + "early_terminate: {type: hyperband, min_iter: 1, eta: %s}\n",
    "min_iter": HYPERBAND + "early_terminate: {type: hyperband, min_iter: %s}\n",
    "max_iter": HYPERBAND + "early_terminate: {type: hyperband, max_iter: %s, s: 2}\n",
    "s": HYPERBAND + "early_terminate: {type: hyperband, max_iter: 27, s: %s}\n",
    "target": ("method: random\nrun_cap: 2\nmetric: {name: eval/accuracy, goal: maximize, "
               "target: %s}\nparameters:\n  learning_rate: {values: [0.001]}\n"),
    "min": "method: random\nrun_cap: 2\nparameters:\n  learning_rate: {min: %s, max: 0.1}\n",
    "max": "method: random\nrun_cap: 2\nparameters:\n  learning_rate: {min: 0.0001, max: %s}\n",
    "mu": ("method: random\nrun_cap: 2\nparameters:\n  learning_rate: {distribution: "
           "log_normal, mu: %s, sigma: 1}\n"),
    "q": ("method: grid\nparameters:\n  warmup_ratio: {distribution: q_uniform, min: 0, "
          "max: 0.5, q: %s}\n"),
    "value": "method: grid\nparameters:\n  learning_rate: {value: %s}\n",
    "values": "method: grid\nparameters:\n  learning_rate: {values: [0.001, %s]}\n",
    "pass-through": "method: grid\nparameters:\n  eval_delay: {values: [%s]}\n",
    "probabilities": ("method: random\nrun_cap: 2\nparameters:\n  seed: {values: [1, 2], "
                      "probabilities: [0.5, %s]}\n"),
}
NON_FINITE = [".nan", ".NaN", ".inf", "-.inf", "+.inf", "1e400", "-1e400", "'nan'", "'inf'"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slot=st.sampled_from(sorted(NUMBER_SLOTS)), value=st.sampled_from(NON_FINITE))
def test_a_non_finite_number_is_refused_wherever_a_sweep_file_holds_one(slot, value):
    import yaml

    data = yaml.safe_load(NUMBER_SLOTS[slot] % value)
    with pytest.raises(ConfigError) as info:
        parse_sweep(data, source="s.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert "finite" in message or "number" in message or "integer" in message, message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.sampled_from([math.nan, math.inf, -math.inf, "nan", "inf", 10**400]),
       key=st.sampled_from(["gpu_hours", "cpu_hours"]))
def test_a_non_finite_budget_is_refused(value, key):
    from emotui.study.budget import Budget

    with pytest.raises(ConfigError, match=f"{key}"):
        Budget.parse({key: value}, "study.yaml budget")


@pytest.mark.parametrize("value", [math.nan, math.inf, float("-inf")])
def test_a_non_finite_slurm_time_is_refused(value):
    from emotui.launch.resources import parse_time_minutes

    with pytest.raises(ConfigError, match="finite number"):
        parse_time_minutes(value)


def test_nan_eta_reaches_the_refusal_on_the_command_line(cli, tmp_path):
    file = tmp_path / "nan.yaml"
    file.write_text(NUMBER_SLOTS["eta"] % ".nan")
    assert_clean_refusal(cli("sweep", str(file), "--dry-run"), cli.runs_dir,
                         "early_terminate eta must be a finite number, got nan")


def test_strict_must_be_a_boolean(tmp_path):
    file = tmp_path / "s.yaml"
    file.write_text(HYPERBAND + "early_terminate: {type: hyperband, min_iter: 1, "
                    "strict: 'false'}\n")
    with pytest.raises(ConfigError, match="strict must be true or false"):
        load_sweep(file)


# -- item 14: pass-through TrainingArguments ---------------------------------------------------


@pytest.mark.parametrize("setting, fragment", [
    ("optim={a: 1}", "optim (from --set) must be text (one of: adamw_torch"),
    ("optim=adamw_torchh", "did you mean 'adamw_torch'?"),
    ("tf32=maybe", "tf32 (from --set) must be true or false or null, got 'maybe'"),
    ("eval_delay=.nan", "eval_delay (from --set) must hold finite numbers"),
    ("torch_empty_cache_steps=x", "torch_empty_cache_steps (from --set) must be a whole number"),
    ("dataloader_prefetch_factor=1.0e+308", "must be at most 9223372036854775807"),
    ("dataloader_prefetch_factor=1e308", "must be a whole number or null, got '1e308'"),
    ("lr_scheduler_kwargs={power: .inf}", "lr_scheduler_kwargs (from --set) must hold finite"),
    ("logging_steps=1e308", "logging_steps (from --set) must be a whole number"),
])
def test_pass_through_training_arguments_are_type_checked(cli, tmp_path, setting, fragment):
    file = tmp_path / "ok.yaml"
    file.write_text(SWEEP)
    assert_clean_refusal(cli("sweep", str(file), "--dry-run", "--set", setting),
                         cli.runs_dir, fragment)


def test_a_config_file_with_optim_as_a_mapping_leaves_no_run(cli, tmp_path):
    file = tmp_path / "exp.yaml"
    file.write_text("optim: {name: adamw}\n")
    assert_clean_refusal(cli("run", "--config", str(file), "--backend", "local"),
                         cli.runs_dir, f"optim (from {file}) must be text")


def test_a_saved_extra_training_args_mapping_is_checked_too():
    with pytest.raises(ConfigError, match="optim .from config.yaml. must be text"):
        build_config([("config.yaml", {"extra_training_args": {"optim": {"a": 1}}})])
    config, _ = build_config([("config.yaml", {"extra_training_args": {"optim": "adafactor"}})])
    assert config.extra_training_args == {"optim": "adafactor"}


def test_right_types_pass_through_unchanged():
    assert check_value("optim", "adafactor", "x") == "adafactor"
    assert check_value("lr_scheduler_kwargs", {"power": 2.0}, "x") == {"power": 2.0}
    assert check_value("dataloader_prefetch_factor", 4.0, "x") == 4  # an integral float
    assert check_value("eval_delay", 1, "x") == 1
    assert check_value("label_names", ["labels"], "x") == ["labels"]
    assert check_value("tf32", None, "x") is None


def test_a_refusals_did_you_mean_never_names_the_refused_key(cli, tmp_path):
    file = tmp_path / "ok.yaml"
    file.write_text(SWEEP)
    result = cli("sweep", str(file), "--dry-run", "--set", "extra_training_args={}")
    assert_clean_refusal(result, cli.runs_dir, "cannot set extra_training_args as a whole")
    assert "did you mean 'extra_training_args'" not in result.err
    file.write_text("method: grid\nparameters:\n  extra_training_args: {value: {}}\n")
    result = cli("sweep", str(file), "--dry-run")
    assert_clean_refusal(result, cli.runs_dir, "cannot set extra_training_args as a whole")


def test_a_secret_pass_through_is_refused_in_set(cli, tmp_path):
    file = tmp_path / "ok.yaml"
    file.write_text(SWEEP)
    assert_clean_refusal(cli("sweep", str(file), "--dry-run", "--set", "hub_token=abc"),
                         cli.runs_dir, "secrets are never stored")


def test_the_cli_still_starts_without_transformers():
    import subprocess
    import sys

    code = ("import sys; from emotui.cli.main import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "assert 'transformers' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_store_is_untouched_by_every_refusal_above(cli):
    assert store_entries(Path(cli.runs_dir)) == set()


def test_a_study_confirms_refusal_never_names_the_refused_key():
    import yaml

    from emotui.study.study_file import parse_study

    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "sweep_configs"
                           / "study-cpu.yaml").read_text())
    data["confirm"] = {**(data.get("confirm") or {}), "extra_training_args": {"optim": "sgd"}}
    with pytest.raises(ConfigError) as info:
        parse_study(data, source="study.yaml")
    assert "unknown key 'extra_training_args'" in str(info.value)
    assert "did you mean 'extra_training_args'" not in str(info.value)
