"""A trial record overwritten by garbage is rebuilt from the run that names its trial, with a
warning: `sweep status` counts the trial, `sweep resume` never trains it again."""

from __future__ import annotations

import json
from pathlib import Path

from sweep_fakes import FakeTrain, inline_launcher, run_ids

from emotui.cli.main import main
from emotui.core.runstore import RunStore
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.store import read_trials
from emotui.sweep.summary import summarize_sweep

GRID = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [1.0e-3, 1.0e-2]}
  num_train_epochs: {value: 2}
  dataset_name: {value: null}
"""


def _finished_sweep(tmp_path: Path, text: str = GRID):
    file = tmp_path / "s.yaml"
    file.write_text(text)
    store = RunStore(tmp_path / "runs")
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])
    fake = FakeTrain()
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    return spec, paths, store, fake


def test_a_garbled_record_is_rebuilt_and_its_finished_trial_is_not_rerun(tmp_path, capsys):
    spec, paths, store, fake = _finished_sweep(tmp_path)
    before = read_trials(paths)
    trial_run = before[1]["run_id"]
    paths.trial(1).write_text("garbage{{")

    # Readers: the trial is counted, its run named, and a warning says what happened.
    summary = summarize_sweep(paths, store)
    assert summary["finished"] == 2
    assert {r["run_id"] for r in summary["rows"]} == {before[0]["run_id"], trial_run}
    (warning,) = summary["warnings"]
    assert "trials/0001.json is not valid JSON" in warning
    assert f"rebuilt from run {trial_run}" in warning
    assert paths.trial(1).read_text() == "garbage{{"  # readers never write

    assert main(["--runs-dir", str(store.root), "sweep", "status", paths.sweep_id]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "emotui: warning: sweep" in err and trial_run in err

    # The controller: nothing trained again, the record written back whole, with the same values.
    lines: list[str] = []
    assert run_sweep(spec, paths, store, inline_launcher(fake), echo=lines.append) == "finished"
    assert len(fake.calls) == 2 and len(run_ids(store.root)) == 2
    assert any(line.startswith("warning: sweep") and trial_run in line for line in lines)
    record = json.loads(paths.trial(1).read_text())
    assert record["run_id"] == trial_run and record["params"] == before[1]["params"]
    assert record["state"] == "completed" and "rebuilt" in record
    assert summarize_sweep(paths, store)["warnings"] == []


def test_a_record_of_another_index_or_not_an_object_is_unreadable_too(tmp_path):
    spec, paths, store, _fake = _finished_sweep(tmp_path)
    trial_run = read_trials(paths)[1]["run_id"]
    for garbage in ('{"index": 0, "run_id": "x"}', "[1, 2]", ""):
        paths.trial(1).write_text(garbage)
        records = read_trials(paths)
        assert [r["index"] for r in records] == [0, 1]
        assert records[1]["run_id"] == trial_run and records[1]["warning"]


def test_a_garbled_record_whose_run_never_existed_is_planned_again(tmp_path):
    spec, paths, store, fake = _finished_sweep(tmp_path)
    # Trial 1's run is gone too (the controller died between planning it and creating its run).
    gone = read_trials(paths)[1]
    import shutil

    shutil.rmtree(store.root / gone["run_id"])
    paths.trial(1).write_text("\0\0\0")
    (warning,) = summarize_sweep(paths, store)["warnings"]
    assert "no run names this trial, so it is planned again" in warning
    assert run_sweep(spec, paths, store, inline_launcher(fake)) == "finished"
    # Planned again with the same values (a grid plans the same point for the same index).
    record = read_trials(paths)[1]
    assert record["params"] == gone["params"] and record["state"] == "completed"
    assert len(fake.calls) == 3 and len(run_ids(store.root)) == 2
