"""`emotui sweep` on the command line: dry runs, one-line refusals, status, the W&B controller."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from emotui.cli.main import main

REF = Path(__file__).resolve().parents[3] / "shared" / "reference" / "sweep_configs"


@pytest.fixture
def reference_file(shared_dir) -> Path:
    path = shared_dir / "reference" / "sweep_configs" / "sweep_lora.yaml"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_dry_run_json_lists_resolved_configs(reference_file, runs_dir, capsys):
    assert main(["sweep", str(reference_file), "--runs-dir", str(runs_dir), "--dry-run",
                 "--json", "--set", "num_train_epochs=1"]) == 0
    trials = json.loads(capsys.readouterr().out)
    assert len(trials) == 48
    assert all(t["config"]["method"] == "lora" and t["config"]["num_train_epochs"] == 1
               for t in trials)
    assert len({(t["config"]["learning_rate"], t["config"]["lora_r"],
                 t["config"]["lora_target_modules"]) for t in trials}) == 48
    assert not any(runs_dir.iterdir())  # a dry run writes nothing


def test_dry_run_names_the_values_left_to_each_method(runs_dir, capsys):
    file = Path(__file__).resolve().parents[2] / "sweep_configs" / "methods_at_defaults.yaml"
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    lora = next(line for line in lines if line.split()[1:2] == ["lora"])
    # One rule for every hyperparameter (core.units.plain): 0.002 beside 2e-05, never 0.0020.
    assert lora.endswith("method=lora; method defaults: learning_rate=0.002")
    full = next(line for line in lines if line.split()[1:2] == ["full"])
    assert full.endswith("learning_rate=5e-05"), full  # not 5.00e-05
    prompt = next(line for line in lines if "prompt_tuning_random" in line)
    assert "prompt_tuning_num_virtual_tokens=20" in prompt
    assert not any(runs_dir.iterdir())


def test_dry_run_random_uses_count_and_bayes_gives_first_suggestions(tmp_path, runs_dir, capsys):
    file = tmp_path / "r.yaml"
    file.write_text("method: random\nparameters:\n  learning_rate: {distribution: "
                    "log_uniform_values, min: 1.0e-5, max: 1.0e-2}\n")
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), "--dry-run", "--json",
                 "--count", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    file.write_text("method: bayes\nmetric: {name: eval/macro_f1, goal: maximize}\nrun_cap: 9\n"
                    "parameters:\n  learning_rate: {distribution: log_uniform_values, "
                    "min: 1.0e-5, max: 1.0e-2}\n  lora_r: {values: [4, 8]}\n"
                    "  peft_method: {value: lora}\n")
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), "--dry-run", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first) == 1 and 1e-5 <= first[0]["config"]["learning_rate"] <= 1e-2


@pytest.mark.parametrize("text, extra, message", [
    ("method: grid\nparameters:\n  learning_rte: {values: [1]}\n", [], "did you mean 'learning_rate'"),
    ("method: grid\nparameters:\n  seed: {values: [1, 2]\n", [], "not valid YAML"),
    ("method: sobol\nparameters:\n  seed: {value: 1}\n", [], "unknown method"),
    ("method: grid\nparameters:\n  seed: {value: 1}\n", ["--set", "sed=1"], "did you mean 'seed'"),
    ("method: grid\nparameters:\n  seed: {value: 1}\n", ["--max-parallel", "2", "--backend",
                                                         "inline"], "one trial at a time"),
    ("method: random\nparameters:\n  seed: {min: 1, max: 9}\n", [], "--count"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, runs_dir, capsys, text, extra, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emotui: error:") and message in err and "\n" not in err
    assert not (runs_dir / "sweeps").exists()  # nothing half-written


def test_status_of_unknown_sweep_and_empty_ls(runs_dir, capsys):
    assert main(["sweep", "status", "nope", "--runs-dir", str(runs_dir)]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err
    assert main(["sweep", "ls", "--runs-dir", str(runs_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["sweep", "resume", "--runs-dir", str(runs_dir)]) == 2
    assert "needs a sweep id" in capsys.readouterr().err


# -- the W&B controller: the server is unreachable here; no key / no network must fail fast ------


@pytest.fixture
def wandb_env(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_IDENTITY_TOKEN_FILE", raising=False)
    return monkeypatch


def _sweep_file(tmp_path) -> Path:
    file = tmp_path / "w.yaml"
    file.write_text("program: train.py\nmethod: grid\nmetric: {name: eval/accuracy, goal: maximize}"
                    "\nparameters:\n  learning_rate: {values: [2e-5, 2e-4]}\n")
    return file


def test_wandb_controller_without_key_says_offline(tmp_path, runs_dir, capsys, wandb_env):
    t0 = time.monotonic()
    assert main(["sweep", str(_sweep_file(tmp_path)), "--runs-dir", str(runs_dir),
                 "--controller", "wandb"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no W&B API key" in err and "--controller offline" in err and "\n" not in err
    assert time.monotonic() - t0 < 30  # bounds a hang, not a performance claim


def test_wandb_controller_without_network_says_offline(tmp_path, runs_dir, capsys, wandb_env):
    wandb_env.setenv("WANDB_API_KEY", "x" * 40)  # a key is present; api.wandb.ai is not reachable
    assert main(["sweep", str(_sweep_file(tmp_path)), "--runs-dir", str(runs_dir),
                 "--controller", "wandb"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unreachable" in err and "--controller offline" in err and "\n" not in err
    # A closed local port: refused at once, same message.
    wandb_env.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    assert main(["sweep", str(_sweep_file(tmp_path)), "--runs-dir", str(runs_dir),
                 "--controller", "wandb"]) == 2
    assert "unreachable" in capsys.readouterr().err


def test_wandb_netrc_key_is_found(tmp_path, wandb_env):
    from emotui.tracking.settings import has_credentials

    assert not has_credentials("https://api.wandb.ai")
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    assert has_credentials("https://api.wandb.ai")


def test_wandb_dry_run_prints_the_wandb_sweep(tmp_path, runs_dir, capsys):
    assert main(["sweep", str(_sweep_file(tmp_path)), "--runs-dir", str(runs_dir),
                 "--controller", "wandb", "--dry-run", "--set", "num_train_epochs=1"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["method"] == "grid" and config["metric"]["name"] == "eval/accuracy"
    assert config["parameters"]["num_train_epochs"] == {"value": 1.0}
    assert config["parameters"]["report_to"] == {"value": "wandb"}
    assert config["parameters"]["learning_rate"] == {"values": [2e-5, 2e-4]}
