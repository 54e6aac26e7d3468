"""The Slurm backend against a real cluster (tests/slurm/cluster.sh), on tiny-model jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from emotui.core.status import read_status
from emotui.launch import get_backend
from emotui.launch.base import read_exit
from emotui.launch.monitor import refresh_runs
from emotui.launch.runs import cancel as cancel_runs
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


def finish_soon(paths, more_steps=20):
    """Rewrite a stopped run's config.yaml so the resumed attempt ends a few steps after the
    checkpoint (the next attempt reads config.yaml afresh). Returns the new max_steps."""
    from emotui.core.config import config_from_yaml, dump_config

    config = config_from_yaml(paths.config)
    last = train_steps(paths)[-1]
    config.max_steps = last + more_steps
    paths.config.write_text(dump_config(config), encoding="utf-8")
    return config.max_steps


class Scenarios:
    """The scenario jobs, all submitted at once so the cluster runs them side by side (the
    tests then act on each in turn: the suite takes about as long as its longest job)."""

    def __init__(self, runs_dir, model_dir, data_dir, tmp_path):
        self.runs_dir = runs_dir
        backend = get_backend("slurm")
        bad = tmp_path / "bad_train.jsonl"
        bad.write_text("".join(json.dumps({"text": f"x {i}", "emotion": 1}) + "\n"
                               for i in range(20)))
        plans = {
            # far too long to end on their own: each test shortens its run once it has stopped
            # it (finish_soon), so the outcome never depends on how fast this machine is
            "requeue": dict(num_train_epochs=500),
            # the time-limit signal (USR2): submitit's checkpoint() + requeue, then resume
            "usr2": dict(num_train_epochs=500),
            "cancel": dict(num_train_epochs=500),  # stopped by the test long before the end
            "sigkill": dict(num_train_epochs=500),
            "single": dict(num_train_epochs=3),
            "raises": dict(train_file=str(bad)),
        }
        self.paths = {}
        # Five jobs share two cores: one thread each (sbatch hands the job this environment).
        saved = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            for name, overrides in plans.items():
                config = toy_config(model_dir, data_dir, **overrides)
                self.paths[name] = paths = new_run(runs_dir, config, "slurm")
                t0 = time.monotonic()
                status = backend.submit(paths, resources=SlurmResources(time=15))
                assert status["state"] == "queued" and status["job_id"], status
                if name == "requeue":
                    job_id = status["job_id"]
                    wait_until(lambda: squeue_states([job_id]).get(job_id, {}).get("state")
                               == "RUNNING", 60, "the first job to start", poll=0.05)
                    note("slurm_submit_to_running_s", round(time.monotonic() - t0, 2))
            # An array of 4 capped at 2 running, submitted alongside; a thread samples squeue.
            self.array = [new_run(runs_dir, toy_config(model_dir, data_dir, num_train_epochs=1),
                                  "slurm") for _ in range(4)]
            statuses = backend.submit_many(self.array, resources=SlurmResources(time=15),
                                           max_parallel=2)
            self.array_ids = [st["job_id"] for st in statuses]
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        self.array_running: list[int] = []
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample_array, daemon=True)
        self._sampler.start()

    def _sample_array(self):
        while not self._sampling.is_set():
            queue = squeue_states(self.array_ids)
            self.array_running.append(sum(1 for i in self.array_ids
                                          if queue.get(i, {}).get("state") == "RUNNING"))
            if queue and all(v["state"] not in ("PENDING", "RUNNING", "CONFIGURING")
                             for v in queue.values()) or not queue:
                return
            time.sleep(0.3)

    def job_id(self, name):
        return read_status(self.paths[name])["job_id"]


@pytest.fixture(scope="module")
def scenarios(slurm_cluster, tiny_model_dir, toy_data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slurm_scenarios")
    runs_dir = tmp / "runs"
    runs_dir.mkdir()
    jobs = Scenarios(runs_dir, tiny_model_dir, toy_data_dir, tmp)
    yield jobs
    jobs._sampling.set()
    ids = [jobs.job_id(n) for n in jobs.paths] + jobs.array_ids
    subprocess.run(["scancel", *ids], capture_output=True, check=False)


def test_single_job_streams_metrics_and_reattaches(scenarios):
    paths = scenarios.paths["single"]
    job_id = scenarios.job_id("single")
    # Metrics stream into the run directory while the job runs.
    wait_until(lambda: train_steps(paths), 180, "metrics while running")
    assert squeue_states([job_id]).get(job_id, {}).get("state") == "RUNNING"
    assert live(paths)["state"] == "running"
    first = len(train_steps(paths))
    # Reattach: a new process that reads only status.json finds the same job, running.
    view = fresh_process_view(scenarios.runs_dir)[paths.run_id]
    assert view["job_id"] == job_id and view["state"] in ("running", "completed")
    wait_finished(paths)
    assert read_status(paths)["state"] == "completed", describe(paths)
    assert len(train_steps(paths)) > first
    assert fresh_process_view(scenarios.runs_dir)[paths.run_id]["state"] == "completed"
    # Job name = run id; submitit's script and scheduler logs sit in the run's launch/ folder.
    assert sacct_field(job_id, "JobName") == paths.run_id
    assert (paths.launch / f"{job_id}_0_log.out").exists()
    script = next(paths.launch.glob("*submission.sh")).read_text()
    assert "--time=15" in script and "wckey" not in script
    assert "WANDB_API_KEY" not in script
    assert read_exit(paths)["outcome"] == "completed" and paths.results.exists()


@pytest.fixture(scope="module")
def requeued(scenarios):
    """Stop both 'requeue' (scontrol requeue: SIGTERM) and 'usr2' (the time-limit signal) mid-
    training, check how each stopped, then let both restart together."""
    jobs = {name: (scenarios.paths[name], scenarios.job_id(name)) for name in ("requeue", "usr2")}
    for name, (paths, job_id) in jobs.items():
        wait_until(lambda: len(train_steps(paths)) >= 5, 180, f"{name}: training steps")
    subprocess.run(["scontrol", "requeue", jobs["requeue"][1]], check=True)
    subprocess.run(["scancel", "--signal=USR2", jobs["usr2"][1]], check=True)
    seen, max_steps = {}, {}
    for name, (paths, job_id) in jobs.items():
        wait_until(lambda: read_exit(paths), 30, f"{name}: the attempt to checkpoint and stop")
        # Slurm holds a requeued job for ~2 minutes (BeginTime); let it start now.
        wait_until(lambda: squeue_states([job_id]).get(job_id, {}).get("state") == "PENDING",
                   60, f"{name}: the job to be pending again")
        seen[name] = (read_exit(paths), live(paths))
        max_steps[name] = finish_soon(paths)
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
    return jobs, seen, max_steps


def test_scontrol_requeue_resumes_from_checkpoint(requeued):
    jobs, seen, max_steps = requeued
    paths, _ = jobs["requeue"]
    exit_record, view = seen["requeue"]
    assert exit_record["outcome"] == "preempted" and exit_record["signal"] == "SIGTERM"
    assert view["state"] == "queued" and "requeued" in view["reason"]
    wait_finished(paths, timeout=300)
    status = read_status(paths)
    assert status["state"] == "completed", describe(paths)
    assert status["starts"] >= 2, "a second attempt ran"
    steps = train_steps(paths)
    assert steps == list(range(2, max_steps["requeue"] + 1, 2)), f"continuous, got {steps}"
    assert "resumed at step" in paths.stderr.read_text() + paths.stdout.read_text()


def test_time_limit_signal_checkpoints_and_requeues_through_submitit(requeued):
    """USR2 is what Slurm sends 90 s before the time limit (submitit's --signal=USR2@90): the
    job checkpoints, then submitit calls SlurmEntry.checkpoint() and requeues it."""
    import submitit

    jobs, seen, max_steps = requeued
    paths, job_id = jobs["usr2"]
    exit_record, view = seen["usr2"]
    assert exit_record["outcome"] == "preempted" and exit_record["signal"] == "SIGUSR2"
    assert exit_record["requeue"] is True and view["state"] == "queued"
    # submitit stored checkpoint()'s submission for the next attempt: same run, resume=True.
    pending = submitit.helpers.DelayedSubmission.load(paths.launch / f"{job_id}_submitted.pkl")
    assert pending.function.run_dir == str(paths.root) and pending.function.resume is True
    wait_finished(paths, timeout=300)
    status = read_status(paths)
    assert status["state"] == "completed", describe(paths)
    assert status["starts"] >= 2
    assert train_steps(paths) == list(range(2, max_steps["usr2"] + 1, 2))


def test_cancel_running_job(scenarios):
    paths = scenarios.paths["cancel"]
    job_id = scenarios.job_id("cancel")
    wait_until(lambda: train_steps(paths), 180, "training steps")
    assert cancel_runs([paths]) == [(paths.run_id, "cancelled")]
    assert read_status(paths)["state"] == "cancelled"
    wait_until(lambda: squeue_states([job_id]).get(job_id, {}).get("state")
               in (None, "CANCELLED"), 60, "the job to go")
    assert live(paths)["state"] == "cancelled", describe(paths)
    wait_until(lambda: sacct_field(job_id, "State").startswith("CANCELLED"), 30, "sacct")
    # The job saved a checkpoint on its way out, so --resume can continue it.
    wait_until(lambda: read_exit(paths), 30, "the exit record")
    assert read_exit(paths)["outcome"] == "cancelled"
    assert paths.resume_state.exists()
    assert cancel_runs([paths])[0][1] == "already cancelled; nothing to cancel"


def test_sigkill_is_detected(scenarios):
    paths = scenarios.paths["sigkill"]
    job_id = scenarios.job_id("sigkill")
    wait_until(lambda: train_steps(paths), 180, "training steps")
    os.kill(read_status(paths)["pid"], signal.SIGKILL)
    wait_until(lambda: squeue_states([job_id]).get(job_id, {}).get("state")
               not in ("RUNNING", "COMPLETING"), 60, "the job to leave RUNNING")
    state = live(paths)  # one poll after the scheduler noticed
    assert state["state"] == "failed", describe(paths)
    # sacct: FAILED, exit code 9; srun's log: "task 0: Killed".
    assert "Killed" in state["reason"] or "SIGKILL" in state["reason"], state["reason"]
    assert read_exit(paths) is None


def test_job_that_raises_is_failed_with_its_error(scenarios):
    paths = scenarios.paths["raises"]
    job_id = scenarios.job_id("raises")
    wait_finished(paths)
    status = read_status(paths)
    assert status["state"] == "failed", describe(paths)
    assert "label" in status["reason"]  # the exception's last line, not a generic message
    assert read_exit(paths)["outcome"] == "failed"
    assert "Traceback" in paths.stderr.read_text()
    wait_until(lambda: sacct_field(job_id, "State") == "FAILED", 30, "sacct FAILED")


def test_array_of_four_runs_at_most_two_at_once(scenarios):
    runs, ids = scenarios.array, scenarios.array_ids
    assert len({i.split("_")[0] for i in ids}) == 1, "one array"
    wait_until(lambda: all(s["state"] in FINISHED for s in refresh_runs(runs).values()), 300,
               "the array to finish")
    scenarios._sampler.join(timeout=10)
    assert [read_status(p)["state"] for p in runs] == ["completed"] * 4, describe(runs[0])
    most = max(scenarios.array_running)
    assert most == 2, f"at most 2 at once (and the cap was reached), saw {most}"
    for paths in runs:
        assert (paths.launch / "slurm").is_symlink()
        assert read_exit(paths)["outcome"] == "completed"


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
    # Left the queue: each poll is one squeue + one sacct until every run is final (slurmdbd
    # may lag a moment behind slurmctld).
    polls = []

    def all_cancelled():
        SCHEDULER_CALLS.clear()
        states = refresh_runs(list(store))
        polls.append(dict(SCHEDULER_CALLS))
        return {s["state"] for s in states.values()} == {"cancelled"}

    wait_until(all_cancelled, 60, "all 100 runs to be cancelled", poll=0.5)
    note("scheduler_calls_per_poll_100_left_queue", polls[0])
    assert all(p == {"squeue": 1, "sacct": 1} for p in polls), polls
    SCHEDULER_CALLS.clear()
    refresh_runs(list(store))
    assert dict(SCHEDULER_CALLS) == {}, "finished runs cost no scheduler call"
