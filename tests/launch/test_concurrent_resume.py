"""Two `emotui run --resume RUN` at the same moment: exactly one trains the run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from launch_helpers import new_run, toy_config, wait_until
from toy_runs import StopAtStep

from emotui.core.events import read_all
from emotui.core.status import read_status
from emotui.train import Preempted, train


def test_two_resumes_at_once_one_trains_the_other_is_refused(runs_dir, tiny_model_dir,
                                                             toy_data_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=60)
    paths = new_run(runs_dir, config)
    with pytest.raises(Preempted):
        train(config, paths.root, stop_event=StopAtStep(5))
    command = [sys.executable, "-m", "emotui", "run", "--resume", paths.run_id, "--runs-dir",
               str(runs_dir), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    refused = wait_until(lambda: next((p for p in procs if p.poll() is not None), None), 300,
                         "one of the two resumes to give up")
    out, err = refused.communicate()
    (winner,) = [p for p in procs if p is not refused]
    assert refused.returncode == 2, err
    assert err.strip() == (f"emotui: error: run {paths.run_id} is already running (pid "
                           f"{winner.pid} on {socket.gethostname()})")
    assert winner.poll() is None  # still training
    # The one that trains stops on Ctrl-C with a checkpoint, as any inline run.
    wait_until(lambda: read_status(paths).get("state") == "running", 300, "training to start")
    time.sleep(0.5)
    winner.send_signal(signal.SIGINT)
    winner.communicate(timeout=120)
    assert winner.returncode == 130
    status = read_status(paths)
    assert status["state"] == "cancelled" and status["starts"] == 2  # one resume, not two
    steps = [(e["split"], e["step"]) for e in read_all(paths.metrics)
             if e["split"] in ("train", "eval")]
    assert steps == sorted(set(steps), key=steps.index)  # no step written twice
    assert not paths.claim.exists()
