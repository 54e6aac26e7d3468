"""`--json` prints one JSON document on stdout whatever the environment: with the W&B,
transformers, datasets and Hub variables a cluster profile exports, the libraries' messages go
to stderr (transformers prints "[INFO] Running in WANDB offline mode" on its import when
WANDB_MODE=offline). Each command runs as its own process, as a user runs it: an import that
prints does so once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from emotui.cli.stdout_document import document_stdout

# What users commonly export (a cluster's profile, a notebook's habits).
NOISY_ENVIRONMENT = {
    "WANDB_MODE": "offline", "WANDB_SILENT": "false", "WANDB_CONSOLE": "wrap",
    "WANDB_PROJECT": "emotion", "TRANSFORMERS_VERBOSITY": "info", "DATASETS_VERBOSITY": "info",
    "HF_HUB_VERBOSITY": "info", "TOKENIZERS_PARALLELISM": "true", "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "0",
}


def _emotui(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, **NOISY_ENVIRONMENT, "WANDB_DIR": str(tmp_path / "wandb")}
    return subprocess.run([sys.executable, "-m", "emotui", *args], capture_output=True,
                          text=True, env=env, timeout=600, check=False)


def _one_document(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr[-3000:]
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"stdout is not one JSON document:\n{proc.stdout[:2000]}")


@pytest.mark.parametrize("recipe", ["reference", "default"])
def test_run_json_is_one_document_with_noisy_library_settings(recipe, tiny_model_dir,
                                                                toy_data_dir, runs_dir, tmp_path):
    proc = _emotui(["run", "--recipe", recipe, "--method", "lora", "--model_name_or_path",
                    str(tiny_model_dir), "--data_dir", str(toy_data_dir), "--max_steps", "2",
                    "--learning_rate", "1e-3", "--runs-dir", str(runs_dir), "--json"], tmp_path)
    results = _one_document(proc)
    assert results["status"] == "completed"
    if recipe == "reference":
        assert "Running in WANDB offline mode" in proc.stderr  # said, but not on stdout
    # The same for a command that loads the model in its own process: predict.
    proc = _emotui(["predict", results["run_id"], "i feel wonderful", "--runs-dir",
                    str(runs_dir), "--json"], tmp_path)
    [prediction] = _one_document(proc)
    assert prediction["text"] == "i feel wonderful"


def test_the_guard_sends_library_writes_to_stderr_and_keeps_emotuis(capfd):
    """In one process: a library's print, a write to file descriptor 1 and a child process
    all land on stderr; emotui's own print is the document."""
    with document_stdout():
        exec(compile("print('[INFO] a library speaks')", "lib", "exec"),
             {"__name__": "transformers.integrations"})
        os.write(1, b"written to fd 1\n")
        subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
        print(json.dumps({"document": True}))  # this test module is not emotui's
        exec(compile("print(json.dumps({'document': True}))", "cli", "exec"),
             {"__name__": "emotui.cli.run_cmd", "json": json})
    print("after the guard")
    out, err = capfd.readouterr()
    assert out == '{"document": true}\nafter the guard\n'
    for line in ("[INFO] a library speaks", "written to fd 1", "a child process",
                 '{"document": true}'):
        assert line in err


def test_every_document_printing_command_is_guarded():
    """--json anywhere, predict's --jsonl (a stream of documents) and compare's csv/tsv/json
    on stdout; a table for people is not."""
    from emotui.cli.main import _prints_a_document, build_parser

    parser = build_parser()
    for argv, guarded in ((["ls", "--json"], True), (["predict", "RUN", "--jsonl"], True),
                          (["predict", "RUN", "a text"], False),
                          (["compare", "A", "B", "--format", "csv"], True),
                          (["compare", "A", "B", "--format", "csv", "--output", "x.csv"], False),
                          (["ls"], False)):
        assert _prints_a_document(parser.parse_args(argv)) is guarded, argv
