"""A method's settings spelt by its group (lora.r, lora: {r: 8}, --lora.r) are the same settings
as the study's flat names (lora_r) everywhere settings are read: flags, --config files, the user
config, sweep files and a saved run's config.yaml, which is written flat."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
import yaml

from emotui.cli.flags import add_config_flags, config_from_args
from emotui.core import methods
from emotui.core.config import (
    FIELDS, GROUPED_KEYS, build_config, config_from_yaml, dump_config, normalize_key,
)
from emotui.core.errors import ConfigError
from emotui.core.lifecycle import create_run
from emotui.core.method_settings import LoraSettings, flat_names
from emotui.core.results import summarize
from emotui.core.runstore import RunStore
from emotui.sweep.space import grid_points
from emotui.sweep.spec import load_sweep, parse_sweep

REPO = Path(__file__).resolve().parents[2]


def other_value(name: str):
    """A valid value other than the setting's default (a default would pass unnoticed)."""
    spec = FIELDS[name]
    if spec.choices:
        return next(c for c in spec.choices if c not in (spec.default, None))
    if spec.type is bool:
        return not spec.default
    if spec.type is int:
        return (spec.default or 0) + 2
    if spec.type is float:
        return spec.default / 2 if spec.default else 0.5
    return "query,key"


CHOSEN = {name: other_value(name) for name in methods.owned_fields()}
GROUP_OF = {flat: spelling.split(".")[0] for spelling, flat in GROUPED_KEYS.items()}
SPELLING = {flat: spelling for spelling, flat in GROUPED_KEYS.items()}


def flat_layer(spec: methods.MethodSpec) -> dict:
    return {"method": spec.alias, **{name: CHOSEN[name] for name in spec.owns}}


def nested(layer: dict) -> dict:
    """``layer`` with each method setting under its group: {lora: {r: 16, ...}}."""
    out: dict = {}
    for key, value in layer.items():
        if key in GROUP_OF:
            out.setdefault(GROUP_OF[key], {})[SPELLING[key].split(".", 1)[1]] = value
        else:
            out[key] = value
    return out


def dotted(layer: dict) -> dict:
    return {SPELLING.get(key, key): value for key, value in layer.items()}


def test_every_method_setting_has_one_grouped_spelling():
    assert set(GROUPED_KEYS.values()) == set(methods.owned_fields())
    assert GROUPED_KEYS["lora.r"] == "lora_r"
    assert GROUPED_KEYS["lora.use_dora"] == "use_dora"
    assert GROUPED_KEYS["prefix.num_virtual_tokens"] == "prefix_num_virtual_tokens"
    assert GROUPED_KEYS["prompt_tuning.num_virtual_tokens"] == "prompt_tuning_num_virtual_tokens"
    assert normalize_key("lora.target-modules") == "lora_target_modules"
    assert normalize_key("--p_tuning.encoder_hidden_size") == "p_tuning_encoder_hidden_size"
    # The registry's entry names its group; what the method owns derives from it.
    lora = methods.get("lora")
    assert lora.settings is LoraSettings
    assert lora.owns == tuple(flat_names(LoraSettings).values())
    assert methods.get("prompt_tuning_random").owns == ("prompt_tuning_num_virtual_tokens",)


@pytest.mark.parametrize("spec", [m for m in methods.METHODS if m.settings], ids=lambda m: m.name)
def test_flat_and_grouped_spellings_give_identical_configs(spec):
    layer = flat_layer(spec)
    flat, flat_given = build_config([("test", layer)])
    for grouped in (nested(layer), dotted(layer)):
        config, given = build_config([("test", grouped)])
        assert config == flat and given == flat_given
        assert dump_config(config) == dump_config(flat)
    for name in spec.owns:
        assert getattr(flat, name) == CHOSEN[name]


def test_a_later_layer_overrides_another_spelling_of_the_same_setting():
    config, _ = build_config([("file", {"method": "lora", "lora": {"r": 4, "alpha": 2}}),
                              ("flags", {"lora_r": "16"})])
    assert (config.lora_r, config.lora_alpha) == (16, 2.0)
    config, _ = build_config([("file", {"method": "lora", "lora_r": 4}),
                              ("flags", {"lora.r": "32"})])
    assert config.lora_r == 32


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return parser.parse_args(list(argv))


def test_grouped_flags_are_the_flat_flags():
    flat, _ = config_from_args(parse("--method", "lora", "--lora_r", "16",
                                     "--lora-target-modules", "query,key", "--use_dora"))
    grouped, _ = config_from_args(parse("--method", "lora", "--lora.r", "16",
                                        "--lora.target_modules", "query,key", "--lora.use_dora"))
    assert grouped == flat
    assert (grouped.lora_r, grouped.lora_target_modules, grouped.use_dora) == \
        (16, "query,key", True)


