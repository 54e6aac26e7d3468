"""Bad input that reaches the train layer's setup (data and model loading): one line on
stderr, exit 2, no traceback, no run directory left behind. The cases refused before that are
in test_bad_input_corpus.py."""

from __future__ import annotations

import pytest
from bad_input_helpers import assert_clean_refusal, write_jsonl  # noqa: F401  (test_run_seeds)


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
    # What the local cache lacks first: roberta-base, else the dataset.
    assert "--model_name_or_path" in result.err or "--train_file" in result.err
    assert result.out == ""  # refused before a run id was printed


def test_a_failed_run_prints_one_line_even_while_its_ticker_samples(local_run, tmp_path):
    """The LoRA-target case in a fresh process, as a user runs it: the model loads, then the run
    fails. The position ticker (here sampling every 10 ms, so a sample always falls inside the
    training thread's `import torch`) used to die with a thread traceback ("partially initialized
    module 'torch' has no attribute 'cuda'") printed beside the error line. Exactly one line on
    stderr, exit 2."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import emotui.train.ticker as ticker\n"
        "ticker.TICK_S = ticker.TELEMETRY_S = 0.01\n"
        "from emotui.cli.main import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    runs = tmp_path / "store"
    argv = local_run("--peft_method", "lora", "--lora_target_modules", "q_proj,v_proj",
                     "--report_to", "none")
    done = subprocess.run([sys.executable, "-c", code, argv[0], "--runs-dir", str(runs),
                           *argv[1:]], capture_output=True, text=True, timeout=240)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("emotui: error: lora_target_modules:") and "q_proj" in lines[0]
