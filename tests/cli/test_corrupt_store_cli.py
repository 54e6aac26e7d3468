"""One broken file never hides the other runs: `ls`, `ls --json`, `compare`, `show` and `logs`
over a store where every file of a run is damaged in every way (tests/core/corrupt_store.py)."""

from __future__ import annotations

import json

import pytest
from core.corrupt_store import build_corrupt_store

from emotui.core.runview import UNREADABLE


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory):
    return build_corrupt_store(tmp_path_factory.mktemp("corrupt") / "runs")


def snapshot(root):
    """Every path and its bytes (or 'dir'): readers must change nothing."""
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


def assert_no_crash(result):
    assert "Traceback" not in result.out + result.err
    assert "internal error" not in result.err, result.err


def test_ls_json_lists_every_run_and_says_why_one_is_unreadable(cli, corrupt):
    before = snapshot(corrupt.root)
    result = cli("ls", "--json", runs_dir=corrupt.root)
    assert_no_crash(result)
    assert result.code == 0, result.err
    rows = {row["run_id"]: row for row in json.loads(result.out)}
    assert set(corrupt.good) | {d.run_id for d in corrupt.damaged} == set(rows)
    for run_id in corrupt.good:
        assert rows[run_id]["status"] == "completed"
        assert rows[run_id]["test_accuracy"] is not None
    for damage in corrupt.damaged:
        row = rows[damage.run_id]
        if damage.makes_unreadable:
            assert row["status"] == UNREADABLE, damage.name
            assert damage.file in row["reason"], (damage.name, row["reason"])
            assert len(row["reason"]) < 400
        else:
            assert row["status"] == "completed", damage.name
    assert snapshot(corrupt.root) == before  # readers never write


def test_ls_table_lists_every_run(cli, corrupt):
    result = cli("ls", runs_dir=corrupt.root)
    assert_no_crash(result)
    assert result.code == 0, result.err
    for run_id in corrupt.good + [d.run_id for d in corrupt.damaged]:
        assert run_id[:20] in result.out


def test_ls_state_unreadable_lists_only_the_broken(cli, corrupt):
    result = cli("ls", "--json", "--state", UNREADABLE, runs_dir=corrupt.root)
    assert result.code == 0, result.err
    listed = {row["run_id"] for row in json.loads(result.out)}
    assert listed == {d.run_id for d in corrupt.damaged if d.makes_unreadable}


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md"])
def test_compare_lists_every_run(cli, corrupt, fmt):
    result = cli("compare", "--format", fmt, runs_dir=corrupt.root)
    assert_no_crash(result)
    assert result.code == 0, result.err
    for run_id in corrupt.good:
        assert run_id[:20] in result.out
    if fmt == "json":
        rows = {row["run_id"]: row for row in json.loads(result.out)}
        assert len(rows) == len(corrupt.good) + len(corrupt.damaged)


def test_compare_sorts_and_filters_around_unreadable_runs(cli, corrupt):
    result = cli("compare", "--format", "json", "--sort", "-test_accuracy", "--filter",
                 "status=completed", runs_dir=corrupt.root)
    assert_no_crash(result)
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert rows[0]["run_id"] == "250101-000000-full-good"


def test_show_every_run(cli, corrupt):
    before = snapshot(corrupt.root)
    for run_id in corrupt.good + [d.run_id for d in corrupt.damaged]:
        for extra in ((), ("--json",)):
            result = cli("show", run_id, *extra, runs_dir=corrupt.root)
            assert_no_crash(result)
            assert result.code == 0, (run_id, result.err)
            if extra:
                json.loads(result.out)
    damage = next(d for d in corrupt.damaged if d.name == "status.json-wrong_types-state")
    shown = cli("show", damage.run_id, runs_dir=corrupt.root)
    assert UNREADABLE in shown.out and "state is 5" in shown.out
    assert snapshot(corrupt.root) == before


def test_logs_of_every_run(cli, corrupt):
    for damage in corrupt.damaged:
        for extra in ((), ("--stderr",)):
            result = cli("logs", damage.run_id, *extra, runs_dir=corrupt.root)
            assert_no_crash(result)
            assert result.code in (0, 2), (damage.name, result.err)
            assert len(result.err.splitlines()) <= 1
