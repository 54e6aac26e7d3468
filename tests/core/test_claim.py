"""core.claim: one process at a time starts or trains a run, across processes and machines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from emotui.core import claim as claim_module
from emotui.core.claim import RunClaimed, claim_run, held_here, read_claim
from emotui.core.runstore import RunPaths, temporary_for


@pytest.fixture
def paths(tmp_path) -> RunPaths:
    root = tmp_path / "runs" / "260101-000000-lora-abcd"
    root.mkdir(parents=True)
    return RunPaths(root)


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def plant(paths: RunPaths, **record) -> None:
    """A claim left by someone else."""
    paths.claim.write_text(json.dumps(dict({"token": "t" * 16}, **record)))


HOLD = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from emotui.core.claim import claim_run
    from emotui.core.runstore import RunPaths
    with claim_run(RunPaths(Path(sys.argv[1]))):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold_elsewhere(paths: RunPaths, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(paths.root), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_held_for_the_block_then_gone(paths):
    with claim_run(paths) as record:
        on_disk = read_claim(paths)
        assert on_disk == record
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["proc_start"] is not None and record["token"]
        assert held_here(paths)
    assert not paths.claim.exists() and not held_here(paths)
    assert not [p for p in paths.root.iterdir()]  # no temporary either


def test_one_process_holds_it_once(paths):
    with claim_run(paths) as outer:
        with claim_run(paths) as inner:  # the CLI claims, then trains in the same process
            assert inner is outer
        assert paths.claim.exists()
    assert not paths.claim.exists()


def test_a_live_holder_elsewhere_is_refused_in_one_line(paths):
    holder = hold_elsewhere(paths, 30)
    try:
        with pytest.raises(RunClaimed) as refused:
            with claim_run(paths):
                pass
        assert str(refused.value) == (f"run {paths.run_id} is already running (pid "
                                      f"{holder.pid} on {socket.gethostname()})")
        assert read_claim(paths)["pid"] == holder.pid  # untouched
    finally:
        holder.kill()
        holder.wait()


def test_waiting_for_a_holder_that_lets_go(paths):
    holder = hold_elsewhere(paths, 0.5)
    try:
        with claim_run(paths, wait_s=30) as record:
            assert record["pid"] == os.getpid()
    finally:
        holder.wait()


def test_a_dead_holder_on_this_machine_is_taken_over(paths):
    plant(paths, pid=dead_pid(), host=socket.gethostname(), proc_start=1)
    with claim_run(paths) as record:
        assert read_claim(paths)["token"] == record["token"]


def test_a_killed_holder_is_taken_over(paths):
    holder = hold_elsewhere(paths, 30)
    holder.kill()  # SIGKILL: its claim stays on disk
    holder.wait()
    assert read_claim(paths)["pid"] == holder.pid
    with claim_run(paths) as record:
        assert read_claim(paths)["token"] == record["token"]


def test_another_machine_s_claim_is_stale_only_without_heartbeat(paths, monkeypatch):
    plant(paths, pid=4242, host="other-node", proc_start=1)
    with pytest.raises(RunClaimed, match=r"already running \(pid 4242 on other-node\)"):
        with claim_run(paths):
            pass
    old = time.time() - claim_module.CLAIM_STALE_S - 5
    os.utime(paths.claim, (old, old))
    with claim_run(paths) as record:
        assert read_claim(paths)["token"] == record["token"]


def test_the_holder_keeps_its_claim_fresh(paths, monkeypatch):
    monkeypatch.setattr(claim_module, "HEARTBEAT_INTERVAL_S", 0.05)
    with claim_run(paths):
        old = time.time() - 1000
        os.utime(paths.claim, (old, old))
        time.sleep(0.5)
        assert time.time() - paths.claim.stat().st_mtime < 5


def test_a_fresh_claim_is_never_broken_for_a_stale_one(paths):
    """Two takers judged the same claim stale; the first replaced it: the second one's break
    must give the fresh claim back, not delete it."""
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "token": "s" * 16}
    fresh = {"pid": os.getpid(), "host": socket.gethostname(), "token": "f" * 16}
    paths.claim.write_text(json.dumps(fresh))
    assert claim_module._break_stale(paths, stale) is False
    assert read_claim(paths) == fresh
    assert [p.name for p in paths.root.iterdir()] == ["claim.json"]


def test_what_killed_writers_left_goes_with_their_claim(paths):
    gone, here = dead_pid(), socket.gethostname()
    leftovers = [paths.root / f".status.json.{here}.{gone}.a1b2c3.tmp",
                 paths.root / f".claim.json.{here}.{gone}.d4e5f6.tmp"]
    in_progress = temporary_for(paths.status)  # this (live) process is writing it
    for path in leftovers + [in_progress]:
        path.write_text("{}")
    plant(paths, pid=gone, host=here, proc_start=1)
    with claim_run(paths):
        assert not any(p.exists() for p in leftovers)
        assert in_progress.exists()


RACE = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from emotui.core.claim import RunClaimed, claim_run
    from emotui.core.runstore import RunPaths
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    try:
        with claim_run(RunPaths(Path(sys.argv[1]))):
            print("won", flush=True)
            time.sleep(2)
    except RunClaimed as exc:
        print("refused", exc, flush=True)
""")


def test_of_processes_claiming_at_the_same_instant_exactly_one_wins(paths):
    start = time.time() + 2.0
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(paths.root), str(start)],
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o.split()[0] for o in outs) == ["refused"] * 5 + ["won"], outs
    assert not paths.claim.exists()
