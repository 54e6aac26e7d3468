"""Kills and full disks at every write of the checkpoint and status paths (the tiny model).

A kill is simulated in-process: the k-th write (os.replace, os.rename, torch.save, a checkpoint's
weight files) raises ``Killed`` instead of happening, and from then on every write into the run
directory fails, so nothing the dying "process" would not have done happens (no clean-up, no
failure record). The claim it held is then made a dead process's. After every k, a resume must
continue from a complete checkpoint (the newest one a save finished) and leave a metrics.jsonl
step-for-step identical to an uninterrupted run's.

A full disk is the same, with OSError(ENOSPC) instead of a kill: the run must end failed with a
reason saying the disk was full, the last good checkpoint must stay, no temporary may be left,
`emotui ls` must neither fail nor write, and a resume after space is freed must complete.
The real thing, on a small tmpfs, is test_enospc_on_a_small_tmpfs.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from toy_runs import new_run, toy_config

from emotui.core.checkpoints import MARKER, sealed_step
from emotui.core.events import read_all
from emotui.core.lifecycle import record_failure
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.train import train
from emotui.train import loop as loop_module
from emotui.train.checkpoint import Checkpointer

# 3 epochs of 3 steps: checkpoints/last is saved at steps 3, 6 and 9, best at improving evals.
SMALL = dict(method="lora", num_train_epochs=3, max_train_samples=48, max_eval_samples=24,
             max_predict_samples=24, logging_steps=1, learning_rate=3e-3)


class Killed(BaseException):
    """The process dies here (what SIGKILL does), simulated."""


@dataclass
class Faults:
    """Patches every write into one run directory: records them (main thread), and at the k-th
    one kills the process or fills the disk."""

    root: Path
    kill_at: int | None = None
    full_at: int | None = None
    calls: list[str] = field(default_factory=list)
    dead: bool = False
    full: bool = False

    def _inside(self, *paths: object) -> bool:
        root = str(self.root)
        return any(str(p).startswith(root) for p in paths if isinstance(p, (str, os.PathLike)))

    def point(self, label: str, *paths: object) -> None:
        """A write the simulated process is about to make (a kill or ENOSPC point)."""
        if not self._inside(*paths):
            return
        self.check()
        if threading.current_thread() is not threading.main_thread():
            return  # background threads (ticker, heartbeat) write at times a test cannot fix
        self.calls.append(f"{label}({', '.join(Path(str(p)).name for p in paths)})")
        if len(self.calls) == self.kill_at:
            self.dead = True
            raise Killed(self.calls[-1])
        if len(self.calls) == self.full_at:
            self.full = True
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(paths[-1]))

    def check(self) -> None:
        """Any write after the kill: the dead process does nothing more (background threads
        see an I/O error they already tolerate)."""
        if self.dead:
            if threading.current_thread() is threading.main_thread():
                raise Killed("after the kill")
            raise OSError(errno.EIO, "the process is dead")

    def freed(self, *paths: object) -> None:
        """Deleting the disk reserve or a checkpoint folder frees space."""
        if self._inside(*paths):
            self.full = False

    def install(self, monkeypatch) -> "Faults":
        faults = self
        real = {name: getattr(os, name) for name in
                ("replace", "rename", "unlink", "remove", "rmdir", "link", "mkdir", "utime")}

        def kill_point(name):
            def patched(src, dst, *a, **kw):
                faults.point(f"os.{name}", src, dst)
                return real[name](src, dst, *a, **kw)
            return patched

        def dead_check(name, frees=False):
            def patched(path, *a, **kw):
                if faults._inside(path):
                    faults.check()
                    if frees and Path(str(path)).name == ".disk_reserve":
                        faults.freed(path)
                return real[name](path, *a, **kw)
            return patched

        monkeypatch.setattr(os, "replace", kill_point("replace"))
        monkeypatch.setattr(os, "rename", kill_point("rename"))
        monkeypatch.setattr(os, "link", kill_point("link"))
        for name in ("unlink", "remove"):
            monkeypatch.setattr(os, name, dead_check(name, frees=True))
        for name in ("rmdir", "mkdir", "utime"):
            monkeypatch.setattr(os, name, dead_check(name))

        real_open = builtins.open

        def patched_open(file, mode="r", *a, **kw):
            if any(c in mode for c in "wax+") and faults._inside(file):
                faults.check()
                if faults.full and Path(str(file)).name not in ("stdout.log", "stderr.log"):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
            return real_open(file, mode, *a, **kw)

        monkeypatch.setattr(builtins, "open", patched_open)
        monkeypatch.setattr(io, "open", patched_open)

        real_save = torch.save

        def patched_save(obj, f, *a, **kw):
            faults.point("torch.save", f)
            return real_save(obj, f, *a, **kw)

        monkeypatch.setattr(torch, "save", patched_save)

        real_weights = Checkpointer._write_weights

        def patched_weights(self, folder):
            faults.point("write_weights", folder)
            return real_weights(self, folder)

        monkeypatch.setattr(Checkpointer, "_write_weights", patched_weights)

        from emotui.core import checkpoints

        real_discard = checkpoints.discard

        def patched_discard(folder):
            real_discard(folder)
            faults.freed(folder)

        monkeypatch.setattr(checkpoints, "discard", patched_discard)
        return self


def comparable(events):
    return [(e["split"], e["step"]) for e in events if e["split"] in ("train", "eval", "test")]


def same_values(got, want):
    def scored(events):
        return [e for e in events if e["split"] in ("train", "eval", "test")]

    for a, b in zip(scored(got), scored(want)):
        for key in ("loss", "accuracy"):
            if key in b:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (a, b)


@dataclass
class Baseline:
    config: object
    events: list
    results: dict
    calls: list[str]


@pytest.fixture(scope="module")
def baseline(tiny_model_dir, toy_data_dir, tmp_path_factory) -> Baseline:
    """One uninterrupted run, with the writes it makes recorded (the kill points)."""
    config = toy_config(tiny_model_dir, toy_data_dir, **SMALL)
    runs = tmp_path_factory.mktemp("baseline_runs")
    paths = new_run(runs, config)
    with pytest.MonkeyPatch.context() as mp:
        faults = Faults(paths.root).install(mp)
        results = train(config, paths.root)
    events = read_all(paths.metrics)
    assert comparable(events)[-1] == ("test", 9)
    return Baseline(config, events, results, faults.calls)


def as_if_the_process_died(paths: RunPaths) -> None:
    """The simulated kill left this process's claim and temporaries behind: make them a dead
    process's, as a real kill leaves them (the resume must take them over)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(gone.stdout)
    if paths.claim.exists():
        record = json.loads(paths.claim.read_text())
        record.update(pid=dead, proc_start=None)
        paths.claim.write_text(json.dumps(record))
    mine = f".{socket.gethostname()}.{os.getpid()}."
    for leftover in paths.root.iterdir():
        if mine in leftover.name and leftover.name.endswith(".tmp"):
            leftover.rename(leftover.with_name(
                leftover.name.replace(mine, f".{socket.gethostname()}.{dead}.")))


