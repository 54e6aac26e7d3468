"""What the one owner of starting, resuming, cancelling and deleting (launch.runs) keeps true:
a stale attempt's writes are dropped, a live run is never deleted, cancel acts on what lives,
a job whose folder vanished recreates nothing, and run files carry a format version."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time

import pytest
from launch_helpers import describe, new_run, toy_config, train_steps, wait_until

from emotui.core.claim import claim_run
from emotui.core.errors import ConfigError
from emotui.core.lifecycle import RunState, begin_attempt, end_run, mark_cancelled
from emotui.core.processes import process_alive, process_identity
from emotui.core.results import shown_state, summarize
from emotui.core.runstore import RunStore, atomic_write_json
from emotui.core.schema import SCHEMA_KEY, STATUS_SCHEMA
from emotui.core.status import (
    StaleAttempt,
    check_fence,
    hold_attempt,
    read_status,
    update_status,
    write_status,
)
from emotui.launch import get_backend, runs
from emotui.launch.base import read_exit, write_exit


@pytest.fixture
def sleeper():
    """A live process that is not emotui: stands in for a job that is still stopping."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                            start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def hold_claim_for(paths, proc) -> None:
    """Make ``proc`` the holder of the run's claim, as a job that still trains it would be."""
    record = dict(process_identity(proc.pid), token="stand-in", since=time.time())
    paths.claim.write_text(json.dumps(record))


def test_each_start_is_a_new_attempt_and_an_older_ones_writes_are_dropped(
        runs_dir, tiny_model_dir, toy_data_dir, caplog):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir))
    assert read_status(paths)["attempt"] == 1
    mark_cancelled(paths, "cancelled by user")
    with claim_run(paths):
        begin_attempt(paths)  # a resume: attempt 2, which this process now holds
    assert read_status(paths)["attempt"] == 2 and read_status(paths)["state"] == "queued"
    # A delayed writer of attempt 1 (a dying job's last status write, a canceller's ending):
    # dropped, logged, and the record stays attempt 2's.
    with caplog.at_level(logging.WARNING, logger="emotui"):
        late = update_status(paths, {"state": "cancelled", "reason": "late"}, fence=1)
        ended = end_run(paths, RunState.CANCELLED, "cancelled by user", fence=1)
    assert not late.written and ended["state"] == "queued"
    assert read_status(paths)["state"] == "queued" and read_status(paths)["attempt"] == 2
    assert "dropped a status write from attempt 1 (the run is at attempt 2)" in caplog.text
    # This process's own writes (attempt 2) go in.
    assert write_status(paths, phase="starting")["phase"] == "starting"
    # A process still holding attempt 1 is stopped before it writes metrics, results or its
    # exit record.
    hold_attempt(paths, 1)
    with pytest.raises(StaleAttempt, match="started again \\(attempt 2\\)"):
        check_fence(paths)
    assert write_exit(paths, outcome="cancelled", exit_code=143) is False
    assert read_exit(paths) is None
    hold_attempt(paths, 2)
    check_fence(paths)


def test_two_starters_cannot_both_take_the_next_attempt(runs_dir, tiny_model_dir,
                                                        toy_data_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir))
    mark_cancelled(paths, "cancelled by user")
    # Another starter got attempt 2 between our read of the record and our write.
    atomic_write_json(paths.status, dict(read_status(paths), attempt=2))
    from emotui.core import lifecycle

    real = lifecycle.read_status
    calls = iter([{"attempt": 1, "state": "cancelled"}])

    def first_read_is_old(p):
        return next(calls, None) or real(p)

    lifecycle.read_status = first_read_is_old
    try:
        with pytest.raises(Exception, match="started by another process meanwhile"):
            begin_attempt(paths)
    finally:
        lifecycle.read_status = real
    assert read_status(paths)["attempt"] == 2


def test_delete_refuses_a_run_with_a_live_process(runs_dir, tiny_model_dir, toy_data_dir,
                                                  sleeper):
    store = RunStore(runs_dir)
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    mark_cancelled(paths, "cancelled by user")
    hold_claim_for(paths, sleeper)
    assert runs.live_processes(paths) == [f"pid {sleeper.pid} on {os.uname().nodename}"]
    with pytest.raises(ConfigError, match="still has a live process .*emotui cancel"):
        runs.delete(store, paths)
    assert paths.root.is_dir()
    # The row says so too.
    row = summarize(paths)
    assert row["status"] == "cancelled" and shown_state(row) == "cancelled (still stopping)"
    sleeper.kill()
    sleeper.wait()
    runs.delete(store, paths)
    assert not paths.root.exists()


