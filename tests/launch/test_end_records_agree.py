"""A job killed the instant results.json appears (before it records `completed`) never shows as
`failed` beside a results.json saying `completed`: a reader that finds its process gone records
the end the results prove, and every reader takes a run's state from status.json."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from launch_helpers import new_run, toy_config

from emotui.cli.runs_cmd import show_payload
from emotui.core.lifecycle import RunState, mark_running, record_end, set_state
from emotui.core.results import summarize
from emotui.core.runstore import atomic_write_json, read_json
from emotui.core.status import hold_attempt, read_status
from emotui.launch.monitor import refresh_runs

SMALL = dict(num_train_epochs=1, max_train_samples=32, max_eval_samples=16,
             max_predict_samples=16, logging_steps=1)


def test_a_job_killed_right_after_writing_its_results_reads_completed(
        tiny_model_dir, toy_data_dir, runs_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir, **SMALL), "local")
    # The job, as the local backend starts it, dies by SIGKILL where it would record its end.
    job = textwrap.dedent(f"""
        import os, signal
        import emotui.train.job as job
        job.mark_completed = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        from emotui.launch.job import main
        main([{str(paths.root)!r}, "--attempt", "1"])
    """)
    done = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert read_status(paths)["state"] == "running" and not paths.exit_file.exists()
    assert read_json(paths.results)["status"] == "completed"

    status = refresh_runs([paths])[paths.run_id]
    assert status["state"] == "completed" and not status.get("lost")
    assert read_status(paths)["state"] == "completed"
    assert summarize(paths)["status"] == "completed"
    assert show_payload(paths)["results"]["status"] == "completed"


def _recorded_run(runs_dir, tiny_model_dir, toy_data_dir, *, results_attempt):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    mark_running(paths)
    atomic_write_json(paths.results, {"status": "completed", "attempt": results_attempt,
                                      "test_accuracy": 0.9, "collapse_reason": None})
    hold_attempt(paths, None)  # what a reader holds: no attempt of its own
    return paths


def test_a_reader_records_completed_only_for_the_attempt_that_wrote_the_results(
        runs_dir, tiny_model_dir, toy_data_dir):
    same = _recorded_run(runs_dir, tiny_model_dir, toy_data_dir, results_attempt=1)
    ended = record_end(same, RunState.FAILED, "process ended without an exit record",
                       lost=True, seen=read_status(same))
    assert ended["state"] == "completed" and ended.get("lost") is None
    # results.json of an earlier attempt proves nothing of this one.
    older = _recorded_run(runs_dir, tiny_model_dir, toy_data_dir, results_attempt=0)
    ended = record_end(older, RunState.FAILED, "process ended without an exit record",
                       lost=True, seen=read_status(older))
    assert ended["state"] == "failed" and ended["lost"] is True


def test_readers_trust_the_state_file_over_results_json(runs_dir, tiny_model_dir, toy_data_dir):
    paths = _recorded_run(runs_dir, tiny_model_dir, toy_data_dir, results_attempt=0)
    set_state(paths, RunState.FAILED, reason="killed", fence=1)
    assert json.loads(paths.results.read_text())["status"] == "completed"
    row = summarize(paths)
    assert row["status"] == "failed" and row["test_accuracy"] == 0.9
    payload = show_payload(paths)
    assert payload["status"] == "failed" and payload["results"]["status"] == "failed"