def complete_checkpoint_step(paths: RunPaths) -> int | None:
    """The step a resume must continue from: checkpoints/last, or when a save was cut between
    its two renames, the newest sealed folder it left."""
    if paths.checkpoint_last.is_dir():
        step = sealed_step(paths.checkpoint_last)
        assert step is not None, "checkpoints/last is always a sealed checkpoint"
        return step
    steps = [sealed_step(p) for p in paths.checkpoints.glob(".last.*")] \
        if paths.checkpoints.is_dir() else []
    steps = [s for s in steps if s is not None]
    return max(steps) if steps else None


def resumed_from(monkeypatch) -> list[int]:
    """The steps TrainingLoop.resume continued from (empty: training started over)."""
    steps: list[int] = []
    real = loop_module.TrainingLoop.resume

    def spy(self):
        real(self)
        steps.append(self.state.global_step)

    monkeypatch.setattr(loop_module.TrainingLoop, "resume", spy)
    return steps


def no_leftovers(paths: RunPaths, *, but_recoverable: bool = False) -> None:
    """No temporary files or folders. ``but_recoverable``: except the complete checkpoint a
    save could not rename back into place (the disk refused even that), which the next start
    recovers."""
    assert not [p.name for p in paths.root.iterdir() if p.name.endswith(".tmp")]
    if not paths.checkpoints.is_dir():
        return
    for p in paths.checkpoints.iterdir():
        if not p.name.startswith("."):
            continue
        name = p.name[1:].split(".")[0]
        recoverable = sealed_step(p) is not None and not (paths.checkpoints / name).exists()
        assert but_recoverable and recoverable, p.name


