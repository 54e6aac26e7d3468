"""Slurm under hostile conditions, made real on the test cluster (tests/slurm/cluster.sh): a
time limit inside Slurm's warning, a log folder removed while the job pends, a pending array
task scancelled outside emotui, a cancel whose scancel fails, a job stopped with SIGSTOP.
Only the unreachable controller is a stand-in (a failing `scancel` first on PATH): the jobs,
the queue and the accounting are the cluster's. tests/launch/test_slurm_faults.py pins the
same mappings down without a cluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from emotui.cli.main import main
from emotui.core.status import read_status
from emotui.launch import get_backend
from emotui.launch.base import cancel_requested, read_exit
from emotui.launch.monitor import refresh_runs
from emotui.launch.resources import SlurmResources
from emotui.launch.runs import cancel as cancel_runs
from emotui.launch.slurm import squeue_states

from launch_helpers import describe, new_run, toy_config, train_steps, wait_until

pytestmark = pytest.mark.slurm

FINISHED = ("completed", "failed", "cancelled")
HELD = {"hold": True}  # sbatch --hold: pending until `scontrol release`


def live(paths):
    return refresh_runs([paths])[paths.run_id]


def job_state(job_id):
    return squeue_states([job_id]).get(job_id, {}).get("state")


def release(job_id):
    subprocess.run(["scontrol", "release", job_id], check=True, capture_output=True)


@pytest.fixture(scope="module")
def jobs(slurm_cluster, tiny_model_dir, toy_data_dir, tmp_path_factory):
    """Every job of the module submitted at once, so they run side by side."""
    runs_dir = tmp_path_factory.mktemp("slurm_hostile") / "runs"
    runs_dir.mkdir()
    backend = get_backend("slurm")
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    out = {"runs_dir": runs_dir}
    try:
        def submit(name, resources, **overrides):
            paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir, **overrides),
                            "slurm")
            status = backend.submit(paths, resources=resources)
            out[name] = (paths, status["job_id"])

        # 2 min: Slurm's warning (90 s before) comes 30 s in; no requeue left.
        submit("timeout", SlurmResources(time=2, max_requeues=0), num_train_epochs=500)
        submit("logs_gone", SlurmResources(time=15, sbatch_args=HELD))
        submit("pending_cancel", SlurmResources(time=15, sbatch_args=HELD))
        submit("running_cancel", SlurmResources(time=15), num_train_epochs=500)
        submit("hung", SlurmResources(time=15), num_train_epochs=500)
        array = [new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "slurm")
                 for _ in range(3)]
        statuses = backend.submit_many(array, resources=SlurmResources(time=15,
                                                                       sbatch_args=HELD))
        out["array"] = list(zip(array, [s["job_id"] for s in statuses]))
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    yield out
    ids = [v[1] for k, v in out.items() if k not in ("runs_dir", "array")]
    ids += [job_id for _, job_id in out["array"]]
    subprocess.run(["scancel", *ids], capture_output=True, check=False)


@pytest.fixture
def scancel_fails(tmp_path, monkeypatch):
    """slurmctld unreachable, for scancel only: a `scancel` first on PATH that fails as the
    real one does then (the cluster itself stays up for the jobs)."""
    bin_dir = tmp_path / "down"
    bin_dir.mkdir()
    script = bin_dir / "scancel"
    script.write_text("#!/bin/sh\necho \"scancel: error: Kill job error on job id $1: Unable to "
                      "contact slurm controller (connect failure)\" >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_time_limit_inside_the_warning_ends_as_a_time_limit(jobs):
    paths, job_id = jobs["timeout"]
    wait_until(lambda: live(paths)["state"] in FINISHED, 300, "the time-limited job to end")
    status = read_status(paths)
    assert status["state"] == "failed", describe(paths)
    assert status["reason"].startswith("hit the time limit with no requeue left"), status
    assert "--time LONGER" in status["reason"]
    record = read_exit(paths)
    assert record["outcome"] == "timeout" and record["requeue"] is False
    assert status.get("starts") == 1, "submitit was never asked to requeue"


def test_a_log_folder_removed_while_pending_is_named(jobs):
    paths, job_id = jobs["logs_gone"]
    wait_until(lambda: job_state(job_id) == "PENDING", 60, "the held job to pend")
    shutil.rmtree(paths.launch)
    release(job_id)
    wait_until(lambda: live(paths)["state"] in FINISHED, 120, "the job to fail")
    status = read_status(paths)
    assert status["state"] == "failed", describe(paths)
    assert status["reason"].startswith(f"its log folder {paths.launch} vanished before the job "
                                       "started"), status["reason"]
    assert "signal 53" not in status["reason"]


def test_pending_array_tasks_scancelled_outside_emotui(jobs):
    (alone, alone_id), *rest = jobs["array"]
    wait_until(lambda: all(job_state(j) == "PENDING" for _, j in jobs["array"]), 60,
               "the held array to pend")
    # One task alone: sacct keeps no row of it, and its array's row (the tasks still pending)
    # stops listing it. Recorded once sacct has had its grace (ACCOUNTING_GRACE_S), and before
    # the others are cancelled: then the array's row would list it again, as CANCELLED.
    subprocess.run(["scancel", alone_id], check=True)
    wait_until(lambda: live(alone)["state"] == "cancelled", 90, "the lone task to be recorded")
    assert read_status(alone)["reason"] == \
        "cancelled outside emotui (scancel) before it started", describe(alone)
    # The rest together: the array's row for them says CANCELLED.
    subprocess.run(["scancel", *[j for _, j in rest]], check=True)
    wait_until(lambda: all(live(p)["state"] == "cancelled" for p, _ in rest), 60,
               "the tasks cancelled together to be recorded")
    for paths, _ in rest:
        assert read_status(paths)["reason"] == "cancelled outside emotui (scancel)"


def test_a_pending_cancel_whose_scancel_failed_happens_and_is_said(jobs, scancel_fails,
                                                                   capsys):
    paths, job_id = jobs["pending_cancel"]
    wait_until(lambda: job_state(job_id) == "PENDING", 60, "the held job to pend")
    capsys.readouterr()
    assert main(["cancel", paths.run_id, "--runs-dir", str(jobs["runs_dir"])]) == 0
    said = capsys.readouterr()
    assert said.err == "" and "cancel pending: scancel failed" in said.out
    assert "Unable to contact slurm controller" in said.out
    assert cancel_requested(paths) and read_status(paths)["state"] == "queued"
    # The job starts (scancel still failing) and cancels itself, as it was told it would.
    release(job_id)
    wait_until(lambda: job_state(job_id) in (None, "COMPLETED", "FAILED"), 180,
               "the job to start and stop itself")
    wait_until(lambda: live(paths)["state"] == "cancelled" and read_exit(paths), 60,
               "the cancel to be recorded")
    assert read_exit(paths)["outcome"] == "cancelled"
    assert read_status(paths)["reason"] == "cancelled by user", describe(paths)


def test_a_running_job_stops_on_a_pending_cancel(jobs, scancel_fails):
    paths, job_id = jobs["running_cancel"]
    wait_until(lambda: train_steps(paths), 240, "training steps")
    (run_id, note), = cancel_runs([paths])
    assert note.startswith("cancel pending: scancel failed"), note
    wait_until(lambda: read_exit(paths), 120, "the job to stop on its cancel marker")
    assert read_exit(paths)["outcome"] == "cancelled"
    wait_until(lambda: live(paths)["state"] == "cancelled", 60, "the cancel to be recorded")
    assert paths.resume_state.exists(), "it saved a checkpoint on its way out"


def test_a_stopped_job_shows_as_hung(jobs, capsys):
    paths, job_id = jobs["hung"]
    wait_until(lambda: train_steps(paths), 240, "training steps")
    pid = read_status(paths)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        old = time.time() - 7200  # two hours without a heartbeat, without waiting two hours
        os.utime(paths.heartbeat, (old, old))
        capsys.readouterr()
        assert main(["ls", "--json", "--runs-dir", str(jobs["runs_dir"])]) == 0
        row = next(r for r in json.loads(capsys.readouterr().out) if r["run_id"] == paths.run_id)
        assert row["status"] == "running"
        assert row["reason"].startswith("no heartbeat for 720"), row
        assert row["reason"].endswith("(node lost or job hung?)")
        assert main(["show", paths.run_id, "--runs-dir", str(jobs["runs_dir"])]) == 0
        assert "(node lost or job hung?)" in capsys.readouterr().out
    finally:
        os.kill(pid, signal.SIGCONT)
    subprocess.run(["scancel", job_id], check=False)
