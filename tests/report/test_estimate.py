"""`emotui sweep FILE --dry-run` estimates GPU-hours and wall time from earlier runs' measured
samples/s, or says it has no basis."""

from __future__ import annotations

import json

import pytest
from report_store import MODEL, SAMPLES_PER_SECOND

from emotui.cli.main import main
from emotui.sweep.estimate import makespan


def _sweep(tmp_path, *, model=MODEL, train_file=None, epochs=3):
    lines = ["method: grid", "parameters:",
             "  learning_rate: {values: [1.0e-3, 2.0e-3, 3.0e-3]}",
             "  peft_method: {value: lora}",
             f"  model_name_or_path: {{value: {model}}}",
             f"  num_train_epochs: {{value: {epochs}}}"]
    if train_file:
        lines.append(f"  train_file: {{value: {train_file}}}")
    path = tmp_path / "sweep.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _dry_run(capsys, runs, sweep, *extra):
    assert main(["sweep", str(sweep), "--runs-dir", str(runs), "--dry-run", *extra]) == 0
    return capsys.readouterr().out


def test_estimate_from_earlier_runs_of_the_same_model_and_method(report_runs, tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": f"t{i}", "label": i % 6}) + "\n"
                             for i in range(600)))
    sweep = _sweep(tmp_path, train_file=train)
    trials = json.loads(_dry_run(capsys, report_runs, sweep, "--json"))
    lora_runs = {"251201-100000-lora-aaa1", "251201-100100-lora-aaa2", "251201-100200-lora-aaa3",
                 "251201-100300-lora-bbb1", "251201-100400-lora-bbb2", "251201-100500-lora-ccc1"}
    for trial in trials:
        estimate = trial["estimate"]
        assert estimate["samples"] == 600 * 3  # train examples x epochs
        assert estimate["samples_per_second"] == SAMPLES_PER_SECOND
        assert estimate["train_s"] == pytest.approx(1800 / SAMPLES_PER_SECOND, abs=0.05)
        # The earlier runs took twice their training time from start to end.
        assert estimate["wall_s"] == pytest.approx(2 * 1800 / SAMPLES_PER_SECOND, abs=0.05)
        assert set(estimate["basis_runs"]) == lora_runs  # not the full or prompt runs

    text = _dry_run(capsys, report_runs, sweep, "--backend", "local", "--max-parallel", "2")
    # 3 trials of 1.8 s, 2 at a time: 3.6 s of wall time, 5.4 s of GPU time.
    assert ("estimate: 3 trials, 0.00 GPU-hours, wall time 0:00:04 at --max-parallel 2 "
            "(from 6 earlier runs at 2000 samples/s)") in text


def test_examples_per_epoch_come_from_earlier_runs_on_the_same_data(report_runs, tmp_path,
                                                                      capsys):
    # No local training file: every earlier run on the same (Hub) data, whatever its method,
    # trained 2000 samples/s for 30-57 s over 2 epochs; their median: 41500 examples per epoch.
    trials = json.loads(_dry_run(capsys, report_runs, _sweep(tmp_path, epochs=1), "--json"))
    assert [t["estimate"]["samples"] for t in trials] == [41500] * 3
    text = _dry_run(capsys, report_runs, _sweep(tmp_path, epochs=1))
    # 3 trials of 41.5 s (twice their 20.75 s of training), one at a time.
    assert "estimate: 3 trials, 0.03 GPU-hours, wall time 0:02:04 at --max-parallel 1" in text


def test_no_comparable_run_means_no_basis(report_runs, tmp_path, capsys):
    text = _dry_run(capsys, report_runs, _sweep(tmp_path, model="other/model"))
    assert ("estimate: no basis for 3 trials: no completed lora run of other/model in the "
            "store") in text
    trials = json.loads(_dry_run(capsys, report_runs, _sweep(tmp_path, model="other/model"),
                                 "--json"))
    assert all(t["estimate"]["basis"] is None for t in trials)


def test_empty_store_has_no_basis(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    text = _dry_run(capsys, runs, _sweep(tmp_path))
    assert "estimate: no basis for 3 trials" in text


@pytest.mark.parametrize("durations, slots, wall", [
    ([], 2, 0.0), ([5.0], 4, 5.0), ([1.0, 1.0, 1.0], 1, 3.0), ([1.0, 1.0, 1.0], 2, 2.0),
    ([4.0, 1.0, 1.0, 1.0], 2, 4.0),
])
def test_makespan_starts_each_trial_when_a_slot_frees(durations, slots, wall):
    assert makespan(durations, slots) == wall
