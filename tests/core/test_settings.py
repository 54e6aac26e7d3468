"""The settings schema: coercion, range errors, layering and the flags/form generated from it."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass

import pytest

from emotui.cli.flags import add_schema_flags, schema_flag_values, wandb_run_choices
from emotui.core import settings
from emotui.core.config import FIELDS, RUN_SETTINGS, build_config
from emotui.core.errors import ConfigError
from emotui.core.setting_values import above_max, below_min, check_range, coerce
from emotui.core.settings import (
    MERGE_EXTEND, MERGE_UPDATE, Schema, form_specs, layer_settings, setting,
)
from emotui.launch.resources import SLURM_SETTINGS, resources_from_sources
from emotui.tracking.settings import WANDB_SETTINGS, resolve


@dataclass
class Toy:
    rate: float = setting(0.1, "A rate.", min=0, min_exclusive=True, max=1, form=True)
    count: int | None = setting(None, "A count.", min=1)
    flag: bool = setting(False, "A switch.")
    colour: str = setting("red", "A colour.", choices=("red", "green", "blue"))
    tags: list[str] = setting([], "Tags.", merge=MERGE_EXTEND)
    extra: dict[str, str] = setting({}, "Extras.", merge=MERGE_UPDATE, flag=False)


TOY = Schema.of(Toy, "toy", prefix="toy ", aliases={"n": "count"})


# --- coercion ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, raw, value", [
    ("rate", "2e-1", 0.2),  # YAML 1.1 reads 2e-1 as a string
    ("rate", 1, 1.0),
    ("count", "3", 3),
    ("count", "4.0", 4),
    ("count", 5.0, 5),
    ("count", "none", None),  # nullable
    ("flag", "yes", True),
    ("flag", "off", False),
    ("tags", "a, b,,c", ["a", "b", "c"]),
    ("tags", ["x", 1], ["x", "1"]),
    ("colour", "green", "green"),
])
def test_coercion_to_the_field_type(name, raw, value):
    assert coerce(TOY.fields[name], raw, "test") == value


@pytest.mark.parametrize("name, raw, message", [
    ("count", "2.5", "toy count (from flags) must be an integer, got '2.5'"),
    ("count", True, "toy count (from flags) must be an integer, got True"),
    ("rate", "fast", "toy rate (from flags) must be a number, got 'fast'"),
    ("rate", "inf", "toy rate (from flags) must be a finite number, got 'inf'"),
    ("flag", "maybe", "toy flag (from flags) must be true or false, got 'maybe'"),
    ("rate", None, "toy rate (from flags) must be a float, not empty"),
    ("extra", "x", "toy extra (from flags) must be a mapping, got 'x'"),
])
def test_coercion_errors_are_one_line_and_name_the_source(name, raw, message):
    with pytest.raises(ConfigError) as info:
        coerce(TOY.fields[name], raw, "flags")
    assert str(info.value) == message


def test_run_config_coercion_keeps_its_texts():
    # The wrappers config.py keeps for its callers use the same machinery.
    from emotui.core.config import check_range as run_check, coerce_value

    assert coerce_value("metric_for_best_model", "eval_accuracy") == "accuracy"
    assert coerce_value("lora_target_modules", ["query", "value"]) == "query,value"
    with pytest.raises(ConfigError, match=r"^per_device_train_batch_size \(from cli\) must be an "
                                          r"integer, got '2\.5'$"):
        coerce_value("per_device_train_batch_size", "2.5", "cli")
    with pytest.raises(ConfigError, match=r"^learning_rate \(from cli\) must be > 0, got 0\.0$"):
        run_check("learning_rate", 0.0, "cli")


# --- range check ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, message", [
    ("rate", 0.0, "toy rate (from x.yaml) must be > 0, got 0.0"),
    ("rate", 1.5, "toy rate (from x.yaml) must be <= 1, got 1.5"),
    ("count", 0, "toy count (from x.yaml) must be >= 1, got 0"),
    ("colour", "gren", "toy colour (from x.yaml) must be one of: red, green, blue; got 'gren'; "
                       "did you mean 'green'?"),
])
def test_range_errors(name, value, message):
    with pytest.raises(ConfigError) as info:
        check_range(TOY.fields[name], value, "x.yaml")
    assert str(info.value) == message


def test_range_accepts_bounds_and_unset():
    check_range(TOY.fields["rate"], 1.0, "x")  # max is inclusive
    check_range(TOY.fields["count"], None, "x")


def test_bounds_of_an_interval():
    rate = TOY.fields["rate"]
    assert below_min(rate, 0.0) == "must be > 0"
    # An open end at the exclusive minimum never reaches it.
    assert below_min(rate, 0.0, reachable=False) is None
    assert below_min(rate, -1.0, reachable=False) == "must be > 0"
    assert above_max(rate, 1.0) is None and above_max(rate, 2.0) == "must be <= 1"
    assert below_min(TOY.fields["flag"], 0) is None  # no bounds


# --- layering ---------------------------------------------------------------------------------

def test_layers_merge_by_the_fields_rule_and_remember_their_source():
    merged = layer_settings(TOY, [
        ("user", {"rate": "0.5", "tags": ["a"], "extra": {"k": "1", "j": "1"}}),
        ("file", {"n": 3, "tags": "b", "extra": {"k": "2"}}),
        ("flags", {"rate": 0.25}),
    ])
    assert merged.values == {"rate": 0.25, "tags": ["a", "b"], "extra": {"k": "2", "j": "1"},
                             "count": 3}
    assert merged.sources == {"rate": "flags", "tags": "file", "extra": "file", "count": "file"}
    toy = merged.build()
    assert toy.rate == 0.25 and toy.colour == "red"  # defaults fill the rest


def test_layer_errors_name_the_layer():
    with pytest.raises(ConfigError, match=r"toy rate \(from file\) must be > 0"):
        layer_settings(TOY, [("user", {"rate": 0.5}), ("file", {"rate": 0})])
    # A bad value that a later layer overrides is never used, so never reported.
    assert layer_settings(TOY, [("file", {"rate": 0}), ("flags", {"rate": 0.5})]).values == \
        {"rate": 0.5}
    with pytest.raises(ConfigError, match=r"unknown toy setting 'rat' in file; did you mean"):
        layer_settings(TOY, [("file", {"rat": 1})])
    with pytest.raises(ConfigError, match=r"toy settings \(from file\) must be a mapping"):
        layer_settings(TOY, [("file", ["rate"])])


def test_run_config_four_layers(tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text("learning_rate: 1e-3\nseed: 1\nlogging_steps: 5\nslurm: {partition: cpu}\n")
    monkeypatch.setenv("EMOTUI_CONFIG", str(user))
    from emotui.core.userconfig import user_layer

    source, values = user_layer()
    assert source == str(user) and "slurm" not in values  # sections belong to other schemas
    config, _ = build_config([user_layer(), ("exp.yaml", {"seed": 2, "num_train_epochs": 3}),
                              ("command line", {"num_train_epochs": "1"})])
    assert (config.learning_rate, config.seed, config.num_train_epochs, config.logging_steps) == \
        (1e-3, 2, 1.0, 5)
    assert config.max_steps == -1  # the default
    for layers, source in [
        ([(str(user), {"seed": "x"})], str(user)),
        ([(str(user), {}), ("exp.yaml", {"seed": "x"})], "exp.yaml"),
        ([("exp.yaml", {"seed": 1}), ("command line", {"seed": "x"})], "command line"),
    ]:
        with pytest.raises(ConfigError, match=rf"seed \(from {source}\) must be an integer"):
            build_config(layers)


def test_slurm_four_layers_name_their_source(tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text(textwrap.dedent("""
        slurm:
          partition: cpu
          account: lab
          time: 60
    """))
    monkeypatch.setenv("EMOTUI_CONFIG", str(user))
    res = resources_from_sources({"partition": "gpu", "time": "2h"}, {"time": "30"},
                                 config_source="exp.yaml")
    assert (res.partition, res.account, res.time, res.max_requeues) == ("gpu", "lab", 30, 3)
    with pytest.raises(ConfigError, match=r"slurm gpus \(from exp.yaml \(slurm:\)\)"):
        resources_from_sources({"gpus": "two"}, config_source="exp.yaml")
    with pytest.raises(ConfigError, match=r"slurm time \(from launch form\)"):
        resources_from_sources(None, {"time": "soon"}, flags_source="launch form")
    user.write_text("slurm: {mem: lots}\n")
    with pytest.raises(ConfigError, match=rf"slurm mem \(from {user} \(slurm:\)\)"):
        resources_from_sources()
    # A resumed run's last submission stands in for the user config.
    assert resources_from_sources(previous={"partition": "old"}).partition == "old"


def test_wandb_layers_name_their_source(tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text("wandb: {project: from-user, entity: team, tui_project: a/b}\n")
    monkeypatch.setenv("EMOTUI_CONFIG", str(user))
    assert resolve(environ={}).project == "from-user"
    assert resolve(environ={"WANDB_PROJECT": "from-env"}).project == "from-env"
    assert resolve({"project": "run"}, environ={"WANDB_PROJECT": "env"}).project == "run"
    args = argparse.Namespace(config_file="exp.yaml", wandb_mode="sometimes")
    with pytest.raises(ConfigError, match=r"wandb mode \(from command line\) must be one of"):
        wandb_run_choices(args, {"wandb": {"mode": "offline"}})
    args.wandb_mode = None
    with pytest.raises(ConfigError, match=r"wandb mode \(from exp.yaml \(wandb:\)\)"):
        wandb_run_choices(args, {"wandb": {"mode": "sometimes"}})
    assert wandb_run_choices(args, {"wandb": {"Mode": "dryrun"}}) == {"mode": "offline"}


# --- flags and form rows ------------------------------------------------------------------------

def parser_for(schema: Schema) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_schema_flags(schema, lambda _group: parser)
    return parser


@pytest.mark.parametrize("schema", [RUN_SETTINGS, SLURM_SETTINGS, WANDB_SETTINGS],
                         ids=lambda s: s.title)
def test_flags_and_form_rows_share_one_help_text(schema):
    actions = {a.dest: a for a in parser_for(schema)._actions}
    flagged = [spec for spec in schema.fields.values() if spec.flag]
    assert flagged
    for spec in flagged:
        action = actions[schema.dest(spec)]
        assert action.help == spec.describe()
        assert spec.help in action.help
    shown = form_specs(schema, advanced=True)
    for spec in shown:
        if spec.flag:
            assert actions[schema.dest(spec)].help == spec.describe(), spec.name
    assert all(not spec.secret for spec in shown)


def test_flag_spellings_and_values():
    assert RUN_SETTINGS.flag_spellings(FIELDS["learning_rate"]) == ["--learning_rate",
                                                                     "--learning-rate"]
    assert "--text_column_name" in RUN_SETTINGS.flag_spellings(FIELDS["text_column_names"])
    assert SLURM_SETTINGS.flag_spellings(SLURM_SETTINGS.fields["sbatch_args"]) == ["--sbatch-arg"]
    assert WANDB_SETTINGS.flag_spellings(WANDB_SETTINGS.fields["project"]) == [
        "--wandb-project", "--wandb_project"]
    args = parser_for(SLURM_SETTINGS).parse_args(
        ["--partition", "gpu", "--setup", "a", "--setup", "b"])
    assert schema_flag_values(SLURM_SETTINGS, args) == {"partition": "gpu", "setup": ["a", "b"]}
    args = parser_for(TOY).parse_args(["--flag", "--rate", "0.5"])
    assert schema_flag_values(TOY, args) == {"flag": "true", "rate": "0.5"}


def test_form_rows_follow_visibility_and_method():
    assert [s.name for s in form_specs(TOY)] == ["rate"]
    lora = [s.name for s in form_specs(RUN_SETTINGS, method="lora")]
    assert "lora_r" in lora and "lora_r" not in [s.name for s in form_specs(RUN_SETTINGS,
                                                                           method="full")]
    everything = [s.name for s in form_specs(RUN_SETTINGS, method="full", advanced=True)]
    assert "peft_method" not in everything and "extra_training_args" not in everything
    assert [s.name for s in form_specs(SLURM_SETTINGS)] == [
        "partition", "gpus", "cpus_per_task", "mem", "time", "account", "qos", "constraint"]
    assert settings.select_options(FIELDS["bf16"]) == [("unset", ""), ("true", "true"),
                                                       ("false", "false")]
    assert settings.select_options(FIELDS["seed"]) is None
