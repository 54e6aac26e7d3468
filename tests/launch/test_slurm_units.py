"""Slurm backend logic without a cluster: resources, the sbatch script, and the state mapping
driven by fake squeue/sacct commands on PATH (each call counted)."""

from __future__ import annotations

import json
import textwrap

import pytest

from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore
from emotui.core.status import read_status, write_status
from emotui.launch.base import mark_cancel_requested, write_exit
from emotui.launch.monitor import refresh_runs
from emotui.launch.resources import SlurmResources, merge_resources, parse_mem, parse_time_minutes


@pytest.mark.parametrize("text,minutes", [
    (90, 90), ("90", 90), ("90m", 90), ("4h", 240), ("1d", 1440), ("04:00:00", 240),
    ("30:30", 31), ("1-02", 1560), ("1-02:30", 1590), ("2-00:00:00", 2880),
])
def test_time_limits(text, minutes):
    assert parse_time_minutes(text) == minutes


@pytest.mark.parametrize("bad", ["1x", "-5", "0", "", "4:xx"])
def test_bad_time_limits_are_one_line_errors(bad):
    with pytest.raises(ConfigError, match="slurm time"):
        parse_time_minutes(bad)


def test_memory():
    assert parse_mem("32G") == "32G" and parse_mem(16) == "16G" and parse_mem("4000mb") == "4000M"
    with pytest.raises(ConfigError, match="16G"):
        parse_mem("lots")


