"""The Slurm backend against a real cluster (tests/slurm/cluster.sh), on tiny-model jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from emotui.core.status import read_status
from emotui.launch import get_backend
from emotui.launch.base import read_exit
from emotui.launch.monitor import cancel_runs, refresh_runs
from emotui.launch.resources import SlurmResources
from emotui.launch.slurm import SCHEDULER_CALLS, squeue_states

from launch_helpers import describe, new_run, toy_config, train_steps, wait_until

pytestmark = pytest.mark.slurm

FINISHED = ("completed", "failed", "cancelled")
# Measurements for the report (submit-to-running latency, calls per poll) land here.
REPORT = os.environ.get("EMOTUI_SLURM_REPORT")


def note(key, value):
    print(f"[measure] {key}: {value}")
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({key: value}) + "\n")


def live(paths):
    return refresh_runs([paths])[paths.run_id]


def wait_finished(paths, timeout=240):
    return wait_until(lambda: live(paths)["state"] in FINISHED, timeout,
                      f"run {paths.run_id} to finish")


def sacct_field(job_id, field):
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", field],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    return out[-1] if out else ""


def fresh_process_view(runs_dir):
    """What a brand-new process sees, knowing only the run store (reattach)."""
    code = textwrap.dedent(f"""
        import json
        from emotui.core.runstore import RunStore
        from emotui.launch.monitor import refresh_runs
        print(json.dumps(refresh_runs(list(RunStore({str(runs_dir)!r})))))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout)


def test_single_job_streams_metrics_and_reattaches(tiny_model_dir, toy_data_dir, slurm_runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=3)
    paths = new_run(slurm_runs_dir, config, "slurm")
    t0 = time.monotonic()
    status = get_backend("slurm").submit(paths, resources=SlurmResources(time=10))
    job_id = status["job_id"]
    assert status["state"] == "queued" and job_id
    wait_until(lambda: squeue_states([job_id]).get(job_id, {}).get("state") == "RUNNING", 60,
               "the job to start")
    note("slurm_submit_to_running_s", round(time.monotonic() - t0, 2))
    wait_until(lambda: live(paths)["state"] == "running", 60, "state running", poll=0.1)
    note("slurm_submit_to_state_running_s", round(time.monotonic() - t0, 2))

    # Metrics stream into the run directory while the job runs.
    wait_until(lambda: train_steps(paths), 120, "metrics while running")
    assert squeue_states([job_id]).get(job_id, {}).get("state") in ("RUNNING", "COMPLETING")
    first = len(train_steps(paths))
    # Reattach: a new process that reads only status.json finds the same job, running.
    view = fresh_process_view(slurm_runs_dir)[paths.run_id]
    assert view["job_id"] == job_id and view["state"] in ("running", "completed")
    wait_finished(paths)
    assert read_status(paths)["state"] == "completed", describe(paths)
    assert len(train_steps(paths)) > first
    assert fresh_process_view(slurm_runs_dir)[paths.run_id]["state"] == "completed"
    # Job name = run id; submitit's script and scheduler logs sit in the run's launch/ folder.
    assert sacct_field(job_id, "JobName") == paths.run_id
    assert (paths.launch / f"{job_id}_0_log.out").exists()
    script = next(paths.launch.glob("*submission.sh")).read_text()
    assert "--time=10" in script and "wckey" not in script
    assert "WANDB_API_KEY" not in script
    assert read_exit(paths)["outcome"] == "completed" and paths.results.exists()


def test_array_of_four_runs_at_most_two_at_once(tiny_model_dir, toy_data_dir, slurm_runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=1)
    runs = [new_run(slurm_runs_dir, config, "slurm") for _ in range(4)]
    statuses = get_backend("slurm").submit_many(runs, resources=SlurmResources(time=10),
                                                max_parallel=2)
    ids = [s["job_id"] for s in statuses]
    assert len({i.split("_")[0] for i in ids}) == 1, "one array"
    most = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        queue = squeue_states(ids)
        running = sum(1 for i in ids if queue.get(i, {}).get("state") == "RUNNING")
        most = max(most, running)
        states = refresh_runs(runs)
        if all(states[p.run_id]["state"] in FINISHED for p in runs):
            break
        time.sleep(0.3)
    assert [read_status(p)["state"] for p in runs] == ["completed"] * 4, describe(runs[0])
    assert most == 2, f"at most 2 at once (and the cap was reached), saw {most}"
    for paths in runs:
        assert (paths.launch / "slurm").is_symlink()


def test_cancel_running_job(tiny_model_dir, toy_data_dir, slurm_runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=50)
    paths = new_run(slurm_runs_dir, config, "slurm")
    job_id = get_backend("slurm").submit(paths)["job_id"]
    wait_until(lambda: train_steps(paths), 120, "training steps")
    assert cancel_runs([paths]) == [(paths.run_id, "cancelled")]
    assert read_status(paths)["state"] == "cancelled"
    wait_until(lambda: job_id not in squeue_states([job_id])
               or squeue_states([job_id])[job_id]["state"] == "CANCELLED", 60, "the job to go")
    assert live(paths)["state"] == "cancelled", describe(paths)
    assert sacct_field(job_id, "State").startswith("CANCELLED")
    # The job saved a checkpoint on its way out, so --resume can continue it.
    wait_until(lambda: read_exit(paths), 30, "the exit record")
    assert read_exit(paths)["outcome"] == "cancelled"
    assert paths.resume_state.exists()
    assert cancel_runs([paths])[0][1] == "already cancelled; nothing to cancel"


