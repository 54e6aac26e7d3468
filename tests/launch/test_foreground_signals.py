"""`emotui run` (inline) stopped by SIGTERM, SIGHUP or two Ctrl-C, in a real process.

Training is a stand-in that runs native code (torch) in its thread, as real training does: a
process that shuts down around such a thread aborts (rc 134), which is what a second Ctrl-C
used to do, leaving the run `running`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from launch_helpers import toy_config, wait_until

from emotui.core.runstore import RunStore
from emotui.core.status import read_status

CHILD = textwrap.dedent("""\
    import sys
    from pathlib import Path

    import emotui.train
    from emotui.core.lifecycle import mark_preempted, mark_running
    from emotui.core.runstore import RunPaths
    from emotui.train import Preempted

    mode, marks = sys.argv[1], Path(sys.argv[2])

    def stand_in(config, run_dir, *, resume=False, stop_event=None):
        import torch

        paths = RunPaths(Path(run_dir))
        mark_running(paths)
        x = torch.randn(96, 96)
        (marks / "training").touch()
        while True:
            x = torch.tanh(x @ x)  # a training step: native code
            if stop_event.is_set():
                (marks / "stop-seen").touch()
                if mode == "honours":
                    break
        (paths.checkpoints / "last").mkdir(parents=True, exist_ok=True)
        mark_preempted(paths, "preempted at step 3")
        raise Preempted(str(run_dir), 3)

    emotui.train.train = stand_in
    sys.argv = ["emotui"] + sys.argv[3:]
    from emotui.cli.main import main

    sys.exit(main())
""")


def start(tmp_path: Path, runs_dir: Path, model: Path, data: Path, mode: str):
    marks = tmp_path / "marks"
    marks.mkdir()
    config = toy_config(model, data)
    args = ["run", "--runs-dir", str(runs_dir), "--quiet",
            "--model_name_or_path", config.model_name_or_path,
            "--train_file", config.train_file, "--validation_file", config.validation_file,
            "--test_file", config.test_file]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(marks), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    wait_until(lambda: (marks / "training").exists() or proc.poll() is not None, 120,
               "the stand-in to start training")
    assert proc.poll() is None, proc.communicate()
    return proc, marks


def the_run(runs_dir: Path):
    (paths,) = list(RunStore(runs_dir))
    return paths


@pytest.mark.parametrize("sig,name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")])
def test_sigterm_or_sighup_stops_with_a_checkpoint_and_ends_cancelled(
        sig, name, tmp_path, runs_dir, tiny_model_dir, toy_data_dir):
    proc, _ = start(tmp_path, runs_dir, tiny_model_dir, toy_data_dir, "honours")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    paths = the_run(runs_dir)
    status = read_status(paths)
    assert status["state"] == "cancelled"
    assert status["reason"] == f"interrupted ({name}); resume with: emotui run --resume " \
        f"{paths.run_id}"
    assert paths.checkpoint_last.is_dir()  # the stand-in's checkpoint, saved before it stopped
    assert not paths.claim.exists()


def test_a_second_ctrl_c_exits_at_once_and_leaves_the_run_cancelled(
        tmp_path, runs_dir, tiny_model_dir, toy_data_dir):
    proc, marks = start(tmp_path, runs_dir, tiny_model_dir, toy_data_dir, "stubborn")
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: (marks / "stop-seen").exists(), 60, "the stop request to reach training")
    proc.send_signal(signal.SIGINT)  # training does not stop: the second Ctrl-C must
    second = time.monotonic()
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - second
    assert proc.returncode == 130, err
    assert took < 10, f"took {took:.1f} s to exit"  # bounds a hang; it takes well under 1 s
    assert "terminate called" not in err and "Fatal Python error" not in err
    assert err.strip().splitlines()[-1] == "emotui: interrupted"
    paths = the_run(runs_dir)
    status = read_status(paths)
    assert status["state"] == "cancelled"
    assert status["reason"].startswith("interrupted (Ctrl-C twice: stopped at once, without a "
                                       "new checkpoint); resume with: emotui run --resume")
    assert not paths.claim.exists()