def test_config_files_take_groups(tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text("lora: {alpha: 32}\nwandb: {project: mine}\n")
    monkeypatch.setenv("EMOTUI_CONFIG", str(user))
    exp = tmp_path / "exp.yaml"
    exp.write_text("method: lora\nlora:\n  r: 16\n  target_modules: [query, key]\n"
                   "lora.dropout: 0.1\nslurm: {partition: gpu}\n")
    config, sections = config_from_args(parse("--config", str(exp), "--lora.bias", "all"))
    assert (config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_bias) == \
        (16, 32.0, 0.1, "all")
    assert config.lora_target_modules == "query,key"
    assert sections == {"slurm": {"partition": "gpu"}}
    flat = tmp_path / "flat.yaml"
    flat.write_text("method: lora\nlora_r: 16\nlora_target_modules: query,key\n"
                    "lora_dropout: 0.1\n")
    assert config_from_args(parse("--config", str(flat), "--lora_bias", "all"))[0] == config


@pytest.mark.parametrize("layer, message", [
    ({"method": "lora", "lora": 8},
     "lora (from test) must be a mapping of lora settings, e.g. lora: {r: ...}"),
    ({"method": "lora", "lora": {"rr": 8}}, "unknown setting 'lora.rr' in test; did you mean "
                                            "'lora.r'?"),
    ({"method": "lora", "lora.r": 0}, "lora_r (from test) must be >= 1, got 0"),
    ({"method": "lora", "prefix": {"num_virtual_tokens": 8}},
     "prefix_num_virtual_tokens (from test) applies to prefix_tuning but this run is lora; add "
     "--peft_method prefix_tuning or drop prefix_num_virtual_tokens"),
])
def test_a_bad_grouped_setting_is_one_line(layer, message):
    with pytest.raises(ConfigError) as info:
        build_config([("test", layer)])
    assert str(info.value) == message


def test_saved_runs_are_written_flat_and_read_in_either_spelling(tmp_path):
    layer = {**flat_layer(methods.get("lora")), "lora_r": 16}
    config, _ = build_config([("test", nested(layer))])
    paths = create_run(RunStore(tmp_path / "runs"), config, backend="local")
    saved = yaml.safe_load(paths.config.read_text())
    # The one canonical form: flat keys in field order, as W&B, tables and older emotui read it.
    fields = [f.name for f in dataclasses.fields(config) if not FIELDS[f.name].secret]
    assert list(saved) == [*fields, "method"]
    assert saved["lora_r"] == 16 and "lora" not in saved
    assert config_from_yaml(paths.config) == config
    assert summarize(paths)["lora_r"] == 16
    # A config.yaml spelt by group (edited by hand, or written elsewhere) reads the same.
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text(yaml.safe_dump(nested(saved), sort_keys=False))
    assert "lora:\n  r: 16\n" in grouped.read_text()
    assert config_from_yaml(grouped) == config
    assert dump_config(config_from_yaml(grouped)) == dump_config(config_from_yaml(paths.config))


def trial_configs(spec) -> list:
    return [spec.trial_config(point)[0] for point in grid_points(spec)]


def test_sweep_files_take_groups(tmp_path):
    flat_file = REPO / "sweep_configs" / "lora.yaml"
    data = yaml.safe_load(flat_file.read_text())
    params = data["parameters"]
    # W&B's nested form for the group, the dotted key for one setting.
    lora = {key.removeprefix("lora_"): params.pop(key)
            for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_bias")}
    params["lora"] = {"parameters": lora}
    params["lora.target_modules"] = params.pop("lora_target_modules")
    grouped_file = tmp_path / "lora_grouped.yaml"
    grouped_file.write_text(yaml.safe_dump(data, sort_keys=False))
    flat, grouped = load_sweep(flat_file), load_sweep(grouped_file)
    assert grouped.grid_size() == flat.grid_size() == 48
    assert set(grouped.parameters) == set(flat.parameters)
    assert grouped.parameters["lora_r"].raw_key == "lora.r"
    assert trial_configs(grouped) == trial_configs(flat)
    pinned = load_sweep(grouped_file, overrides=["lora.r=4"])
    assert pinned.grid_size() == 12
    assert {c.lora_r for c in trial_configs(pinned)} == {4}


def test_a_sweep_group_nested_without_parameters_is_the_same_group():
    points = {"method": {"value": "lora"}, "learning_rate": {"values": [1e-3, 2e-3]}}
    as_wandb = parse_sweep({"method": "grid", "parameters": {
        **points, "lora": {"parameters": {"r": {"values": [2, 8]}}}}})
    as_config = parse_sweep({"method": "grid", "parameters": {
        **points, "lora": {"r": {"values": [2, 8]}}}})
    assert trial_configs(as_config) == trial_configs(as_wandb)
    assert {c.lora_r for c in trial_configs(as_config)} == {2, 8}
    with pytest.raises(ConfigError, match=r"^unknown setting 'lora\.values' in sweep file "
                                          r"parameters; did you mean"):
        parse_sweep({"method": "grid", "parameters": {"lora": {"values": [2, 8]}}})
    with pytest.raises(ConfigError, match="parameters lora_r and lora.r set the same setting"):
        parse_sweep({"method": "grid", "parameters": {"lora_r": {"values": [2]},
                                                      "lora.r": {"values": [8]}}})
