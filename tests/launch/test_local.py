"""The local backend for real: detached tiny-model training processes on this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from emotui.core.status import read_status
from emotui.launch import get_backend
from emotui.launch.base import read_exit
from emotui.core.lifecycle import reopen_for_resume as prepare_resume
from emotui.launch.monitor import refresh_runs
from emotui.launch.runs import cancel as cancel_runs

from launch_helpers import (
    assert_training_log,
    describe,
    live_state,
    new_run,
    toy_config,
    train_steps,
    wait_until,
)

FINISHED = ("completed", "failed", "cancelled")


def _finished(paths):
    return live_state(paths) in FINISHED


@pytest.fixture(scope="module")
def local_jobs(tiny_model_dir, toy_data_dir, tmp_path_factory):
    """Three detached jobs started together (one thread each), so the module costs about one
    job's start-up: 'detached' through a launcher process that exits at once, 'cancel' and
    'sigkill' long enough to be stopped mid-training."""
    runs_dir = tmp_path_factory.mktemp("local_jobs") / "runs"
    runs_dir.mkdir()
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        jobs = {"runs_dir": runs_dir}
        detached = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir,
                                                num_train_epochs=2), "local")
        launcher = textwrap.dedent(f"""
            import json, pathlib
            from emotui.core.runstore import RunPaths
            from emotui.launch import get_backend
            status = get_backend("local").submit(RunPaths(pathlib.Path({str(detached.root)!r})))
            print(json.dumps(status))
        """)
        out = subprocess.run([sys.executable, "-c", launcher], capture_output=True, text=True,
                             timeout=60, check=True)
        jobs["detached"] = (detached, json.loads(out.stdout))
        for name in ("cancel", "sigkill"):
            paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir,
                                                 num_train_epochs=400), "local")
            jobs[name] = (paths, get_backend("local").submit(paths))
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    yield jobs
    for name in ("cancel", "sigkill"):
        try:
            os.killpg(jobs[name][1]["pgid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_detached_run_survives_its_launcher(local_jobs):
    """The launcher was a separate python that submitted and exited at once; the run completes,
    and a third process that reads only the run store reports it."""
    paths, submitted = local_jobs["detached"]
    runs_dir = local_jobs["runs_dir"]
    assert submitted["backend"] == "local" and submitted["pgid"] == submitted["pid"]
    # The launcher has exited; the job lives on in its own session.
    assert os.getsid(submitted["pid"]) == submitted["pid"]
    wait_until(lambda: _finished(paths), 240, "the detached run to finish")
    # A fresh process, knowing nothing but the run store, sees the outcome.
    reader = textwrap.dedent(f"""
        import json
        from emotui.core.runstore import RunStore
        from emotui.launch.monitor import refresh_runs
        store = RunStore({str(runs_dir)!r})
        print(json.dumps(refresh_runs(list(store))))
    """)
    seen = json.loads(subprocess.run([sys.executable, "-c", reader], capture_output=True,
                                     text=True, timeout=60, check=True).stdout)
    assert seen[paths.run_id]["state"] == "completed", describe(paths)
    assert seen[local_jobs["cancel"][0].run_id]["state"] in ("queued", "running")
    assert read_exit(paths)["outcome"] == "completed"
    steps = train_steps(paths)
    assert steps and steps == sorted(set(steps))
    assert paths.results.exists() and paths.stdout.exists()


def test_a_detached_runs_log_is_its_training_log(local_jobs, capsys):
    """`emotui logs RUN` of a finished local run: its start, epochs, test and outcome."""
    from emotui.cli.main import main

    paths, _ = local_jobs["detached"]
    wait_until(lambda: _finished(paths), 240, "the detached run to finish")
    assert main(["logs", "--runs-dir", str(local_jobs["runs_dir"]), paths.run_id]) == 0
    body = assert_training_log(capsys.readouterr().out)
    assert any(b.startswith("job start: run ") for b in body)
    assert "Traceback" not in paths.stdout.read_text()


def test_cancel_then_resume_continues_metrics(local_jobs, tiny_model_dir, toy_data_dir):
    paths, _ = local_jobs["cancel"]
    wait_until(lambda: len(train_steps(paths)) >= 3, 240, "training steps")
    notes = cancel_runs([paths])
    assert notes == [(paths.run_id, "cancelled")]
    status = read_status(paths)
    assert status["state"] == "cancelled", describe(paths)
    assert read_exit(paths)["outcome"] == "cancelled"
    assert paths.resume_state.exists(), "cancel lets the job checkpoint first"
    stopped_at = train_steps(paths)[-1]
    # Cancelling a finished run changes nothing.
    assert cancel_runs([paths]) == [(paths.run_id, "already cancelled; nothing to cancel")]
    assert read_status(paths)["state"] == "cancelled"

    prepare_resume(paths)
    config_short = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=400,
                              max_steps=stopped_at + 6)
    paths.config.write_text(__import__("emotui.core.config", fromlist=["dump_config"])
                            .dump_config(config_short), encoding="utf-8")
    get_backend("local").submit(paths, resume=True)
    wait_until(lambda: _finished(paths), 180, "the resumed run to finish")
    assert read_status(paths)["state"] == "completed", describe(paths)
    steps = train_steps(paths)
    assert steps == sorted(set(steps)), "no step twice"
    assert steps[-1] > stopped_at


def test_sigkill_is_detected_within_one_poll(local_jobs):
    paths, status = local_jobs["sigkill"]
    wait_until(lambda: train_steps(paths), 240, "training steps")
    os.killpg(status["pgid"], signal.SIGKILL)
    wait_until(lambda: read_status(paths).get("pid") and not _alive(status["pid"]), 10, "exit")
    live = refresh_runs([paths])[paths.run_id]  # one poll
    assert live["state"] == "failed"
    assert "without an exit record" in live["reason"]
    assert read_status(paths)["state"] == "failed"  # persisted


def _alive(pid):
    from emotui.launch.base import process_alive

    return process_alive(read_status_for(pid))


def read_status_for(pid):
    import socket

    return {"pid": pid, "host": socket.gethostname()}


def test_failing_job_reports_its_error(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir)
    paths = new_run(runs_dir, config, "local")
    # Break the data after validation: the job itself hits the error.
    (toy_data_dir.parent / "broken").mkdir(exist_ok=True)
    text = paths.config.read_text().replace(str(toy_data_dir / "train.jsonl"),
                                            str(toy_data_dir.parent / "broken" / "nope.jsonl"))
    paths.config.write_text(text)
    get_backend("local").submit(paths)
    wait_until(lambda: _finished(paths), 120, "the job to fail")
    status = read_status(paths)
    assert status["state"] == "failed", describe(paths)
    assert "nope.jsonl" in status["reason"]
    # The job records the failure, then writes exit.json as its very last act.
    wait_until(lambda: read_exit(paths), 30, "the exit record")
    assert read_exit(paths)["outcome"] == "failed"
    last = paths.stdout.read_text().splitlines()[-1]
    assert "failed: " in last and "nope.jsonl" in last


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_resume_refuses_unfinished_or_completed(runs_dir, tiny_model_dir, toy_data_dir, state):
    from emotui.core.errors import EmotuiError
    from emotui.core.status import write_status

    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    write_status(paths, state=state)
    if state == "failed":
        assert prepare_resume(paths)["state"] == "queued"
    else:
        with pytest.raises(EmotuiError, match="only failed, cancelled or preempted"):
            prepare_resume(paths)
