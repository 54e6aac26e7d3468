"""The first sbatch after slurmctld starts can fail with "Unable to contact slurm controller"
where the same sbatch a moment later works: emotui retries that failure once, and only that
one (a refused account is not retried)."""

from __future__ import annotations

import pytest

from emotui.core.errors import BackendError
from emotui.core.runstore import RunStore
from emotui.core.status import read_status

CONNECT_FAILURE = ("sbatch: error: Batch job submission failed: Unable to contact slurm "
                   "controller (connect failure)")


def _sbatch(fake_slurm, body: str) -> None:
    (fake_slurm.parent / "bin" / "sbatch").write_text(
        f"#!/bin/sh\necho call >> {fake_slurm}/sbatch.calls\n{body}\n")


def _calls(fake_slurm) -> int:
    path = fake_slurm / "sbatch.calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _run(runs_dir):
    paths = RunStore(runs_dir).create("full")
    paths.config.write_text("{}\n")
    return paths


def test_a_connect_failure_is_retried_once(fake_slurm, runs_dir):
    from emotui.launch.slurm import SlurmBackend

    first = fake_slurm / "failed-once"
    _sbatch(fake_slurm, f"if [ ! -f {first} ]; then touch {first}; echo '{CONNECT_FAILURE}' >&2; "
                        "exit 1; fi\necho Submitted batch job 4343")
    paths = _run(runs_dir)
    SlurmBackend().submit(paths)
    assert _calls(fake_slurm) == 2
    assert read_status(paths)["job_id"] == "4343"


def test_a_controller_that_stays_away_fails_after_one_retry(fake_slurm, runs_dir):
    from emotui.launch.slurm import SlurmBackend

    _sbatch(fake_slurm, f"echo '{CONNECT_FAILURE}' >&2; exit 1")
    with pytest.raises(BackendError, match="Unable to contact slurm controller"):
        SlurmBackend().submit(_run(runs_dir))
    assert _calls(fake_slurm) == 2


def test_other_refusals_are_not_retried(fake_slurm, runs_dir):
    from emotui.launch.slurm import SlurmBackend

    _sbatch(fake_slurm, "echo 'sbatch: error: Batch job submission failed: Invalid account' >&2;"
                        " exit 1")
    with pytest.raises(BackendError, match="Invalid account"):
        SlurmBackend().submit(_run(runs_dir))
    assert _calls(fake_slurm) == 1
