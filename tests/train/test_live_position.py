"""A run's live position in status.json (the ticker), its phases, system telemetry and the dense
default loss curve, on the tiny model."""

from __future__ import annotations

import threading
import time

import pytest
from toy_runs import new_run, toy_config

from emotui.core.events import read_all
from emotui.core.general_settings import logging_interval
from emotui.core.progress import ETA_FLOOR_S
from emotui.core.status import read_status
from emotui.train import ticker as ticker_module
from emotui.train import train
from emotui.train.loop import TrainingLoop
from emotui.train.telemetry import GPU_KEYS, SystemSampler
from emotui.train.ticker import TICK_S, Position, PositionTicker

STEP_DELAY_S = 0.08


@pytest.fixture
def slow_steps(monkeypatch):
    """Each training step takes a little longer, so a reader can watch the run move."""
    original = TrainingLoop.forward_backward

    def slow(self, batch):
        time.sleep(STEP_DELAY_S)
        return original(self, batch)

    monkeypatch.setattr(TrainingLoop, "forward_backward", slow)


@pytest.fixture
def status_writes(monkeypatch):
    """Every position the ticker writes, in order."""
    writes: list[dict] = []
    original = ticker_module.write_status

    def spy(paths, **changes):
        writes.append(dict(changes))
        return original(paths, **changes)

    monkeypatch.setattr(ticker_module, "write_status", spy)
    return writes


def test_the_position_moves_between_logging_steps(slow_steps, status_writes, monkeypatch,
                                                  tiny_model_dir, toy_data_dir, runs_dir):
    """logging_steps far beyond the run: status.json still moves every tick."""
    monkeypatch.setattr(ticker_module, "TICK_S", 0.2)
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2, logging_steps=1000)
    paths = new_run(runs_dir, config)
    seen: list[dict] = []
    done = threading.Event()

    def watch():
        while not done.wait(0.05):
            status = read_status(paths)
            if status.get("phase") == "training":
                seen.append(status)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        train(config, paths.root)
    finally:
        done.set()
        watcher.join()

    steps = [s["step"] for s in seen]
    assert len(set(steps)) >= 3, steps  # several positions while training, no train event yet
    assert steps == sorted(steps)
    etas = [s["eta_s"] for s in seen if s.get("eta_s") is not None]
    assert len(set(etas)) >= 3 and etas[-1] < etas[0]
    assert all(s["total_steps"] == 38 and 0 <= s["progress"] <= 1 for s in seen)
    assert any(s["samples_per_second"] for s in seen)
    assert len({s["position_time"] for s in seen}) >= 3
    assert all(s["elapsed_s"] >= 0 for s in seen)
    # The epoch is fractional: 0.5 half-way through the first epoch, not 0.
    epochs = [w["epoch"] for w in status_writes if w.get("phase") == "training" and "epoch" in w]
    assert any(0 < e < 1 and not float(e).is_integer() for e in epochs), epochs
    final = read_status(paths)
    assert final["state"] == "completed" and final["phase"] is None
    assert final["epoch"] == 2 and final["progress"] == 1.0 and final["eta_s"] == 0


def test_phases_follow_the_run(status_writes, tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2)
    paths = new_run(runs_dir, config)
    train(config, paths.root)
    phases = [w["phase"] for w in status_writes if "phase" in w]
    changes = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
    assert changes[0] == "starting" and changes[-1] is None
    assert {"training", "evaluating", "saving", "predicting"} <= set(changes)
    # Evaluation and checkpoints come back to training; the test split is predicted at the end.
    first_eval = changes.index("evaluating")
    assert changes[first_eval - 1] == "training" and "training" in changes[first_eval + 1:]
    assert changes[-2] == "predicting"


@pytest.mark.parametrize("recipe", ["default", "reference"])
def test_evaluation_and_test_passes_count_their_examples_under_an_eta(
        recipe, status_writes, monkeypatch, tiny_model_dir, toy_data_dir, runs_dir):
    """The issue's 0s through evaluation and test prediction: each pass writes its count and an
    ETA that covers it (core.progress.EtaModel), never 0 while the job works."""
    from transformers import Trainer

    def slowed(original):
        def slow(self, *args, **kwargs):
            if not self.model.training:
                time.sleep(0.02)  # a pass long enough for the ticker to see it move
            return original(self, *args, **kwargs)
        return slow

    monkeypatch.setattr(TrainingLoop, "_batch", slowed(TrainingLoop._batch))
    monkeypatch.setattr(Trainer, "prediction_step", slowed(Trainer.prediction_step))
    monkeypatch.setattr(ticker_module, "TICK_S", 0.05)
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=2,
                        per_device_eval_batch_size=4, recipe=recipe)
    paths = new_run(runs_dir, config)
    train(config, paths.root)
    passes = [w for w in status_writes if w.get("phase") in ("evaluating", "predicting")]
    assert passes and all(w["eta_s"] is not None and w["eta_s"] >= ETA_FLOOR_S for w in passes)
    counted = {w["phase"]: [] for w in passes if w.get("pass_total")}
    for write in passes:
        if write.get("pass_total"):
            counted[write["phase"]].append((write["pass_done"], write["pass_total"]))
    assert set(counted) == {"evaluating", "predicting"}
    for phase, counts in counted.items():
        assert all(total == 60 and 0 <= done <= total for done, total in counts), phase
        assert len({done for done, _ in counts}) >= 2, (phase, counts)  # it moved
    assert read_status(paths)["eta_s"] == 0


