"""Each method's defaults fill the settings nobody gave, however the method was chosen; the
resolved config records which values were method defaults, and reloads as it ran."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from emotui.core import methods
from emotui.core.config import (
    FIELDS, build_config, check_range, coerce_value, config_from_yaml, dump_config,
)
from emotui.core.config_files import read_yaml_mapping, split_sections

PEFT = [m for m in methods.METHODS if m.peft_method]


def lr(spec) -> float:
    return spec.defaults["learning_rate"]


def test_every_method_has_a_valid_learning_rate_of_its_own():
    for spec in methods.METHODS:
        assert "learning_rate" in spec.defaults, spec.name
        for key, value in spec.defaults.items():
            check_range(key, coerce_value(key, value))
    # A PEFT method trains a few parameters: it needs a larger rate than full fine-tuning.
    full = methods.get("full")
    assert all(lr(spec) > lr(full) for spec in PEFT)


@pytest.mark.parametrize("spec", methods.METHODS, ids=lambda m: m.name)
def test_method_flag_fills_its_defaults(spec):
    config, given = build_config([("command line", {"method": spec.alias})])
    assert config.method == spec.name
    assert config.learning_rate == lr(spec)
    assert "learning_rate" in config.method_defaults and "learning_rate" not in given


@pytest.mark.parametrize("spec", PEFT, ids=lambda m: m.name)
def test_peft_method_flag_fills_the_same_defaults(spec):
    layer = {"peft_method": spec.peft_method}
    if spec.init_text:
        layer["prompt_tuning_init_text"] = "how does this text feel? "
    config, _ = build_config([("command line", layer)])
    assert config.method == spec.name
    assert config.learning_rate == lr(spec)
    assert config.method_defaults == [k for k in spec.defaults if k not in layer]


def test_random_prompts_record_their_default_length():
    config, _ = build_config([("command line", {"method": "prompt-random"})])
    assert config.prompt_tuning_num_virtual_tokens == methods.DEFAULT_VIRTUAL_TOKENS
    assert config.method_defaults == ["learning_rate", methods.VIRTUAL_TOKENS_FIELD]
    # Text init takes its length from the text: no default to record.
    config, _ = build_config([("command line", {"method": "prompt-text"})])
    assert config.prompt_tuning_num_virtual_tokens is None
    assert config.method_defaults == ["learning_rate"]


def test_given_values_win_from_any_layer():
    config, given = build_config([("user config", {"learning_rate": 3e-4}),
                                  ("command line", {"method": "lora"})])
    assert config.learning_rate == 3e-4 and config.method_defaults == []
    assert "learning_rate" in given
    config, _ = build_config([("sweep", {"peft_method": "lora", "learning_rate": "2e-4"})])
    assert config.learning_rate == pytest.approx(2e-4) and config.method_defaults == []


def test_a_study_command_line_behaves_as_before():
    # The study's train.py flags give every value: nothing is filled in.
    config, _ = build_config([("command line", {
        "model_name_or_path": "roberta-base", "dataset_name": "dair-ai/emotion",
        "metric_name": "accuracy", "report-to": "none", "text_column_name": "text",
        "peft_method": "prompt_tuning", "prompt_tuning_init_text":
            "classify the emotion of the following text: ",
        "learning_rate": "2e-2", "per_device_train_batch_size": "64", "num_train_epochs": "5",
        "seed": "23", "eval_strategy": "epoch", "save_strategy": "epoch",
    })])
    assert config.method == "prompt_tuning_text"
    assert config.learning_rate == pytest.approx(2e-2)
    assert config.prompt_tuning_num_virtual_tokens is None  # the init text's length, as before
    assert config.method_defaults == []


def test_the_record_round_trips(tmp_path):
    config, _ = build_config([("form", {"method": "ia3"})])
    text = dump_config(config)
    assert "method_defaults:\n- learning_rate\n" in text
    path = tmp_path / "config.yaml"
    path.write_text(text)
    again = config_from_yaml(path)
    assert again == config
    assert again.method_defaults == ["learning_rate"]


def test_a_saved_default_stays_what_ran_while_the_method_does(tmp_path):
    config, _ = build_config([("form", {"method": "lora"})])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    # A later emotui with another LoRA default: the saved run (resume, predict) keeps its own.
    lora = methods.get("lora")
    original = lora.defaults
    object.__setattr__(lora, "defaults", MappingProxyType({**original, "learning_rate": 0.5}))
    try:
        reloaded = config_from_yaml(path)
        fresh, _ = build_config([("form", {"method": "lora"})])
    finally:
        object.__setattr__(lora, "defaults", original)
    assert reloaded.learning_rate == config.learning_rate == original["learning_rate"]
    assert reloaded.method_defaults == ["learning_rate"]
    assert fresh.learning_rate == 0.5


def test_a_saved_default_follows_a_new_method(tmp_path):
    config, _ = build_config([("form", {"method": "lora"})])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    saved, _ = split_sections(read_yaml_mapping(path))
    again, _ = build_config([(str(path), saved), ("command line", {"method": "prompt-random"})])
    assert again.method == "prompt_tuning_random"
    assert again.learning_rate == lr(methods.get("prompt_tuning_random"))
    assert again.method_defaults == ["learning_rate", methods.VIRTUAL_TOKENS_FIELD]
    # A value the saved run was given stays given.
    saved["learning_rate"], saved["method_defaults"] = 0.007, []
    again, _ = build_config([(str(path), saved), ("command line", {"method": "prompt-random"})])
    assert again.learning_rate == 0.007
    assert again.method_defaults == [methods.VIRTUAL_TOKENS_FIELD]


def test_method_defaults_has_no_flag_and_no_form_row():
    spec = FIELDS[methods.DEFAULTS_FIELD]
    assert not spec.flag and spec.form == "hidden"