def test_precedence_user_file_then_config_section_then_flags(tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text(textwrap.dedent("""
        slurm:
          partition: cpu
          account: lab
          time: 60
          setup: ["module load cuda"]
          sbatch_args: {mail-type: END, exclusive: true}
    """))
    monkeypatch.setenv("EMOTUI_CONFIG", str(user))
    from emotui.launch.resources import resources_from_sources

    res = resources_from_sources({"partition": "gpu", "gpus": 1, "setup": "source venv/bin/activate"},
                                 {"time": "02:00:00", "sbatch_args": ["mail-type=FAIL"]})
    assert res.partition == "gpu"  # --config section beats the user file
    assert res.account == "lab"  # the user file fills what nothing else sets
    assert res.time == 120  # flags win
    assert res.gpus == 1
    assert res.setup == ["module load cuda", "source venv/bin/activate"]
    assert res.sbatch_args == {"mail-type": "FAIL", "exclusive": True}


@pytest.mark.parametrize("layer,message", [
    ({"partiton": "gpu"}, "did you mean 'partition'"),
    ({"sbatch_args": ["job-name=x"]}, "emotui sets --job-name itself"),
    ({"gpus": "two"}, "positive integer"),
    ({"gpus": 1, "gres": "gpu:1"}, "gpus and gres both set"),
    ({"setup": ["a\nb"]}, "one-line shell commands"),
])
def test_bad_slurm_settings(layer, message):
    with pytest.raises(ConfigError, match=message):
        merge_resources([("test.yaml", layer)])


def slurm_run(runs_dir, job_id, state="running", **extra):
    paths = RunStore(runs_dir).create("full")
    write_status(paths, state=state, backend="slurm", job_id=job_id, **extra)
    return paths


def test_pending_reason_is_shown_and_kept(fake_slurm, runs_dir):
    (fake_slurm / "squeue.txt").write_text("11|PENDING|Resources|\n12|RUNNING|None|node1\n")
    a = slurm_run(runs_dir, "11", state="queued")
    b = slurm_run(runs_dir, "12", state="queued")
    live = refresh_runs([a, b])
    assert live[a.run_id]["state"] == "queued" and live[a.run_id]["reason"] == "pending: Resources"
    assert read_status(a)["reason"] == "pending: Resources"
    assert live[b.run_id]["state"] == "running"  # the job is starting
    assert read_status(b)["state"] == "queued"  # ...and writes that itself: no race with it
    from emotui.launch.slurm import SCHEDULER_CALLS

    assert dict(SCHEDULER_CALLS) == {"squeue": 1}
    assert "--jobs=11,12" in (fake_slurm / "squeue.calls").read_text()


@pytest.mark.parametrize("sacct_line,state,words", [
    ("21|OUT_OF_MEMORY|0:125|None", "failed", "--mem"),
    ("21|TIMEOUT|0:0|None", "failed", "time limit"),
    ("21|NODE_FAIL|0:0|None", "failed", "node failure"),
    ("21|PREEMPTED|0:0|None", "preempted", "--resume"),
    ("21|CANCELLED by 0|0:0|None", "cancelled", "outside emotui"),
    ("21|FAILED|0:9|None", "failed", "SIGKILL"),
])
def test_jobs_that_left_the_queue(fake_slurm, runs_dir, sacct_line, state, words):
    (fake_slurm / "sacct.txt").write_text(sacct_line + "\n")
    paths = slurm_run(runs_dir, "21")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == state and words in live["reason"]
    assert read_status(paths)["state"] == state  # persisted: the job is gone


def test_without_accounting_exit_file_and_marker_decide(fake_slurm, runs_dir):
    (fake_slurm / "sacct.disabled").write_text("")
    done = slurm_run(runs_dir, "31")
    write_exit(done, outcome="completed", exit_code=0)
    killed = slurm_run(runs_dir, "32")
    cancelled = slurm_run(runs_dir, "33")
    mark_cancel_requested(cancelled)
    live = refresh_runs([done, killed, cancelled])
    assert live[done.run_id]["state"] == "completed"
    assert live[killed.run_id]["state"] == "failed"
    assert "without an exit record" in live[killed.run_id]["reason"]
    assert live[cancelled.run_id]["state"] == "cancelled"
    # sacct said "disabled" once: later polls do not ask it again.
    from emotui.launch.slurm import SCHEDULER_CALLS

    again = slurm_run(runs_dir, "34")
    SCHEDULER_CALLS.clear()
    refresh_runs([again])
    assert dict(SCHEDULER_CALLS) == {"squeue": 1}


def test_missing_from_sacct_waits_for_it(fake_slurm, runs_dir):
    paths = slurm_run(runs_dir, "41")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "running" and "waiting for sacct" in live["reason"]
    write_status(paths, left_queue_at=1.0)  # long ago
    assert refresh_runs([paths])[paths.run_id]["state"] == "failed"


def test_sacct_lagging_behind_squeue_is_not_an_ending(fake_slurm, runs_dir):
    (fake_slurm / "sacct.txt").write_text("45|PENDING|0:0|None\n")
    paths = slurm_run(runs_dir, "45", state="queued")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "queued" and "waiting for sacct" in live["reason"]
    (fake_slurm / "sacct.txt").write_text("45|CANCELLED by 0|0:0|None\n")
    assert refresh_runs([paths])[paths.run_id]["state"] == "cancelled"


def test_requeued_job_pending_again(fake_slurm, runs_dir):
    (fake_slurm / "squeue.txt").write_text("51|PENDING|BeginTime|\n")
    paths = slurm_run(runs_dir, "51", state="preempted")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "queued" and live["reason"] == "requeued, pending: BeginTime"


def test_sbatch_script(fake_slurm, tmp_path):
    from emotui.launch.slurm import _Executor

    res = merge_resources([("flags", {"partition": "gpu", "gpus": 2, "mem": "32G",
                                      "setup": ["module load cuda/12.4"],
                                      "sbatch_args": ["mail-type=END"], "account": "lab"})])
    text = _Executor.make(tmp_path, res, "261126-101010-lora-abcd")._make_submission_file_text(
        "python -m x", "uid")
    assert "#SBATCH --job-name=261126-101010-lora-abcd" in text
    assert "#SBATCH --partition=gpu" in text and "#SBATCH --gpus-per-node=2" in text
    assert "#SBATCH --mem=32G" in text and "#SBATCH --account=lab" in text
    assert "#SBATCH --mail-type=END" in text and "module load cuda/12.4" in text
    assert "--time" not in text  # the partition's default limit applies
    assert "wckey" not in text
    assert "#SBATCH --signal=USR2@90" in text  # submitit's checkpoint-before-timeout signal
    timed = _Executor.make(tmp_path, SlurmResources(time=90), "x")._make_submission_file_text(
        "python -m x", "uid")
    assert "#SBATCH --time=90" in timed


def test_submit_failure_leaves_nothing_and_says_why(fake_slurm, runs_dir, tmp_path):
    (fake_slurm.parent / "bin" / "sbatch").write_text(
        "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid account' >&2\nexit 1\n")
    from emotui.core.errors import BackendError
    from emotui.launch.slurm import SlurmBackend

    paths = RunStore(runs_dir).create("full")
    paths.config.write_text("{}\n")
    with pytest.raises(BackendError, match="Invalid account"):
        SlurmBackend().submit(paths)


def test_cancel_marks_runs_and_makes_one_scancel(fake_slurm, runs_dir):
    from emotui.launch.runs import cancel as cancel_runs

    (fake_slurm / "squeue.txt").write_text("61|RUNNING|None|n\n62|PENDING|Priority|\n")
    a, b = slurm_run(runs_dir, "61"), slurm_run(runs_dir, "62", state="queued")
    done = slurm_run(runs_dir, "63", state="completed")
    notes = dict(cancel_runs([a, b, done]))
    assert notes == {a.run_id: "cancelled", b.run_id: "cancelled",
                     done.run_id: "already completed; nothing to cancel"}
    assert (fake_slurm / "scancel.calls").read_text().split() == ["61", "62"]
    assert read_status(a)["state"] == read_status(b)["state"] == "cancelled"
    assert read_status(done)["state"] == "completed"


def test_results_json_shape_of_run_json_output(fake_slurm, runs_dir, capsys):
    """`emotui run --backend slurm --json` prints {run_id, status, backend, job_id}."""
    from emotui.cli.main import main

    data = runs_dir.parent / "data"
    data.mkdir()
    # Two labels: a single-class training set is refused before the run exists.
    (data / "train.jsonl").write_text("".join(json.dumps({"text": text, "label": label}) + "\n"
                                              for text, label in (("hi", 0), ("bye", 1))))
    code = main(["run", "--runs-dir", str(runs_dir), "--backend", "slurm", "--json",
                 "--train_file", str(data / "train.jsonl"), "--do_eval", "false",
                 "--do_predict", "false", "--time", "10"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) == {"run_id", "status", "backend", "job_id"}
    assert out["backend"] == "slurm" and out["job_id"] == "4242" and out["status"] == "queued"
