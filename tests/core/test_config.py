"""The run config schema: sources, coercion, ranges, combinations, suggestions."""

from pathlib import Path

import pytest

from emotui.core.config import FIELDS, RunConfig, build_config, config_from_yaml, dump_config
from emotui.core.config_files import read_yaml_mapping
from emotui.core.errors import ConfigError


def build(**values):
    return build_config([("test", values)])[0]


def test_defaults_are_valid_and_full_finetuning():
    config = build()
    assert config.method == "full"
    assert config.model_name_or_path == "roberta-base"
    assert config.dataset_name == "dair-ai/emotion"


def test_every_field_is_documented_with_a_group():
    for name, f in FIELDS.items():
        assert f.help, name
        assert f.group in {"model", "data", "method", "training", "evaluation",
                                       "logging"}, name


def test_study_spellings_and_string_numbers_are_accepted():
    # The sweep files spell text_column_name; YAML 1.1 reads 2e-5 as a string.
    config, explicit = build_config([("sweep", {
        "text_column_name": "text", "learning_rate": "2e-5", "report-to": "none",
        "per_device_train_batch_size": 64, "load_best_model_at_end": "true",
        "evaluation_strategy": "epoch", "optim": "adamw_torch", "save_total_limit": 2,
    })])
    assert config.text_column_names == "text"
    assert config.learning_rate == pytest.approx(2e-5)
    assert config.extra_training_args == {"optim": "adamw_torch"}
    assert "text_column_names" in explicit


def test_later_layers_override_earlier():
    config, _ = build_config([("file", {"learning_rate": 1e-3, "seed": 1}),
                              ("flags", {"learning_rate": "2e-4"})])
    assert config.learning_rate == pytest.approx(2e-4)
    assert config.seed == 1


@pytest.mark.parametrize("alias, method, init_text", [
    ("full", "full", None),
    ("lora", "lora", None),
    ("prompt-text", "prompt_tuning_text", "classify the emotion of the following text: "),
    ("prompt-random", "prompt_tuning_random", None),
])
def test_method_alias(alias, method, init_text):
    config = build(method=alias)
    assert config.method == method
    assert config.prompt_tuning_init_text == init_text


@pytest.mark.parametrize("values, fragment", [
    ({"lerning_rate": 1e-4}, "did you mean 'learning_rate'"),
    ({"learning_rate": 0}, "learning_rate (from test) must be > 0"),
    ({"learning_rate": "fast"}, "must be a number"),
    ({"per_device_train_batch_size": 0}, "must be >= 1"),
    ({"per_device_train_batch_size": 2.5}, "must be an integer"),
    ({"num_train_epochs": -1}, "must be > 0"),
    ({"lora_dropout": 1.0, "peft_method": "lora"}, "must be < 1"),
    ({"peft_method": "adapter"}, "must be one of"),
    ({"prompt_tuning_init_text": "hello"}, "applies to prompt_tuning_text"),
    ({"lora_r": 4}, "add --peft_method lora"),
    ({"peft_method": "prompt_tuning", "prompt_tuning_init_text": "  "}, "is empty"),
    ({"method": "prompt-random", "prompt_tuning_init_text": "x"}, "contradicts"),
    ({"method": "qlora"}, "method (from test) must be one of"),
    ({"do_regression": True}, "not supported"),
    ({"bf16": True, "fp16": True}, "choose one"),
    ({"train_file": "/nonexistent/train.jsonl"}, "does not exist"),
    ({"shuffle_train_dataset": "maybe"}, "must be true or false"),
    ({"metric_for_best_model": "acc"}, "did you mean 'accuracy'"),
])
def test_bad_values_give_one_line(values, fragment):
    with pytest.raises(ConfigError) as info:
        build(**values)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_secrets_are_never_dumped():
    config = build(token="hf_secret_value", hub_token="hub_secret")
    text = dump_config(config)
    assert "hf_secret_value" not in text and "hub_secret" not in text
    assert config.token == "hf_secret_value"


def test_dump_and_load_round_trip(tmp_path: Path):
    config = build(method="lora", lora_r=16, lora_target_modules="query,key,value",
                   learning_rate=1e-3, optim="adamw_torch")
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    loaded = config_from_yaml(path)
    assert loaded == config
    assert loaded.lora_targets() == ["query", "key", "value"]


def test_malformed_yaml_is_one_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rate: [1e-4\nseed: 3\n")
    with pytest.raises(ConfigError) as info:
        read_yaml_mapping(path)
    assert "not valid YAML at line" in str(info.value)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        read_yaml_mapping(path)


def test_runconfig_is_a_plain_dataclass():
    assert RunConfig().method == "full"
