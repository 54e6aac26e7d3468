"""Preemption at a step mid-epoch, then resume: the record reads as one uninterrupted run."""

from __future__ import annotations

import json

import pytest
from toy_runs import TOY_SETTINGS, StopAtStep, new_run, run_events, toy_config

from emotui.core import methods
from emotui.core.events import read_all
from emotui.core.status import read_status
from emotui.train import Preempted, train


def comparable(events):
    return [(e["split"], e["step"]) for e in events]


# Every registered method (its toy settings), and options whose state a resume must restore.
RESUMED = {
    **{m.name: {"method": m.alias, **TOY_SETTINGS.get(m.name, {})} for m in methods.METHODS},
    "lora": {"method": "lora", "lora_dropout": 0.1},  # drop-out on: restoring the RNG matters
    "lora-dora": {"method": "lora", "use_dora": True},
    # The base under the adapter is rebuilt (W minus the initial adapter) before it loads.
    "lora-pissa": {"method": "lora", "init_lora_weights": "pissa"},
    "prefix_tuning": {"method": "prefix", "prefix_projection": True},  # not in the adapter
    "p_tuning": {"method": "p-tuning", "p_tuning_encoder_reparameterization_type": "LSTM"},
}


@pytest.mark.parametrize("method", list(RESUMED))
def test_preempt_then_resume_matches_an_uninterrupted_run(method, tiny_model_dir, toy_data_dir,
                                                          runs_dir):
    # 3 epochs of 19 steps, logging every 5.
    config = toy_config(tiny_model_dir, toy_data_dir, **{"num_train_epochs": 3,
                                                         "learning_rate": 3e-3, **RESUMED[method]})

    reference = new_run(runs_dir, config)
    expected = train(config, reference.root)

    paths = new_run(runs_dir, config)
    with pytest.raises(Preempted) as stopped:
        train(config, paths.root, stop_event=StopAtStep(27))  # mid-epoch 2, between log steps
    assert stopped.value.step == 27
    status = read_status(paths)
    assert status["state"] == "preempted"
    assert (paths.checkpoint_last / "trainer_state.pt").is_file()
    assert max(e["step"] for e in read_all(paths.metrics)) <= 27

    results = train(config, paths.root, resume=True)
    assert read_status(paths)["state"] == "completed"
    assert read_status(paths)["starts"] == 2

    got, want = run_events(paths), run_events(reference)
    assert comparable(got) == comparable(want)  # steps continuous, none duplicated or missing
    for a, b in zip(got, want):
        for key in ("loss", "accuracy"):
            if key in b:
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (a, b)
    assert set(results) == set(expected)
    assert results["test_accuracy"] == pytest.approx(expected["test_accuracy"])
    assert results["epochs_completed"] == expected["epochs_completed"] == 3
    assert json.loads(paths.results.read_text())["status"] == "completed"


def test_resume_without_a_checkpoint_starts_over(tiny_model_dir, toy_data_dir, runs_dir):
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=1)
    paths = new_run(runs_dir, config)
    results = train(config, paths.root, resume=True)
    assert results["status"] == "completed"
    steps = [e["step"] for e in read_all(paths.metrics) if e["split"] == "train"]
    assert steps == [5, 10, 15, 19]


def test_failure_marks_the_run_failed_with_a_one_line_reason(tiny_model_dir, toy_data_dir,
                                                             runs_dir, monkeypatch):
    from emotui.train import loop

    def explode(self, batch):
        raise RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")

    monkeypatch.setattr(loop.TrainingLoop, "forward_backward", explode)
    config = toy_config(tiny_model_dir, toy_data_dir, num_train_epochs=1)
    paths = new_run(runs_dir, config)
    with pytest.raises(RuntimeError):
        train(config, paths.root)
    status = read_status(paths)
    assert status["state"] == "failed"
    assert status["reason"] == "RuntimeError: Tried to allocate 2 GiB"
    assert status["ended"]
