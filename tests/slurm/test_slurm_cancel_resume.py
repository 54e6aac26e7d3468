"""Cancel, then resume at once, on the real Slurm cluster (see
tests/launch/test_cancel_resume_race.py for the local and inline backends)."""

from __future__ import annotations

import subprocess

import pytest
from launch_helpers import new_run, toy_config
from race_helpers import check_metrics_have_no_repeated_step, cycle, processes_of

from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.launch import runs


@pytest.mark.slurm
@pytest.mark.slurm_heavy
def test_cancel_then_resume_at_once_slurm(slurm_runs_dir, tiny_model_dir, toy_data_dir):
    """Slurm: the run reads `cancelled` as soon as scancel is sent, while the job still saves
    its checkpoint: the resume must wait for the job to leave the queue."""
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2000)
    paths = new_run(slurm_runs_dir, config, "slurm")
    runs.submit(paths, backend="slurm")

    def slurm_trainers(run: RunPaths) -> list[int]:
        # A Slurm job of the run is one python process of submitit's (srun wraps it).
        return processes_of(run, "submitit", program="python")

    try:
        cycle(paths, 5, resume=lambda p: runs.resume(p, backend="slurm"),
              trainers=slurm_trainers, stop_timeout=240)
    finally:
        job = read_status(paths).get("job_id")
        if job:
            subprocess.run(["scancel", str(job)], check=False)
    check_metrics_have_no_repeated_step(paths)