def test_cancel_stops_a_live_process_whatever_the_record_says(runs_dir, tiny_model_dir,
                                                              toy_data_dir, sleeper):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    mark_cancelled(paths, "cancelled by user")
    hold_claim_for(paths, sleeper)
    notes = runs.cancel([paths])
    assert notes == [(paths.run_id, f"stopped its live process (pid {sleeper.pid} on "
                                    f"{os.uname().nodename}); it stays cancelled")]
    sleeper.wait(timeout=30)
    assert not process_alive(process_identity(sleeper.pid) | {"pid": sleeper.pid})
    # Nothing lives any more: now there is nothing to cancel.
    paths.claim.unlink(missing_ok=True)
    assert runs.cancel([paths]) == [(paths.run_id, "already cancelled; nothing to cancel")]


def test_resume_waits_for_the_previous_process_then_refuses_in_one_line(
        runs_dir, tiny_model_dir, toy_data_dir, sleeper):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    mark_cancelled(paths, "cancelled by user")
    hold_claim_for(paths, sleeper)
    told = []
    started = time.monotonic()
    with pytest.raises(Exception, match="is still stopping .* after 2 s; try again in a "
                                        "moment, or stop it with: emotui cancel"):
        runs.resume(paths, backend="local", wait_s=2, on_wait=told.append)
    assert time.monotonic() - started >= 2
    assert told and told[0] == [f"pid {sleeper.pid} on {os.uname().nodename}"]
    # Nothing was started or written: still cancelled, still attempt 1.
    status = read_status(paths)
    assert (status["state"], status["attempt"]) == ("cancelled", 1)


def test_a_job_whose_folder_vanished_stops_without_recreating_it(runs_dir, tiny_model_dir,
                                                                 toy_data_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=400),
                    "local")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    job = subprocess.Popen([sys.executable, "-m", "emotui.launch.job", str(paths.root),
                            "--attempt", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, start_new_session=True)
    try:
        wait_until(lambda: train_steps(paths), 240, "training to write metrics")
        import shutil

        # Gone at once: a rename out of the store, then the delete (rmtree alone races the
        # job's writes: a file it creates meanwhile fails the rmdir with "not empty").
        gone = runs_dir.parent / f"deleted-{paths.run_id}"
        os.rename(paths.root, gone)
        shutil.rmtree(gone, ignore_errors=True)
        _out, err = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 1
    assert "was deleted; this process stops without recreating it" in err, err[-2000:]
    time.sleep(0.5)
    assert not paths.root.exists()


def test_a_stale_job_leaves_the_run_to_the_newer_attempt(runs_dir, tiny_model_dir,
                                                         toy_data_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    mark_cancelled(paths, "cancelled by user")
    with claim_run(paths):
        begin_attempt(paths)  # attempt 2 was started; a job for attempt 1 starts late
    before = read_status(paths)
    proc = subprocess.run([sys.executable, "-m", "emotui.launch.job", str(paths.root),
                           "--attempt", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "was started again (attempt 2)" in paths.stderr.read_text(), describe(paths)
    after = read_status(paths)
    assert {k: after[k] for k in ("state", "attempt", "updated")} == \
        {k: before[k] for k in ("state", "attempt", "updated")}
    assert not paths.metrics.exists() and read_exit(paths) is None


def test_run_files_carry_a_format_version_and_a_newer_one_is_reported(runs_dir, tiny_model_dir,
                                                                      toy_data_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir))
    assert read_status(paths)[SCHEMA_KEY] == STATUS_SCHEMA
    row = summarize(paths)
    assert row["status"] == "queued"
    atomic_write_json(paths.status, dict(read_status(paths), **{SCHEMA_KEY: STATUS_SCHEMA + 1}))
    row = summarize(paths)
    assert row["status"] == "unreadable"
    assert row["reason"] == (f"status.json has format version {STATUS_SCHEMA + 1}, newer than "
                             f"this emotui reads ({STATUS_SCHEMA}): upgrade emotui to read it")


def test_a_run_without_its_config_lists_as_unreadable(runs_dir, tiny_model_dir, toy_data_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir))
    end_run(paths, RunState.COMPLETED, None)
    paths.config.unlink()
    row = summarize(paths)
    assert (row["status"], row["reason"]) == \
        ("unreadable", "no config.yaml (the run's settings are missing)")


def test_every_starter_goes_through_the_owner():
    """The CLI, --seeds, the TUI and sweeps start, resume, cancel and delete runs through
    launch.runs: none of them calls a backend's submit or cancel, or the lifecycle's
    resume, itself."""
    from pathlib import Path

    import emotui

    root = Path(emotui.__file__).parent
    callers = [root / "cli", root / "tui", root / "sweep"]
    offenders = []
    for folder in callers:
        for path in folder.rglob("*.py"):
            text = path.read_text()
            for needle in ("get_backend", "backend.submit", "reopen_for_resume",
                           "begin_attempt", "cancel_runs", "prepare_resume", "store.delete",
                           "create_run", "starting_run", "requeue"):
                if re.search(rf"(?<![\w.])(?<!def ){re.escape(needle)}\(", text):
                    offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []
