"""A sweep on the real test Slurm cluster (tests/slurm/cluster.sh): 6 tiny trials, 2 at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sweep_fakes import status

from emotui.cli.main import main

# Minutes on 2 cores (6 jobs, each importing torch): run with -m slurm_heavy.
pytestmark = [pytest.mark.slurm, pytest.mark.slurm_heavy]

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "slurm" / "cluster.sh"


@pytest.fixture(scope="module")
def slurm_up():
    """The launch tests' cluster script (idempotent start); skip where it cannot run."""
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


def test_slurm_sweep_six_trials_two_at_a_time(tmp_path, runs_dir, tiny_model_dir, toy_data_dir,
                                              slurm_up, capsys):
    data = toy_data_dir
    file = tmp_path / "slurm.yaml"
    file.write_text(f"""\
method: grid
metric: {{name: eval/accuracy, goal: maximize}}
parameters:
  learning_rate: {{values: [3.0e-3, 1.0e-3]}}
  seed: {{values: [1, 2, 3]}}
  model_name_or_path: {{value: "{tiny_model_dir}"}}
  train_file: {{value: "{data / 'train.jsonl'}"}}
  validation_file: {{value: "{data / 'validation.jsonl'}"}}
  test_file: {{value: "{data / 'test.jsonl'}"}}
  num_train_epochs: {{value: 1}}
  per_device_train_batch_size: {{value: 32}}
  max_seq_length: {{value: 48}}
""")
    rc = main(["sweep", str(file), "--runs-dir", str(runs_dir), "--backend", "slurm",
               "--max-parallel", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trials"] == 6 and out["finished"] == 6, out["counts"]
    arrays, spans = set(), []
    for row in out["rows"]:
        st = status(runs_dir, row["run_id"])
        assert st["state"] == "completed" and st["backend"] == "slurm"
        assert st["sweep_id"] == out["sweep_id"] and st["max_parallel"] == 2
        arrays.add(st["array_job_id"])
        spans.append((st["started"], st["ended"]))
    assert len(arrays) == 1  # one job array, throttled by %2
    # Never more than two trials running at once.
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2
