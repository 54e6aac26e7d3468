"""run_in_foreground: the one way a run trains in this process (`emotui run`, inline sweep
trials, the inline backend). Stand-in training, so these take milliseconds."""

from __future__ import annotations

import logging
import os
import signal
import threading

import pytest

from emotui.core.config import build_config, config_from_yaml
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status, write_status
from emotui.launch.base import cancel_marker, mark_cancel_requested
from emotui.launch.foreground import record_interrupted, run_in_foreground
from emotui.train import Preempted

from launch_helpers import new_run


@pytest.fixture
def paths(runs_dir, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "hi", "label": 0}\n')
    config, _ = build_config([("test", {"train_file": str(train), "do_eval": False,
                                        "do_predict": False})])
    return new_run(runs_dir, config)


def until_stopped(started: threading.Event):
    """Trains 'forever' until asked to stop, then checkpoints and raises Preempted."""
    def train(config, run_dir, *, resume=False, stop_event=None):
        logging.getLogger("emotui.train").info("training step")
        started.set()
        while not stop_event.wait(0.01):
            pass
        write_status(RunPaths(run_dir), state="preempted", reason="preempted at step 3")
        raise Preempted(str(run_dir), 3)
    return train


def config_of(paths):
    return config_from_yaml(paths.config)


def test_results_logs_and_process_identity(paths):
    mark_cancel_requested(paths)  # a previous attempt's marker no longer applies
    ticks = []

    def train(config, run_dir, *, resume=False, stop_event=None):
        logging.getLogger("emotui.train").info("hello from training")
        return {"test_accuracy": 0.5, "resume": resume}

    run = run_in_foreground(paths, config_of(paths), resume=True, train_fn=train,
                            tick=lambda: ticks.append(1))
    assert run.results == {"test_accuracy": 0.5, "resume": True}
    assert run.error is None and run.interrupted is None
    assert ticks, "tick runs at least once, after the end"
    assert "hello from training" in paths.stdout.read_text()
    status = read_status(paths)
    assert status["pid"] == os.getpid() and status["proc_start"] is not None
    assert not cancel_marker(paths).exists()


def test_an_error_is_handed_back(paths):
    def train(config, run_dir, *, resume=False, stop_event=None):
        raise ValueError("broken")

    run = run_in_foreground(paths, config_of(paths), train_fn=train)
    assert isinstance(run.error, ValueError) and run.interrupted is None


@pytest.mark.parametrize("sig,how", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_first_stop_signal_checkpoints_then_returns(paths, sig, how):
    started = threading.Event()
    told = []
    sigterm_handler = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=lambda: started.wait(10) and os.kill(os.getpid(), sig),
                     daemon=True).start()
    run = run_in_foreground(paths, config_of(paths), train_fn=until_stopped(started),
                            on_interrupt=told.append)
    assert run.interrupted == how and told == [how]
    assert isinstance(run.error, Preempted)
    assert read_status(paths)["state"] == "preempted"
    # SIGTERM has its own handler again once training is over.
    assert signal.getsignal(signal.SIGTERM) is sigterm_handler
    record_interrupted(paths, how)
    status = read_status(paths)
    assert status["state"] == "cancelled"
    assert status["reason"] == f"interrupted ({how}); resume with: emotui run --resume " \
        f"{paths.run_id}"


def test_second_ctrl_c_stops_now(paths):
    started = threading.Event()

    def stubborn(config, run_dir, *, resume=False, stop_event=None):
        started.set()
        threading.Event().wait(30)  # ignores the stop request
        return {}

    def interrupt_twice():
        started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_twice, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_in_foreground(paths, config_of(paths), train_fn=stubborn)


def test_inline_backend_trains_here(paths, monkeypatch):
    import emotui.train
    from emotui.launch import get_backend

    def train(config, run_dir, *, resume=False, stop_event=None):
        write_status(RunPaths(run_dir), state="completed")
        return {"resume": resume}

    monkeypatch.setattr(emotui.train, "train", train)
    status = get_backend("inline").submit(paths, resume=True)
    assert status["state"] == "completed" and status["backend"] == "inline"
    assert status["pid"] == os.getpid()


def test_inline_backend_ctrl_c_ends_cancelled_and_resumable(paths, monkeypatch):
    import emotui.train
    from emotui.launch import get_backend

    started = threading.Event()
    monkeypatch.setattr(emotui.train, "train", until_stopped(started))
    threading.Thread(target=lambda: started.wait(10) and os.kill(os.getpid(), signal.SIGINT),
                     daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        get_backend("inline").submit(paths)
    status = read_status(paths)
    assert status["state"] == "cancelled"
    assert status["reason"].startswith("interrupted (Ctrl-C); resume with: emotui run --resume")
