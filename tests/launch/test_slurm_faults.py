"""Slurm under hostile conditions, where a real cluster cannot make the condition (an
unreachable controller, a heartbeat two hours old) or to pin the mapping down: the fake
squeue/sacct/scancel of conftest.fake_slurm. tests/slurm/test_slurm_hostile.py makes the same
conditions real where the test cluster can."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from emotui.cli.main import main
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.core.lifecycle import create_run
from emotui.core.processes import process_identity
from emotui.core.runstore import RunStore
from emotui.core.status import read_status, write_status
from emotui.launch.base import cancel_requested, mark_cancel_requested, read_exit, write_exit
from emotui.launch.monitor import refresh_runs
from emotui.launch.resources import merge_resources, time_limit_warning
from emotui.launch.runs import cancel as cancel_runs

CONTROLLER_DOWN = ("echo 'scancel: error: Kill job error on job id {ids}: Unable to contact slurm "
                   "controller (connect failure)' >&2; exit 1")


def run_with(runs_dir, *, backend="slurm", **status):
    """A run as `emotui run` leaves it (config.yaml + status.json), then ``status``."""
    paths = create_run(RunStore(runs_dir), RunConfig(), backend=backend)
    write_status(paths, **status)
    return paths


def shell(state_dir, name, body):
    path = state_dir.parent / "bin" / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def cli(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- 7: a time limit shorter than Slurm's warning ---------------------------------------------


@pytest.mark.parametrize("limit", [1, "1", "1m", "00:01:00", "0:30"])
def test_a_limit_not_longer_than_the_signal_lead_is_refused(limit):
    with pytest.raises(ConfigError) as info:
        merge_resources([("command line", {"time": limit})])
    message = str(info.value)
    assert "is not longer than the 90 s warning Slurm sends before the limit" in message
    assert "give --time 7 or more" in message and "\n" not in message


def test_a_short_limit_is_a_warning_and_a_long_one_nothing():
    assert "leaves a job 90 s before Slurm's time-limit signal" in time_limit_warning(
        merge_resources([("x", {"time": 3})]))
    assert time_limit_warning(merge_resources([("x", {"time": "04:00:00"})])) is None
    assert time_limit_warning(merge_resources([])) is None


def test_run_with_too_short_a_time_exits_2_before_a_run_exists(fake_slurm, runs_dir, capsys):
    code, out, err = cli(capsys, "run", "--backend", "slurm", "--time", "1", "--runs-dir",
                         str(runs_dir))
    assert code == 2 and out == ""
    assert err.startswith("emotui: error: slurm time (from command line) of 1 min is not "
                          "longer than the 90 s warning") and err.count("\n") == 1
    assert list(runs_dir.iterdir()) == []


class _SubmititHandler:
    """What submitit's signal handler holds: the pickled submission's requeue countdown."""

    class _Delayed:
        def __init__(self, left):
            self._timeout_countdown = left

    def __init__(self, left, timed_out):
        self._delayed = self._Delayed(left)
        self._timed_out = timed_out

    def has_timed_out(self):
        return self._timed_out

    def checkpoint_and_try_requeue(self, signum, frame=None):
        raise AssertionError("not called when the requeue would be refused")


def test_the_job_tells_a_refused_requeue_from_a_granted_one():
    from emotui.launch.job import _requeue_refused

    assert _requeue_refused(_SubmititHandler(0, True).checkpoint_and_try_requeue) \
        == "with no requeue left (the slurm setting max_requeues)"
    assert _requeue_refused(_SubmititHandler(1, True).checkpoint_and_try_requeue) is None
    assert _requeue_refused(_SubmititHandler(0, False).checkpoint_and_try_requeue) is None
    assert _requeue_refused(signal.SIG_DFL) is None  # no submitit: nothing to refuse


def test_a_time_limit_end_is_recorded_as_that(fake_slurm, runs_dir, monkeypatch):
    """The job's side (launch.job._stopped) on USR2 with no requeue left, then a reader."""
    from emotui.launch import job

    paths = run_with(runs_dir, state="preempted", job_id="91",
                     reason="stopped by SIGUSR2 after saving a checkpoint")
    stopper = job._Stopper(paths)
    stopper.signum = signal.SIGUSR2
    stopper.previous[signal.SIGUSR2] = _SubmititHandler(0, True).checkpoint_and_try_requeue
    with pytest.raises(SystemExit) as ended:
        job._stopped(paths, stopper, signal.SIGUSR2)
    assert ended.value.code == 128 + signal.SIGUSR2
    record = read_exit(paths)
    assert record["outcome"] == "timeout" and record["requeue"] is False
    status = read_status(paths)
    assert status["state"] == "failed" and status["reason"].startswith(
        "hit the time limit with no requeue left")
    assert f"emotui run --resume {paths.run_id} --backend slurm --time LONGER" in status["reason"]
    # What sacct says of a job that exited 140 before its limit: FAILED. The record stands.
    (fake_slurm / "sacct.txt").write_text("91|FAILED|140:0|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "failed" and live["reason"] == status["reason"]


def test_a_refusal_by_submitits_own_handler_reads_as_a_time_limit(fake_slurm, runs_dir, tmp_path):
    """The signal came before the job's handler was installed (Python still starting):
    submitit refused the requeue itself, and said so in its log; no exit record."""
    err = tmp_path / "93_0_log.err"
    err.write_text("submitit WARNING (x) - Caught signal SIGUSR2 on node1: this job is timed-out."
                   "\nsubmitit INFO (x) - Job not requeued because: timed-out too many times.\n")
    paths = run_with(runs_dir, state="running", job_id="93", pid=4242, host="node1",
                     scheduler_log=str(tmp_path / "93_0_log.out"), scheduler_log_err=str(err))
    (fake_slurm / "sacct.txt").write_text("93|FAILED|1:0|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "failed" and live["reason"] == (
        "hit the time limit with no requeue left (the slurm setting max_requeues); resume "
        f"with: emotui run --resume {paths.run_id} --backend slurm --time LONGER")


# -- 8: the log folder removed while the job was pending --------------------------------------


def test_a_vanished_log_folder_is_named_not_signal_53(fake_slurm, runs_dir, tmp_path):
    gone = tmp_path / "launch-removed"
    paths = run_with(runs_dir, state="queued", job_id="51", reason="pending: Priority",
                     scheduler_log=str(gone / "51_0_log.out"),
                     scheduler_log_err=str(gone / "51_0_log.err"))
    (fake_slurm / "sacct.txt").write_text("51|FAILED|0:53|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "failed", live
    assert live["reason"] == (f"its log folder {gone} vanished before the job started (Slurm "
                              "could not open its output file there); resume with: emotui run "
                              f"--resume {paths.run_id} --backend slurm")
    assert "signal" not in live["reason"]


def test_a_job_that_ran_is_not_blamed_on_a_folder_removed_later(fake_slurm, runs_dir, tmp_path):
    gone = tmp_path / "launch-removed-after"
    paths = run_with(runs_dir, state="running", job_id="54", pid=4242, host="node1",
                     scheduler_log=str(gone / "54_0_log.out"))
    (fake_slurm / "sacct.txt").write_text("54|FAILED|0:9|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "failed" and "vanished" not in live["reason"], live
    assert "killed by signal 9" in live["reason"]


def test_signal_53_with_the_folder_there_says_the_output_file(fake_slurm, runs_dir, tmp_path):
    paths = run_with(runs_dir, state="queued", job_id="52",
                     scheduler_log=str(tmp_path / "52_0_log.out"))
    (fake_slurm / "sacct.txt").write_text("52|FAILED|0:53|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert "could not open the job's output file" in live["reason"]


# -- 9: scancel of a pending array task outside emotui ----------------------------------------


def test_a_pending_array_task_scancelled_reads_the_arrays_row(fake_slurm, runs_dir):
    paths = run_with(runs_dir, state="queued", job_id="60_2", array_job_id="60")
    # sacct: no row of its own; the array's row for its never-started tasks says CANCELLED.
    (fake_slurm / "sacct.txt").write_text("60_0|RUNNING|0:0|None\n60_[1-2%1]|CANCELLED by 0|"
                                          "0:0|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "cancelled" and live["reason"] == "cancelled outside emotui (scancel)"
    assert "-j 60_2,60 " in (fake_slurm / "sacct.calls").read_text()  # one call for both


def test_a_pending_task_scancelled_alone_is_cancelled_before_it_started(fake_slurm, runs_dir):
    paths = run_with(runs_dir, state="queued", job_id="70_1", array_job_id="70")
    # The array's row lists only the tasks still pending: 1 was removed without ever starting.
    (fake_slurm / "sacct.txt").write_text("70_[0,2-3]|PENDING|0:0|JobHeldUser\n")
    first = refresh_runs([paths])[paths.run_id]
    assert first["state"] == "queued" and "waiting for sacct" in first["reason"]
    write_status(paths, left_queue_at=time.time() - 60)  # past the accounting grace
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "cancelled", live
    assert live["reason"] == "cancelled outside emotui (scancel) before it started"
    assert read_status(paths)["state"] == "cancelled"


def test_array_rows_are_parsed():
    from emotui.launch.slurm import array_indexes

    assert array_indexes("[1-2%1]") == {1, 2}
    assert array_indexes("[0,2-3]") == {0, 2, 3}
    assert array_indexes("[5]") == {5}


# -- 10: a cancel whose scancel fails is pending, said so and retried --------------------------


def test_a_failed_scancel_leaves_a_pending_cancel_said_and_retried(fake_slurm, runs_dir, capsys):
    (fake_slurm / "squeue.txt").write_text("81|PENDING|Priority|\n")
    shell(fake_slurm, "scancel", f'echo "$*" >> {fake_slurm}/scancel.calls\n'
          + CONTROLLER_DOWN.format(ids="81"))
    paths = run_with(runs_dir, state="queued", job_id="81", reason="pending: Priority")
    code, out, err = cli(capsys, "cancel", paths.run_id, "--runs-dir", str(runs_dir))
    assert code == 0 and err == ""
    assert out.startswith(f"{paths.run_id}: cancel pending: scancel failed (scancel: error: "
                          "Kill job error on job id 81: Unable to contact slurm controller")
    assert "the job stops itself when it starts" in out and "retries scancel" in out
    assert cancel_requested(paths)  # the marker is the cancel: it stays
    status = read_status(paths)
    assert status["state"] == "queued" and "Unable to contact" in status["cancel_pending"]
    # The controller unreachable for squeue too: ls says the cancel is pending.
    shell(fake_slurm, "squeue", "echo 'squeue: error: Unable to contact slurm controller' >&2; "
          "exit 1")
    code, out, _ = cli(capsys, "ls", "--runs-dir", str(runs_dir))
    assert "cancel pending: scancel failed" in out
    # squeue back, scancel still failing: the same words, and scancel was tried again.
    shell(fake_slurm, "squeue", f"cat {fake_slurm}/squeue.txt")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "cancelled" and live["reason"].startswith(
        "cancel pending: scancel failed (scancel: error: Kill job error on job id 81"), live
    # Back: the next refresh scancels again, once, and the cancel goes through.
    shell(fake_slurm, "scancel", f'echo "$*" >> {fake_slurm}/scancel.calls')
    live = refresh_runs([paths])[paths.run_id]
    assert (fake_slurm / "scancel.calls").read_text().split() == ["81", "81", "81"]
    assert live["state"] == "cancelled" and live["reason"] == "cancelling"
    assert read_status(paths)["cancel_pending"] is None
    (fake_slurm / "squeue.txt").write_text("")
    (fake_slurm / "sacct.txt").write_text("81|CANCELLED by 0|0:15|None\n")
    live = refresh_runs([paths])[paths.run_id]
    assert live["state"] == "cancelled" and live["reason"] == "cancelled by user"


def test_a_slurm_job_watches_its_cancel_marker(tmp_path):
    """The job side of a pending cancel: SlurmEntry runs with watch_cancel (launch.job)."""
    from unittest import mock

    from emotui.launch import job

    with mock.patch.object(job, "run_job") as run_job:
        job.SlurmEntry(str(tmp_path))()
    assert run_job.call_args.kwargs["watch_cancel"] is True


# -- 11: a hung job shows as hung -------------------------------------------------------------


def _two_hours_stale(paths):
    paths.heartbeat.write_text("")
    old = time.time() - 7200
    os.utime(paths.heartbeat, (old, old))


def test_a_slurm_job_with_a_stale_heartbeat_shows_hung_in_ls_and_show(fake_slurm, runs_dir,
                                                                       capsys):
    (fake_slurm / "squeue.txt").write_text("95|RUNNING|None|node1\n")
    paths = run_with(runs_dir, state="running", job_id="95", host="node1", pid=4242)
    _two_hours_stale(paths)
    code, out, _ = cli(capsys, "ls", "--runs-dir", str(runs_dir), "--json")
    import json

    row = next(r for r in json.loads(out) if r["run_id"] == paths.run_id)
    assert row["status"] == "running"
    assert row["reason"].startswith("no heartbeat for 720") and "(node lost or job hung?)" in \
        row["reason"]
    code, out, _ = cli(capsys, "show", paths.run_id, "--runs-dir", str(runs_dir))
    assert "no heartbeat for 720" in out and "hung?" in out
    assert read_status(paths).get("reason") is None  # shown, never written: the job may wake


def test_a_local_job_with_a_stale_heartbeat_shows_hung(runs_dir, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                               start_new_session=True)
    try:
        paths = run_with(runs_dir, backend="local", state="running", pgid=sleeper.pid,
                         job_id=str(sleeper.pid), **process_identity(sleeper.pid))
        _two_hours_stale(paths)
        code, out, _ = cli(capsys, "show", paths.run_id, "--runs-dir", str(runs_dir))
        assert code == 0 and "running" in out and "no heartbeat for 720" in out \
            and "(hung?)" in out, out
    finally:
        sleeper.kill()
        sleeper.wait()
