"""`emotui predict` loads the model once for every text it is given: TEXT arguments, a file,
standard input line by line as it comes (a pipe gets each answer before it writes the next
line), or a prompt in a terminal."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys

import pytest
from toy_runs import new_run, toy_config

from emotui.train import train


@pytest.fixture(scope="module")
def toy_run(tiny_model_dir, toy_data_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("predict") / "runs"
    runs.mkdir()
    config = toy_config(tiny_model_dir, toy_data_dir, method="lora", learning_rate=1e-2,
                        num_train_epochs=1)
    paths = new_run(runs, config)
    train(config, paths.root)
    return runs, paths.run_id


@pytest.fixture
def loads(monkeypatch):
    """How many times the model was loaded."""
    # The module (emotui.train.predict also names a function on the package).
    module = importlib.import_module("emotui.train.predict")
    count = {"n": 0}
    real = module.load_for_inference

    def counting(*args, **kwargs):
        count["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "load_for_inference", counting)
    return count


class Keyboard(io.StringIO):
    """Standard input that is a terminal: what a person types."""

    def isatty(self) -> bool:
        return True


def test_the_prompt_answers_each_line_typed_with_one_load(cli, toy_run, loads, monkeypatch):
    runs, run_id = toy_run
    monkeypatch.setattr(sys, "stdin", Keyboard("i feel happy\n\ni am scared\ni am angry\n"))
    result = cli("predict", run_id, runs_dir=runs)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["i feel happy", "i am scared",
                                                      "i am angry"]
    assert result.err.count("text> ") == 5  # after each line (a blank one too), until Ctrl-D
    assert loads["n"] == 1


def test_a_file_and_texts_with_one_load(cli, toy_run, loads, tmp_path):
    runs, run_id = toy_run
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"text number {i}\n" for i in range(600)))
    result = cli("predict", run_id, "first", "--file", str(texts), "--json", runs_dir=runs)
    labelled = json.loads(result.out)
    assert [row["text"] for row in labelled] == ["first"] + [f"text number {i}"
                                                             for i in range(600)]
    assert loads["n"] == 1


def test_without_texts_and_without_a_terminal_it_says_how(cli, toy_run, monkeypatch):
    runs, run_id = toy_run
    monkeypatch.setattr(sys, "stdin", io.StringIO("piped text\n"))
    result = cli("predict", run_id, runs_dir=runs)
    assert result.code == 2 and "--file -" in result.err


def test_a_pipe_gets_each_answer_before_it_writes_the_next_line(toy_run):
    runs, run_id = toy_run
    proc = subprocess.Popen([sys.executable, "-m", "emotui", "predict", run_id, "--file", "-",
                             "--jsonl", "--runs-dir", str(runs)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        for text in ("i feel happy", "i am scared", "i am angry"):
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            answer = json.loads(proc.stdout.readline())  # blocks until this line is answered
            assert answer["text"] == text and answer["label"] in answer["probabilities"]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        proc.kill()
