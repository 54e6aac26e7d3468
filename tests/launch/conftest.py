"""Fixtures of the launch tests."""

from __future__ import annotations

import os
import stat

import pytest


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """squeue/sacct/sbatch/srun/scancel stand-ins answering from JSON files the test writes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "slurm_state"
    state.mkdir()
    (state / "squeue.txt").write_text("")
    (state / "sacct.txt").write_text("")
    scripts = {
        "squeue": f'echo "$*" >> {state}/squeue.calls\ncat {state}/squeue.txt',
        "sacct": f'echo "$*" >> {state}/sacct.calls\n'
                 f'[ -f {state}/sacct.disabled ] && {{ echo "Slurm accounting storage is '
                 f'disabled" >&2; exit 1; }}\ncat {state}/sacct.txt',
        "scancel": f'echo "$*" >> {state}/scancel.calls',
        "srun": "exit 0",
        "sbatch": "echo Submitted batch job 4242",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    from emotui.launch.slurm import Accounting, SCHEDULER_CALLS

    monkeypatch.setattr(Accounting, "available", None)
    SCHEDULER_CALLS.clear()
    return state