def test_job_that_raises_is_failed_with_its_error(tiny_model_dir, toy_data_dir, slurm_runs_dir,
                                                   tmp_path):
    bad = tmp_path / "bad_train.jsonl"
    bad.write_text("".join(json.dumps({"text": f"x {i}", "emotion": 1}) + "\n" for i in range(20)))
    config = toy_config(tiny_model_dir, toy_data_dir, train_file=str(bad))
    paths = new_run(slurm_runs_dir, config, "slurm")
    job_id = get_backend("slurm").submit(paths)["job_id"]
    wait_finished(paths)
    status = read_status(paths)
    assert status["state"] == "failed", describe(paths)
    assert "label" in status["reason"]  # the exception's last line, not a generic message
    assert read_exit(paths)["outcome"] == "failed"
    assert "Traceback" in paths.stderr.read_text()
    wait_until(lambda: sacct_field(job_id, "State") == "FAILED", 30, "sacct FAILED")


def test_sigkill_is_detected(tiny_model_dir, toy_data_dir, slurm_runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=50)
    paths = new_run(slurm_runs_dir, config, "slurm")
    job_id = get_backend("slurm").submit(paths)["job_id"]
    wait_until(lambda: train_steps(paths), 120, "training steps")
    os.kill(read_status(paths)["pid"], signal.SIGKILL)
    wait_until(lambda: squeue_states([job_id]).get(job_id, {}).get("state")
               not in ("RUNNING", "COMPLETING"), 60, "the job to leave RUNNING")
    state = live(paths)  # one poll after the scheduler noticed
    assert state["state"] == "failed", describe(paths)
    # sacct: FAILED, exit code 9; srun's log: "task 0: Killed".
    assert "Killed" in state["reason"] or "SIGKILL" in state["reason"], state["reason"]
    assert read_exit(paths) is None


def test_scontrol_requeue_resumes_from_checkpoint(tiny_model_dir, toy_data_dir, slurm_runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=50, max_steps=70)
    paths = new_run(slurm_runs_dir, config, "slurm")
    job_id = get_backend("slurm").submit(paths)["job_id"]
    wait_until(lambda: len(train_steps(paths)) >= 5, 120, "training steps")
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    wait_until(lambda: read_exit(paths) or read_status(paths).get("state") != "running", 30,
               "the first attempt to stop")
    stopped = read_status(paths)
    wait_finished(paths, timeout=300)
    status = read_status(paths)
    assert status["state"] == "completed", describe(paths)
    assert status["attempts"] >= 2, "a second attempt ran"
    assert stopped["state"] in ("preempted", "queued"), stopped
    steps = train_steps(paths)
    assert steps == list(range(2, 71, 2)), f"continuous metrics, got {steps}"
    assert "resumed at step" in paths.stderr.read_text() + paths.stdout.read_text()


def test_one_squeue_per_poll_for_100_jobs(slurm_runs_dir, tmp_path):
    """100 held sleep jobs tracked: one refresh costs one squeue; once they have left the
    queue, one squeue + one sacct."""
    from emotui.core.runstore import RunStore
    from emotui.core.status import write_status

    store = RunStore(slurm_runs_dir)
    runs = []
    for _ in range(100):
        out = subprocess.run(["sbatch", "--parsable", "--hold", "--output=/dev/null",
                              "--wrap", "sleep 30"], capture_output=True, text=True, check=True)
        paths = store.create("full")
        write_status(paths, state="queued", backend="slurm", job_id=out.stdout.strip().split(";")[0])
        runs.append(paths)
    try:
        SCHEDULER_CALLS.clear()
        t0 = time.monotonic()
        states = refresh_runs(list(store))
        note("poll_100_jobs_seconds", round(time.monotonic() - t0, 3))
        note("scheduler_calls_per_poll_100_queued", dict(SCHEDULER_CALLS))
        assert dict(SCHEDULER_CALLS) == {"squeue": 1}
        assert {s["state"] for s in states.values()} == {"queued"}
        assert all("JobHeldUser" in s["reason"] for s in states.values())
    finally:
        subprocess.run(["scancel", *[read_status(p)["job_id"] for p in runs]], check=False)
    wait_until(lambda: not any(s["state"] == "PENDING" for s in
                               squeue_states([read_status(p)["job_id"] for p in runs]).values()),
               30, "the jobs to be cancelled")
    SCHEDULER_CALLS.clear()
    states = refresh_runs(list(store))
    note("scheduler_calls_per_poll_100_left_queue", dict(SCHEDULER_CALLS))
    assert dict(SCHEDULER_CALLS) == {"squeue": 1, "sacct": 1}
    assert {s["state"] for s in states.values()} == {"cancelled"}
    SCHEDULER_CALLS.clear()
    refresh_runs(list(store))
    assert dict(SCHEDULER_CALLS) == {}, "finished runs cost no scheduler call"
