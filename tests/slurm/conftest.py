"""Slurm tests run against a real single-node cluster that tests/slurm/cluster.sh brings up.

The session fixture starts it (idempotent: a no-op when it is up, as after `.ci/run`). Where it
cannot start (not root, packages missing and no apt) the tests skip with the script's reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "launch"))  # launch_helpers

SCRIPT = HERE / "cluster.sh"
# CI sets this: there a cluster that does not come up is a failure, not a skip.
REQUIRE = os.environ.get("EMOTUI_REQUIRE_SLURM") == "1"


def _unavailable(reason: str):
    if REQUIRE:
        pytest.fail(f"EMOTUI_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster():
    """Start the test cluster (install first when running as root and it is missing)."""
    if shutil.which("bash") is None:
        _unavailable("bash not found")
    steps = ["start"] if shutil.which("sbatch") else (["install", "start"] if os.geteuid() == 0
                                                        else [])
    if not steps:
        _unavailable("Slurm is not installed and installing it needs root: "
                    "sudo bash tests/slurm/cluster.sh install && sudo bash tests/slurm/cluster.sh start")
    for step in steps:
        proc = subprocess.run(["bash", str(SCRIPT), step], capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            _unavailable(f"test Slurm cluster cannot {step}: {lines[-1] if lines else proc.returncode}")
    return True


@pytest.fixture(autouse=True)
def _needs_cluster(request):
    if request.node.get_closest_marker("slurm"):
        request.getfixturevalue("slurm_cluster")


@pytest.fixture
def slurm_runs_dir(tmp_path):
    """A run store the jobs can write to (same machine: tmp is fine)."""
    path = tmp_path / "runs"
    path.mkdir()
    return path