def test_a_kill_at_any_write_resumes_from_a_complete_checkpoint(baseline, runs_dir):
    """Every kill point of a whole run, one run each, then a resume."""
    publishes = [i for i, c in enumerate(baseline.calls, 1)
                 if c.startswith("os.replace(.last.tmp-") and c.endswith(", last)")]
    assert len(publishes) == 3 and len(baseline.calls) > 30, baseline.calls
    for k, call in enumerate(baseline.calls, 1):
        paths = new_run(runs_dir, baseline.config)
        with pytest.MonkeyPatch.context() as mp:
            Faults(paths.root, kill_at=k).install(mp)
            with pytest.raises(Killed):
                train(baseline.config, paths.root)
        as_if_the_process_died(paths)
        expected = complete_checkpoint_step(paths)
        saved_before = [i for i in publishes if i < k]
        if saved_before:  # a save had finished: its checkpoint (or a newer one) is on disk
            assert expected is not None and expected >= 3 * len(saved_before), (k, call)
        with pytest.MonkeyPatch.context() as mp:
            steps = resumed_from(mp)
            results = train(baseline.config, paths.root, resume=True)
        assert steps == ([expected] if expected is not None else []), (k, call)
        got = read_all(paths.metrics)
        assert comparable(got) == comparable(baseline.events), (k, call)
        same_values(got, baseline.events)
        assert results["test_accuracy"] == pytest.approx(baseline.results["test_accuracy"])
        assert read_status(paths)["state"] == "completed"
        no_leftovers(paths)
        assert not paths.claim.exists() and not paths.disk_reserve.exists()


def store_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*") if p.is_file()}


def kinds_of_write(calls: list[str]) -> list[tuple[int, str]]:
    """(k, call) for the first write of each kind (names without their random parts), and every
    write of the second save of checkpoints/last (the one that replaces an existing last)."""
    seen, chosen = set(), []
    publishes = [i for i, c in enumerate(calls, 1)
                 if c.startswith("os.replace(.last.tmp-") and c.endswith(", last)")]
    previous_save_end = publishes[0]
    for k, call in enumerate(calls, 1):
        kind = re.sub(r"[0-9a-f]{6}|\d+", "*", call)
        if kind not in seen or previous_save_end < k <= publishes[1]:
            seen.add(kind)
            chosen.append((k, call))
    return chosen


def test_a_full_disk_at_any_write_keeps_the_last_good_state(baseline, runs_dir, capsys):
    """ENOSPC at each kind of write of the checkpoint and status paths (the disk stays full
    until the run gives back its reserve or drops a half-written checkpoint)."""
    from emotui.cli.main import main

    for k, call in kinds_of_write(baseline.calls):
        paths = new_run(runs_dir, baseline.config)
        with pytest.MonkeyPatch.context() as mp:
            faults = Faults(paths.root, full_at=k).install(mp)
            try:
                train(baseline.config, paths.root)
            except OSError as exc:
                failed = exc
            else:
                # Only the record of its end met the full disk: the reserve took it.
                assert read_status(paths)["state"] == "completed", (k, call)
                assert paths.results.is_file() and not paths.disk_reserve.exists()
                continue
            assert failed.errno == errno.ENOSPC, (k, call)
            if call.startswith("os.link(.claim.json"):
                # Not even claimed: train() left the run alone, and its caller records the
                # failure (run_inline's report, the job's _fail), as here.
                assert read_status(paths)["state"] == "queued"
                record_failure(paths, failed)
            last = complete_checkpoint_step(paths)
            status = read_status(paths)
            assert status["state"] == "failed", (k, call, status)
            assert status["reason"].startswith("out of disk space"), (k, call, status)
            no_leftovers(paths, but_recoverable=True)
            if paths.checkpoint_last.is_dir():
                assert (paths.checkpoint_last / MARKER).is_file()
            # Readers on the full disk: no failure, nothing written.
            faults.full = True
            before = store_snapshot(runs_dir)
            capsys.readouterr()
            assert main(["ls", "--runs-dir", str(runs_dir)]) == 0, (k, call)
            assert "out of disk space" in capsys.readouterr().out
            assert store_snapshot(runs_dir) == before, (k, call)
        # Space freed: the reason still says what happened, and the run resumes to the end.
        assert main(["ls", "--runs-dir", str(runs_dir)]) == 0
        assert read_status(paths)["reason"].startswith("out of disk space")
        with pytest.MonkeyPatch.context() as mp:
            steps = resumed_from(mp)
            train(baseline.config, paths.root, resume=True)
        assert steps == ([last] if last is not None else []), (k, call)
        assert comparable(read_all(paths.metrics)) == comparable(baseline.events), (k, call)
        no_leftovers(paths)


