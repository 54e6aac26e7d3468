"""Bad input: one line on stderr, exit 2, no traceback, no run directory left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def assert_clean_refusal(result, runs_dir: Path, fragment: str) -> None:
    assert result.code == 2, (result.code, result.err)
    assert "Traceback" not in result.err + result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("emotui: error: ")
    assert fragment in lines[0], lines[0]
    leftovers = [p for p in runs_dir.iterdir()] if runs_dir.exists() else []
    assert leftovers == [], leftovers


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


CASES_WITHOUT_TRAINING = [
    (["run", "--lerning_rate", "1e-4"], "did you mean --learning_rate"),
    (["run", "--learning_rate", "fast"], "learning_rate (from command line) must be a number"),
    (["run", "--learning_rate", "-1"], "must be > 0"),
    (["run", "--per_device_train_batch_size", "0"], "must be >= 1"),
    (["run", "--num_train_epochs", "0"], "must be > 0"),
    (["run", "--peft_method", "lora", "--lora_dropout", "1.5"], "must be < 1"),
    (["run", "--peft_method", "adapters"], "peft_method (from command line) must be one of"),
    (["run", "--method", "qlora"], "method (from command line) must be one of"),
    (["run", "--peft_method", "prompt_tuning", "--prompt_tuning_init_text", ""], "is empty"),
    (["run", "--prompt_tuning_init_text", "classify"], "applies to prompt_tuning_text"),
    (["run", "--train_file", "/nonexistent/train.jsonl"], "does not exist"),
    (["run", "--train_file", "/"], "is not a file"),
    (["show", "nosuchrun"], "no run 'nosuchrun'"),
    (["show", "../../etc"], "not a valid run id"),
    (["logs", "../x"], "not a valid run id"),
    (["nosuchcommand"], "unknown command 'nosuchcommand'"),
]


@pytest.mark.parametrize("argv, fragment", CASES_WITHOUT_TRAINING)
def test_refused_before_anything_runs(cli, argv, fragment):
    assert_clean_refusal(cli(*argv), cli.runs_dir, fragment)


def test_malformed_yaml_config(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: [1e-4\n")
    assert_clean_refusal(cli("run", "--config", str(bad)), cli.runs_dir, "not valid YAML at line")


def test_unknown_key_in_yaml_config(cli, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("lora_rank: 8\n")
    assert_clean_refusal(cli("run", "--config", str(bad)), cli.runs_dir, "did you mean 'lora_r'")


# The cases below reach the train layer's setup (data and model loading) and must still leave
# nothing behind.

@pytest.fixture
def local_run(tiny_model_dir, toy_data_dir):
    def argv(*extra: str, train=None, validation=None, test=None) -> list[str]:
        return [
            "run", "-q", "--model_name_or_path", str(tiny_model_dir),
            "--train_file", str(train or toy_data_dir / "train.jsonl"),
            "--validation_file", str(validation or toy_data_dir / "validation.jsonl"),
            "--test_file", str(test or toy_data_dir / "test.jsonl"),
            "--num_train_epochs", "1", *extra,
        ]
    return argv


def test_lora_target_module_the_model_lacks(cli, local_run):
    result = cli(*local_run("--peft_method", "lora", "--lora_target_modules", "q_proj,v_proj"))
    assert_clean_refusal(result, cli.runs_dir, "q_proj")
    assert "query" in result.err  # lists the modules it has


def test_file_without_the_text_column(cli, local_run, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"sentence": "hi", "label": 0}] * 4)
    result = cli(*local_run(train=train))
    assert_clean_refusal(result, cli.runs_dir, "sentence")


def test_labels_unseen_in_train(cli, local_run, tmp_path, toy_data_dir):
    test = write_jsonl(tmp_path / "test.jsonl", [{"text": "hello", "label": 9}])
    assert_clean_refusal(cli(*local_run(test=test)), cli.runs_dir, "9")


def test_empty_split(cli, local_run, tmp_path):
    empty = tmp_path / "validation.jsonl"
    empty.write_text("")
    assert_clean_refusal(cli(*local_run(validation=empty)), cli.runs_dir, "empty")


def test_study_command_line_fails_only_at_the_hub(cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("run", "--model_name_or_path", "roberta-base", "--dataset_name",
                 "dair-ai/emotion", "--metric_name", "accuracy", "--report-to", "none",
                 "--text_column_name", "text", "--do_train", "--do_eval", "--do_predict",
                 "--per_device_train_batch_size", "64", "--num_train_epochs", "5",
                 "--output_dir", "./outputs/full", "--save_total_limit", "2",
                 "--eval_strategy", "epoch", "--save_strategy", "epoch",
                 "--load_best_model_at_end", "--metric_for_best_model", "accuracy", "--seed", "23")
    assert_clean_refusal(result, cli.runs_dir, "Hub")
    assert "--train_file" in result.err
