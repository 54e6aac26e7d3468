"""Times in the future (a node whose clock runs ahead, a file touched into the future) are never
taken as fresh: a process asks the holder by host/pid/boot id where it can, else judges the time
by whether it changes on its own clock; `run --resume --force` and `sweep resume --force` take
over what cannot be told, with a warning."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from toy_runs import new_run, toy_config

from emotui.core import clock
from emotui.core.claim import RunClaimed, claim_is_stale, claim_run, read_claim
from emotui.core.errors import EmotuiError
from emotui.core.lifecycle import RunState, set_state
from emotui.core.processes import process_identity
from emotui.core.runstore import RunPaths
from emotui.core.status import (
    HEARTBEAT_STALE_S, LOCK_STALE_S, heartbeat_age, read_status, write_status,
)
from emotui.launch import runs

DAY = 86_400.0
ELSEWHERE = {"pid": 4242, "host": "node-with-a-fast-clock", "proc_start": 1, "boot_id": "b"}


class Clock:
    """This process's monotonic clock, wound on by the test."""

    def __init__(self, monkeypatch):
        self.now = 1000.0
        monkeypatch.setattr(clock, "_monotonic", lambda: self.now)
        monkeypatch.setattr(clock, "_seen", {})

    def wind(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def own_clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def paths(tmp_path) -> RunPaths:
    root = tmp_path / "runs" / "260101-000000-lora-abcd"
    root.mkdir(parents=True)
    return RunPaths(root)


def into_the_future(path: Path, seconds: float = DAY) -> None:
    stamp = time.time() + seconds
    os.utime(path, (stamp, stamp))


def test_a_time_ahead_of_ours_has_no_age_and_is_judged_by_change(own_clock):
    now = time.time()
    assert clock.age_of(now - 3) == pytest.approx(3, abs=0.5)
    assert clock.age_of(now + 1) == 0.0  # a fresh write from a clock a little ahead
    assert clock.age_of(now + DAY) is None and clock.ahead_by(now + DAY) > DAY - 10
    stamp = now + DAY
    assert clock.staleness("k", stamp) == 0.0
    own_clock.wind(30)
    assert clock.staleness("k", stamp) == 30.0
    assert clock.staleness("k", stamp + 5) == 0.0  # it changed: its writer lives


def test_a_heartbeat_in_the_future_goes_stale_once_it_stops_changing(paths, own_clock):
    paths.heartbeat.write_text("x")
    into_the_future(paths.heartbeat)
    assert heartbeat_age(paths) == 0.0
    own_clock.wind(HEARTBEAT_STALE_S + 1)
    assert heartbeat_age(paths) == HEARTBEAT_STALE_S + 1
    into_the_future(paths.heartbeat, DAY + 5)  # the job touched it again
    assert heartbeat_age(paths) == 0.0


def test_a_claim_in_the_future_from_another_machine(paths, own_clock):
    paths.claim.write_text(json.dumps(dict(ELSEWHERE, token="t" * 16)))
    into_the_future(paths.claim)
    holder = read_claim(paths)
    assert not claim_is_stale(paths, holder)
    with pytest.raises(RunClaimed, match=r"its claim's time lies \d+ s in the future .*"
                                          r"emotui run --resume \S+ --force"):
        with claim_run(paths):
            pass
    assert claim_is_stale(paths, holder, force=True)
    own_clock.wind(61)  # no change for the stale window of this process's clock: gone
    assert claim_is_stale(paths, holder)
    with claim_run(paths) as record:
        assert record["pid"] == os.getpid()


def test_force_never_overrules_a_live_process_on_this_machine(paths):
    paths.claim.write_text(json.dumps(dict(process_identity(os.getppid()), token="t" * 16)))
    into_the_future(paths.claim)
    assert not claim_is_stale(paths, read_claim(paths), force=True)


def test_a_status_lock_in_the_future_is_broken_once_it_stops_changing(paths, monkeypatch):
    paths.status.write_text("{}")
    paths.status_lock.write_text(json.dumps(ELSEWHERE))
    into_the_future(paths.status_lock)
    started = time.monotonic()
    write_status(paths, note="written")  # waits LOCK_STALE_S of this clock, not a day
    assert LOCK_STALE_S <= time.monotonic() - started < LOCK_STALE_S + 5
    assert read_status(paths)["note"] == "written" and not paths.status_lock.exists()


def test_resume_refuses_a_claim_in_the_future_then_force_takes_it_over(
        runs_dir, tiny_model_dir, toy_data_dir):
    run = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir), "inline")
    set_state(run, RunState.CANCELLED, reason="cancelled by user")
    run.claim.write_text(json.dumps(dict(ELSEWHERE, token="t" * 16)))
    into_the_future(run.claim)
    with pytest.raises(EmotuiError, match=r"still stopping \(pid 4242 on node-with-a-fast-clock"
                                          r"\) after 0 s;.* in the future .*--force"):
        runs.resume(run, backend="inline", wait_s=0.0, train_here=lambda p: "trained")
    assert read_status(run)["state"] == "cancelled"
    warnings: list[str] = []
    assert runs.resume(run, backend="inline", wait_s=0.0, train_here=lambda p: "trained",
                       warn=warnings.append, force=True) == "trained"
    assert warnings[0].startswith(f"run {run.run_id}: --force: taking over the claim of pid "
                                  "4242 on node-with-a-fast-clock, whose time lies ")
    assert read_status(run)["attempt"] == 2


def test_run_force_without_resume_is_refused_in_one_line(runs_dir, capsys):
    from emotui.cli.main import main

    assert main(["--runs-dir", str(runs_dir), "run", "--force"]) == 2
    assert capsys.readouterr().err == ("emotui: error: --force goes with --resume RUN (it takes "
                                       "over a run whose claim's time lies in the future)\n")