TMPFS_SCRIPT = textwrap.dedent("""\
    import json, os, subprocess, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from toy_runs import new_run, toy_config
    from emotui.cli.main import main
    from emotui.core.status import read_status
    from emotui.train import train
    from emotui.train.checkpoint import Checkpointer

    runs = Path(sys.argv[1])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(runs)], check=True)
    config = toy_config(Path(sys.argv[2]) / "model", Path(sys.argv[2]) / "data",
                        **json.loads(sys.argv[4]))
    paths = new_run(runs, config)
    filler = runs / "filler"
    saves = []
    real_save_last = Checkpointer.save_last

    def fill_then_save(self, step, state):
        saves.append(step)
        if len(saves) == 2:  # the disk fills up between the first and the second save
            with open(filler, "wb") as fh:
                try:
                    while True:
                        fh.write(b"x" * 4096)
                        fh.flush()
                except OSError:
                    pass
        return real_save_last(self, step, state)

    Checkpointer.save_last = fill_then_save
    out = {}
    try:
        train(config, paths.root)
    except OSError as exc:
        out["error"] = exc.errno
    Checkpointer.save_last = real_save_last
    status = read_status(paths)
    out["state"], out["reason"] = status.get("state"), status.get("reason")
    out["files"] = sorted(str(p.relative_to(paths.root)) for p in paths.root.rglob("*"))
    out["ls_full"] = [main(["ls", "--runs-dir", str(runs)]) for _ in range(2)]
    out["files_after_ls"] = sorted(str(p.relative_to(paths.root)) for p in paths.root.rglob("*"))
    filler.unlink()
    out["ls_freed"] = main(["ls", "--runs-dir", str(runs)])
    out["reason_freed"] = read_status(paths).get("reason")
    results = train(config, paths.root, resume=True)
    out["resumed_state"] = read_status(paths)["state"]
    out["steps"] = [(e["split"], e["step"]) for e in map(json.loads, paths.metrics.read_text()
                    .splitlines()) if e["split"] in ("train", "eval", "test")]
    out["test_accuracy"] = results["test_accuracy"]
    print("RESULT " + json.dumps(out))
""")


def tmpfs_allowed(tmp_path: Path) -> str | None:
    """Why a private tmpfs cannot be mounted here (None: it can)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        done = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c",
                               f"mount -t tmpfs -o size=1m tmpfs {probe}"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare not available: {exc}"
    if done.returncode:
        return f"mounting a tmpfs is not allowed here: {done.stderr.strip()[:200]}"
    return None


def test_enospc_on_a_small_tmpfs(baseline, tiny_model_dir, toy_data_dir, tmp_path):
    """The real thing: a 6 MiB tmpfs in a private mount namespace fills up between two
    checkpoints of a full fine-tuning run (the model is written whole each time)."""
    why = tmpfs_allowed(tmp_path)
    if why:
        pytest.skip(why)
    runs = tmp_path / "runs"
    runs.mkdir()
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "model").symlink_to(tiny_model_dir)
    (assets / "data").symlink_to(toy_data_dir)
    script = tmp_path / "enospc.py"
    script.write_text(TMPFS_SCRIPT)
    tests_dir = Path(__file__).resolve().parents[1]
    overrides = json.dumps(dict(SMALL, method="full"))
    done = subprocess.run(["unshare", "--mount", "--map-root-user", sys.executable, str(script),
                           str(runs), str(assets), str(tests_dir), overrides],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["error"] == errno.ENOSPC
    assert out["state"] == "failed" and out["reason"].startswith("out of disk space"), out
    # The last good checkpoint stays; nothing temporary is left.
    assert "checkpoints/last/checkpoint.json" in out["files"], out["files"]
    assert not [f for f in out["files"] if f.endswith(".tmp") or "/." in f or f[0] == "."], \
        out["files"]
    # Readers on the full disk neither fail nor write.
    assert out["ls_full"] == [0, 0]
    assert out["files_after_ls"] == out["files"]
    # Space freed: the reason still says what happened; the resume completes, every step once.
    assert out["ls_freed"] == 0 and out["reason_freed"].startswith("out of disk space")
    assert out["resumed_state"] == "completed"
    # Same schedule as the baseline (another method): every step once, none missing.
    assert [tuple(step) for step in out["steps"]] == comparable(baseline.events)