def test_default_logging_makes_a_dense_loss_curve(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=3, logging_steps=None)
    assert config.logging_steps is None  # auto
    paths = new_run(runs_dir, config)
    train(config, paths.root)
    steps = [e["step"] for e in read_all(paths.metrics) if e["split"] == "train"]
    assert len(steps) >= 50 and steps == list(range(1, 58))  # 57 steps, every one logged
    assert all({"tokens_per_s", "pad_fraction"} <= set(e)
               for e in read_all(paths.metrics) if e["split"] == "train")


def test_logging_interval():
    assert logging_interval(None, 57) == 1
    assert logging_interval(None, 1000) == 10
    assert logging_interval(None, 26_000) == 260
    assert logging_interval(7, 1000) == 7  # the study's explicit --logging_steps stands


def test_telemetry_on_cpu_has_no_gpu_fields(slow_steps, monkeypatch, tiny_model_dir,
                                            toy_data_dir, runs_dir):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # this process trains on the CPU
    monkeypatch.setattr(ticker_module, "TICK_S", 0.2)
    monkeypatch.setattr(ticker_module, "TELEMETRY_S", 0.3)
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=1)
    paths = new_run(runs_dir, config)
    train(config, paths.root)
    events = read_all(paths.metrics)
    system = [e for e in events if e["split"] == "system"]
    assert len(system) >= 2
    for event in system:
        assert event["cpu_percent"] >= 0 and event["rss_bytes"] > 10_000_000
        assert not set(GPU_KEYS) & set(event)  # absent, not zero
    steps = [e["step"] for e in system]
    assert steps == sorted(steps) and steps[-1] > 0
    assert not set(GPU_KEYS) & set(read_status(paths))


def test_a_gpu_sample_adds_its_fields_to_the_event_and_status(tmp_path):
    class FakeGpu:
        def read(self):
            return {"gpu_util": 87, "gpu_mem_used_bytes": 5 << 30, "gpu_mem_total_bytes": 80 << 30}

        def close(self):
            pass

    from emotui.core.runstore import RunPaths

    paths = RunPaths(tmp_path)
    samples = []
    ticker = PositionTicker(paths, interval=0.05, telemetry_interval=0.05,
                            sampler=SystemSampler(FakeGpu()))
    ticker.send_telemetry_to(lambda step, sample: samples.append((step, sample)))
    ticker.follow(lambda: Position(step=3, epoch=0.25, samples=48), total_steps=12)
    with ticker:
        deadline = time.monotonic() + 10
        while not samples and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
    step, sample = samples[0]
    assert step == 3 and sample["gpu_util"] == 87 and "cpu_percent" in sample
    status = read_status(paths)
    assert status["gpu_util"] == 87 and status["gpu_mem_total_bytes"] == 80 << 30
    assert status["step"] == 3 and status["epoch"] == 0.25 and status["phase"] is None


def test_readers_are_promised_a_refresh_every_two_seconds():
    assert TICK_S <= 2.0


def test_an_unknown_phase_is_refused(tmp_path):
    from emotui.core.runstore import RunPaths

    with pytest.raises(ValueError, match="unknown phase"):
        PositionTicker(RunPaths(tmp_path)).set_phase("thinking")


def test_a_sample_that_raises_stops_telemetry_not_the_position(tmp_path, status_writes,
                                                              monkeypatch, caplog):
    """An unexpected error in a sample used to end the ticker's thread: a traceback printed by
    the thread and a position frozen for the rest of the run. Now telemetry stops with a
    warning and the position keeps being written."""
    from emotui.core.runstore import RunPaths

    class Broken:
        closed = False

        def sample(self):
            raise AttributeError("partially initialized module 'torch' has no attribute 'cuda'")

        def close(self):
            self.closed = True

    died = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    sampler = Broken()
    ticker = PositionTicker(RunPaths(tmp_path), interval=0.02, telemetry_interval=0.02,
                            sampler=sampler)
    ticker.follow(lambda: Position(step=1, epoch=0.1, samples=16), total_steps=10)
    with caplog.at_level("WARNING", logger="emotui"), ticker:
        deadline = time.monotonic() + 10
        while not sampler.closed and time.monotonic() < deadline:
            time.sleep(0.02)
        written = len(status_writes)
        while len(status_writes) < written + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ticker._thread.is_alive()
    assert died == [] and sampler.closed
    assert len(status_writes) >= written + 3  # the thread went on writing the position
    assert [r.getMessage() for r in caplog.records] == [
        "system telemetry stopped: AttributeError: partially initialized module 'torch' has no "
        "attribute 'cuda'"]


def test_nothing_is_written_after_the_last_position(tmp_path, status_writes):
    from emotui.core.runstore import RunPaths

    ticker = PositionTicker(RunPaths(tmp_path), interval=0.02)
    with ticker:
        time.sleep(0.05)
    count = len(status_writes)
    assert status_writes[-1]["phase"] is None
    ticker.set_phase("saving")  # a late call (or a thread that outlived its join) writes nothing
    ticker.refresh()
    assert len(status_writes) == count
