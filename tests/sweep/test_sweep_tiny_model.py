"""Sweeps that really train (the tiny RoBERTa on the toy data): hyperband, resume, CLI, local."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from sweep_fakes import inline_launcher, run_ids, status

from emotui.cli.main import main
from emotui.core.events import read_all
from emotui.core.runstore import RunStore
from emotui.sweep.launching import SweepInterrupted
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.summary import summarize_sweep


def _fixed(model: Path, data: Path, epochs: int) -> str:
    return f"""\
  model_name_or_path: {{value: "{model}"}}
  train_file: {{value: "{data / 'train.jsonl'}"}}
  validation_file: {{value: "{data / 'validation.jsonl'}"}}
  test_file: {{value: "{data / 'test.jsonl'}"}}
  num_train_epochs: {{value: {epochs}}}
  per_device_train_batch_size: {{value: 32}}
  max_seq_length: {{value: 48}}
  logging_steps: {{value: 5}}
  seed: {{value: 7}}
"""


def _open(tmp_path, text, runs_dir):
    file = tmp_path / "sweep.yaml"
    file.write_text(text)
    store = RunStore(runs_dir)
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])
    return spec, paths, store


def test_hyperband_stops_bad_tiny_trial_before_last_epoch(tmp_path, runs_dir, tiny_model_dir,
                                                         toy_data_dir):
    # A sensible learning rate first, then one too small to move the loss: at the epoch-1
    # bracket (eta 3: keep the best third) the second is worse and must stop there.
    text = ("method: grid\nmetric: {name: eval/loss, goal: minimize}\n"
            "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\nparameters:\n"
            "  learning_rate: {values: [3.0e-3, 1.0e-9]}\n" + _fixed(tiny_model_dir, toy_data_dir, 4))
    spec, paths, store = _open(tmp_path, text, runs_dir)
    assert run_sweep(spec, paths, store, inline_launcher()) == "finished"
    rows = {r["params"]["learning_rate"]: r for r in summarize_sweep(paths, store)["rows"]}
    good, bad = rows[3e-3], rows[1e-9]
    assert good["state"] == "completed" and good["epochs"] == 4
    assert bad["early_stopped"] and bad["state"] == "cancelled"
    eval_epochs = [e["epoch"] for e in read_all(runs_dir / bad["run_id"] / "metrics.jsonl")
                   if e["split"] == "eval"]
    assert eval_epochs and max(eval_epochs) < 4  # visibly stopped before its last epoch
    assert not any(e["split"] == "test" for e in read_all(runs_dir / bad["run_id"] / "metrics.jsonl"))
    assert "hyperband" in status(runs_dir, bad["run_id"])["reason"]


def test_interrupted_tiny_sweep_resumes_to_exactly_the_plan(tmp_path, runs_dir, tiny_model_dir,
                                                            toy_data_dir):
    from emotui.train import train as real_train

    text = ("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\nparameters:\n"
            "  learning_rate: {values: [3.0e-3, 1.0e-3, 5.0e-4]}\n"
            + _fixed(tiny_model_dir, toy_data_dir, 2))
    spec, paths, store = _open(tmp_path, text, runs_dir)
    calls: list[tuple[str, bool]] = []

    def interrupting_train(config, run_dir, *, resume=False, stop_event=None):
        calls.append((Path(run_dir).name, resume))
        if len(calls) == 2:  # the second trial gets "Ctrl-C" once its first epoch is evaluated
            metrics = Path(run_dir) / "metrics.jsonl"

            def press_ctrl_c():
                while not any(e.get("split") == "eval" for e in read_all(metrics)):
                    time.sleep(0.05)
                stop_event.set()

            threading.Thread(target=press_ctrl_c, daemon=True).start()
        return real_train(config, run_dir, resume=resume, stop_event=stop_event)

    with pytest.raises(SweepInterrupted):
        run_sweep(spec, paths, store, inline_launcher(interrupting_train))
    assert len(run_ids(runs_dir)) == 2
    assert status(runs_dir, calls[1][0])["state"] == "preempted"
    # Same command again: the finished trial is kept, the interrupted one resumes, one is new.
    spec, paths, store = _open(tmp_path, text, runs_dir)
    assert run_sweep(spec, paths, store, inline_launcher(interrupting_train)) == "finished"
    ids = run_ids(runs_dir)
    assert len(ids) == 3
    assert sorted(rid for rid, resume in calls if not resume) == ids  # each started once
    assert [rid for rid, resume in calls if resume] == [calls[1][0]]
    for rid in ids:
        assert status(runs_dir, rid)["state"] == "completed"
        steps = [e["step"] for e in read_all(runs_dir / rid / "metrics.jsonl") if e["split"] == "eval"]
        assert steps == sorted(set(steps)) and len(steps) == 2  # no epoch twice, none missing


def test_cli_sweep_inline_and_status_json(tmp_path, runs_dir, tiny_model_dir, toy_data_dir, capsys):
    file = tmp_path / "cli.yaml"
    file.write_text("method: random\nrun_cap: 2\nmetric: {name: eval/accuracy, goal: maximize}\n"
                    "parameters:\n  learning_rate: {distribution: log_uniform_values, "
                    "min: 1.0e-3, max: 5.0e-3}\n" + _fixed(tiny_model_dir, toy_data_dir, 1))
    rc = main(["sweep", str(file), "--runs-dir", str(runs_dir), "--json",
               "--set", "max_train_samples=120"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trials"] == 2 and out["finished"] == 2 and out["ending"] == "finished"
    assert out["best"]["value"] == max(r["value"] for r in out["rows"])
    for row in out["rows"]:
        st = status(runs_dir, row["run_id"])
        assert st["sweep_id"] == out["sweep_id"] and st["state"] == "completed"
    assert main(["sweep", "status", out["sweep_id"][:12], "--runs-dir", str(runs_dir),
                 "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in again["rows"]] == [r["run_id"] for r in out["rows"]]
    # Re-running the same command finds the finished sweep and starts nothing.
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), "--json",
                 "--set", "max_train_samples=120"]) == 0
    assert len(run_ids(runs_dir)) == 2


@pytest.mark.slow  # three detached processes each import torch: a minute or two on 2 cores
def test_local_backend_runs_trials_in_parallel(tmp_path, runs_dir, tiny_model_dir, toy_data_dir,
                                               capsys):
    file = tmp_path / "local.yaml"
    file.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\nparameters:\n"
                    "  learning_rate: {values: [3.0e-3, 1.0e-3, 5.0e-4]}\n"
                    + _fixed(tiny_model_dir, toy_data_dir, 1))
    rc = main(["sweep", str(file), "--runs-dir", str(runs_dir), "--backend", "local",
               "--max-parallel", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["finished"] == 3
    spans = []
    for row in out["rows"]:
        st = status(runs_dir, row["run_id"])
        assert st["backend"] == "local" and st["state"] == "completed" and st["sweep_id"]
        spans.append((st["started"], st["ended"]))
    spans.sort()
    # The first two ran at the same time (both started before either ended).
    assert spans[1][0] < spans[0][1]


@pytest.mark.slow  # detached training processes, each importing torch
def test_hyperband_on_local_backend_cancels_the_bad_trial(tmp_path, runs_dir, tiny_model_dir,
                                                          toy_data_dir, capsys):
    # One trial at a time, the good one first: when the bad one reports its first epoch the
    # bracket threshold is already known, so the stop does not depend on which process is faster.
    # Small batches make the 20 epochs last long enough for the controller's polls to see it.
    file = tmp_path / "hb.yaml"
    file.write_text("method: grid\nmetric: {name: eval/loss, goal: minimize}\n"
                    "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\nparameters:\n"
                    "  learning_rate: {values: [3.0e-3, 1.0e-9]}\n"
                    + _fixed(tiny_model_dir, toy_data_dir, 20).replace(
                        "per_device_train_batch_size: {value: 32}",
                        "per_device_train_batch_size: {value: 4}"))
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), "--backend", "local",
                 "--max-parallel", "1", "--json"]) == 0
    rows = {r["params"]["learning_rate"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    bad = rows[1e-9]
    assert bad["early_stopped"] and bad["state"] == "cancelled"
    assert "hyperband" in status(runs_dir, bad["run_id"])["reason"]
    evals = [e["epoch"] for e in read_all(runs_dir / bad["run_id"] / "metrics.jsonl")
             if e["split"] == "eval"]
    assert evals and max(evals) < 20
    assert rows[3e-3]["state"] == "completed"


@pytest.mark.slow  # two `emotui` processes, each importing torch
def test_ctrl_c_then_resume_from_the_command_line(tmp_path, runs_dir, tiny_model_dir, toy_data_dir):
    import signal
    import subprocess
    import sys

    file = tmp_path / "cc.yaml"
    file.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\nparameters:\n"
                    "  learning_rate: {values: [3.0e-3, 1.0e-3]}\n"
                    + _fixed(tiny_model_dir, toy_data_dir, 40))  # long enough to interrupt
    cmd = [sys.executable, "-m", "emotui", "sweep", str(file), "--runs-dir", str(runs_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    first = None
    while time.monotonic() < deadline and first is None:  # bounds a hang only
        for rid in run_ids(runs_dir) if runs_dir.exists() else []:
            if any(e["split"] == "eval" for e in read_all(runs_dir / rid / "metrics.jsonl")):
                first = rid
        time.sleep(0.2)
    assert first is not None, proc.communicate()
    proc.send_signal(signal.SIGINT)  # Ctrl-C early in the first trial
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "emotui sweep resume" in err
    # Recorded as `emotui run` records a Ctrl-C (cancelled, resumable), not "preempted".
    assert status(runs_dir, first)["state"] == "cancelled"
    assert "interrupted (Ctrl-C)" in status(runs_dir, first)["reason"]
    sweep_id = err.split("emotui sweep resume ")[-1].split()[0]
    done = subprocess.run([sys.executable, "-m", "emotui", "sweep", "resume", sweep_id,
                           "--runs-dir", str(runs_dir), "--json"], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["finished"] == 2 and len(run_ids(runs_dir)) == 2
    assert status(runs_dir, first)["starts"] == 2  # resumed, not restarted elsewhere
    epochs = [e["epoch"] for e in read_all(runs_dir / first / "metrics.jsonl") if e["split"] == "eval"]
    assert epochs == list(range(1, 41))  # every epoch once: continued, not repeated
