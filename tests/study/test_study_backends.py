"""A study of the tiny RoBERTa on the detached backends: local processes two at a time, and the
real test Slurm cluster (tests/slurm/cluster.sh). Every run is a process importing torch, so
these take minutes on 2 cores: -m slow, -m slurm_heavy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from study_helpers import write

from emotui.cli.main import main

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "slurm" / "cluster.sh"


def _study(model: Path, data: Path) -> str:
    return f"""\
name: detached
model: {model}
data: {data}
fixed:
  num_train_epochs: 1
  per_device_train_batch_size: 32
  max_seq_length: 48
  max_train_samples: 120
methods:
  full:
    parameters:
      learning_rate: {{values: [1.0e-3, 3.0e-3]}}
  lora:
    parameters:
      learning_rate: {{values: [3.0e-3]}}
confirm: {{seeds: [1, 2]}}
report: [md]
export: false
"""


def _check(out: str, runs_dir: Path, backend: str) -> dict:
    summary = json.loads(out)
    assert summary["phase"] == "done"
    for method in summary["methods"]:
        assert method["confirm"]["finished"] == 2 and method["test"]["completed"] == 2
    runs = [p for p in runs_dir.iterdir() if (p / "status.json").exists()]
    assert len(runs) == 3 + 4
    for run in runs:
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "completed" and status["backend"] == backend
    assert (runs_dir / "studies" / summary["study_id"] / "report" / "report.md").is_file()
    return summary


@pytest.mark.slow
def test_a_study_on_the_local_backend_two_at_a_time(tmp_path, runs_dir, tiny_model_dir,
                                                    toy_data_dir, capsys):
    file = write(tmp_path, _study(tiny_model_dir, toy_data_dir))
    assert main(["study", str(file), "--runs-dir", str(runs_dir), "--backend", "local",
                 "--max-parallel", "2", "--json"]) == 0
    summary = _check(capsys.readouterr().out, runs_dir, "local")
    assert summary["controller"]["backend"] == "local"
    assert summary["controller"]["max_parallel"] == 2


@pytest.fixture(scope="module")
def slurm_up():
    def unavailable(reason):
        if os.environ.get("EMOTUI_REQUIRE_SLURM") == "1":
            pytest.fail(f"EMOTUI_REQUIRE_SLURM=1 but {reason}", pytrace=False)
        pytest.skip(reason)

    if not CLUSTER_SCRIPT.exists() or not shutil.which("sbatch"):
        unavailable("Slurm is not installed (tests/slurm/cluster.sh install)")
    proc = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], check=False,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        unavailable(f"test Slurm cluster cannot start: {lines[-1] if lines else proc.returncode}")


@pytest.mark.slurm
@pytest.mark.slurm_heavy
def test_a_study_on_slurm(tmp_path, runs_dir, tiny_model_dir, toy_data_dir, slurm_up, capsys):
    file = write(tmp_path, _study(tiny_model_dir, toy_data_dir))
    assert main(["study", str(file), "--runs-dir", str(runs_dir), "--backend", "slurm",
                 "--max-parallel", "2", "--json"]) == 0
    _check(capsys.readouterr().out, runs_dir, "slurm")
