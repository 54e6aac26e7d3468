"""A run file replaced by a symbolic link to a file outside the store is never written through:
every writer that appends in place refuses it in one line, and a resume refuses before it writes
anything. An atomic replace replaces the link itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from toy_runs import new_run, toy_config

from emotui.core.events import MetricsWriter
from emotui.core.disk_reserve import set_aside_disk_reserve
from emotui.core.lifecycle import RunState, set_state
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import (
    LinkedRunFile,
    RunPaths,
    appended_files,
    atomic_write_json,
    open_for_append,
)
from emotui.core.status import read_status, touch_heartbeat
from emotui.launch import backend_names, runs

OUTSIDE_TEXT = "my notes, outside the store\n"


@pytest.fixture
def outside(tmp_path) -> Path:
    path = tmp_path / "outside" / "notes.log"
    path.parent.mkdir()
    path.write_text(OUTSIDE_TEXT)
    return path


def _linked(path: Path, target: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def _untouched(outside: Path, mtime: float) -> None:
    assert outside.read_text() == OUTSIDE_TEXT and outside.stat().st_mtime == mtime


@pytest.fixture
def run(runs_dir, tiny_model_dir, toy_data_dir) -> RunPaths:
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "local")
    set_state(paths, RunState.FAILED, reason="killed")
    return paths


def test_every_appending_writer_refuses_a_link(run, outside):
    mtime = outside.stat().st_mtime
    for path in appended_files(run):
        _linked(path, outside)
        with pytest.raises(LinkedRunFile, match=f"{path.name} is a symbolic link to {outside}; "
                                                "emotui writes a run's files only inside"):
            open_for_append(path).close()
        path.unlink()
    _linked(run.metrics, outside)
    with pytest.raises(LinkedRunFile):
        MetricsWriter(run.metrics)
    for log in (run.stdout, run.stderr):
        _linked(log, outside)
        with pytest.raises(LinkedRunFile):
            RunLogFiles(run)
        log.unlink()
    _untouched(outside, mtime)


def test_the_heartbeat_and_the_disk_reserve_never_write_through_a_link(run, outside):
    mtime = os.stat(outside).st_mtime
    os.utime(outside, (mtime - 100, mtime - 100))
    mtime = outside.stat().st_mtime
    _linked(run.heartbeat, outside)
    touch_heartbeat(run)  # the link's own time, never its target's
    run.disk_reserve.unlink(missing_ok=True)
    dangling = outside.with_name("reserve")
    _linked(run.disk_reserve, dangling)
    set_aside_disk_reserve(run)
    assert not dangling.exists()
    _untouched(outside, mtime)


def test_an_atomic_replace_replaces_the_link_itself(run, outside):
    mtime = outside.stat().st_mtime
    _linked(run.exit_file, outside)
    atomic_write_json(run.exit_file, {"outcome": "failed"})
    assert not run.exit_file.is_symlink()
    _untouched(outside, mtime)


def test_a_resume_refuses_a_linked_log_before_writing_anything(run, outside):
    mtime = outside.stat().st_mtime
    _linked(run.stdout, outside)
    before = read_status(run)
    for backend in backend_names():
        with pytest.raises(LinkedRunFile, match="stdout.log is a symbolic link"):
            runs.resume(run, backend=backend, train_here=lambda p: pytest.fail("trained"))
        assert read_status(run) == before
    _untouched(outside, mtime)


def test_the_local_backend_refuses_to_start_a_job_with_a_linked_log(run, outside):
    from emotui.launch import get_backend

    mtime = outside.stat().st_mtime
    _linked(run.stderr, outside)
    with pytest.raises(LinkedRunFile):
        get_backend("local").submit(run)
    _untouched(outside, mtime)


def test_a_slurm_job_redirects_its_output_only_into_the_run_folder(run, outside):
    from emotui.launch.job import _redirect_output

    mtime = outside.stat().st_mtime
    _linked(run.stdout, outside)
    with pytest.raises(LinkedRunFile):
        _redirect_output(run)
    _untouched(outside, mtime)
