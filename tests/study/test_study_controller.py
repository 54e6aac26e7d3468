"""A study driven in this process with a stand-in trainer: every phase, the winner picked on
validation, the collapse rule, the budget."""

from __future__ import annotations

import json
import sys

from study_fakes import StandInTrain, eval_lines, stand_in_exporter
from study_helpers import STUDY, open_study, run_dirs, state

from emotui.core.runstore import read_json
from emotui.study.controller import StudyController
from emotui.study.summary import summarize_study


def _run(spec, paths, store, train, **kw):
    return StudyController(spec, paths, store, train_fn=train, **kw).run()


def test_every_phase_runs_and_leaves_report_and_exports(tmp_path, runs_dir, monkeypatch):
    module, exported = stand_in_exporter()
    monkeypatch.setitem(sys.modules, "emotui.train.export", module)
    spec, paths, store = open_study(tmp_path, runs_dir)
    train = StandInTrain()
    assert _run(spec, paths, store, train) == "done"

    st = state(paths)
    assert st["phase"] == "done" and st["ending"] == "done"
    assert {p: r["state"] for p, r in st["phases"].items()} == {
        "search": "done", "select": "done", "confirm": "done", "test": "done",
        "report": "done", "export": "done"}
    # search 2 + 2 + 1 (ia3 at its defaults), confirm 3 seeds x 3 methods
    assert len(run_dirs(runs_dir)) == 5 + 9
    for method in ("full", "lora", "ia3"):
        record = st["methods"][method]
        assert record["search"]["state"] == "finished"
        assert record["confirm"]["state"] == "finished"
        test = record["test"]
        assert test["source"] == "confirm" and test["completed"] == 3
        assert test["test_accuracy"]["n"] == 3 and test["test_accuracy"]["std"] is not None
        assert (paths.export / method / "config.json").is_file()
        assert record["export"]["run_id"] == test["best_run"]
    # The winners' values reach every confirm run, with confirm's epochs and the seeds.
    lora = st["methods"]["lora"]
    assert lora["winner"]["params"] == {"learning_rate": 1e-3}
    for run in lora["test"]["runs"]:
        config = (runs_dir / run["run_id"] / "config.yaml").read_text()
        assert "learning_rate: 0.001" in config and "lora_r: 4" in config
        assert "num_train_epochs: 3" in config
        assert len(eval_lines(store.paths(run["run_id"]))) == 3
    assert sorted(r["seed"] for r in lora["test"]["runs"]) == [1, 2, 3]
    # The report, in every format, and the study's own section in it.
    for name in ("report.pdf", "report.typ", "report.md", "report.html"):
        assert (paths.report / name).is_file(), name
    md = (paths.report / "report.md").read_text()
    assert "## Study" in md or "# Study" in md
    assert len(exported) == 3
    # Running it again does nothing.
    calls = len(train.calls)
    assert _run(spec, paths, store, train) == "done"
    assert len(train.calls) == calls and len(run_dirs(runs_dir)) == 14


def test_the_winner_is_picked_on_validation_where_test_disagrees(tmp_path, runs_dir):
    text = STUDY.replace("  ia3:\n", "").replace("confirm: {seeds: [1, 2, 3], "
                                                 "num_train_epochs: 3}\n", "export: false\n")
    spec, paths, store = open_study(tmp_path, runs_dir, text)
    assert _run(spec, paths, store, StandInTrain(test_reversed=True)) == "done"
    st = state(paths)
    full = st["methods"]["full"]
    rows = {}
    for rid in run_dirs(runs_dir):
        results = read_json(runs_dir / rid / "results.json")
        config = (runs_dir / rid / "config.yaml").read_text()
        if "method: full" in config:
            rows[results["run_id"]] = results
    by_test = max(rows.values(), key=lambda r: r["test_accuracy"])
    by_eval = max(rows.values(), key=lambda r: r["eval_accuracy"])
    assert by_test["run_id"] != by_eval["run_id"]  # the fixture: they disagree
    assert full["winner"]["run_id"] == by_eval["run_id"]
    assert full["winner"]["params"] == {"learning_rate": 1e-3}
    # No confirm seeds: the winner's search run stands for its method.
    assert st["phases"]["confirm"]["state"] == "skipped"
    assert full["test"]["source"] == "search" and full["test"]["completed"] == 1


def test_a_collapsed_trial_never_wins_while_a_healthy_one_exists(tmp_path, runs_dir):
    # lr 1 collapses to the majority class; lr 1e-6 learns little but is healthy.
    text = """\
model: stand-in-model
data: toy/emotion
fixed: {num_train_epochs: 1}
methods:
  full:
    parameters:
      learning_rate: {values: [1.0, 1.0e-6]}
report: false
export: false
"""
    spec, paths, store = open_study(tmp_path, runs_dir, text)
    assert _run(spec, paths, store, StandInTrain()) == "done"
    winner = state(paths)["methods"]["full"]["winner"]
    assert winner["params"] == {"learning_rate": 1e-6} and not winner["collapsed"]


def test_the_budget_stops_search_and_confirm_still_runs(tmp_path, runs_dir, monkeypatch):
    # Each stand-in trial takes about 0.3 s; 0.0002 device-hours (0.72 s) shared by two
    # methods lets each start one or two trials of its eight, never all of them.
    text = """\
model: stand-in-model
data: toy/emotion
fixed: {num_train_epochs: 1}
methods:
  full:
    parameters:
      learning_rate: {values: [1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3, 1.0e-2, 3.0e-2]}
  lora:
    parameters:
      learning_rate: {values: [1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3, 1.0e-2, 3.0e-2]}
confirm: {seeds: [1, 2]}
budget: {gpu_hours: 0.0002}
report: false
export: false
"""
    monkeypatch.setattr("emotui.study.controller.BUDGET_CHECK_S", 0.0)
    spec, paths, store = open_study(tmp_path, runs_dir, text)
    assert _run(spec, paths, store, StandInTrain(epoch_s=0.3)) == "done"
    st = state(paths)
    for method in ("full", "lora"):
        search = st["methods"][method]["search"]
        assert search["state"] == "stopped" and 1 <= search["trials"] < 8
        assert st["methods"][method]["confirm"]["state"] == "finished"
        assert st["methods"][method]["test"]["completed"] == 2  # confirm ran in full
    assert st["budget"]["exhausted"] is True
    notes = [n["text"] for n in st["notes"]]
    assert any("budget" in n and "confirm goes on" in n for n in notes), notes
    assert "budget" in paths.log.read_text()
    summary = summarize_study(paths, store)
    assert summary["budget"]["exhausted"] and summary["budget"]["spent_device_s"] > 0
    assert json.dumps(summary)  # the status is one JSON document


def test_a_spent_budget_still_gives_every_method_one_trial(tmp_path, runs_dir, monkeypatch):
    text = """\
model: stand-in-model
data: toy/emotion
fixed: {num_train_epochs: 1}
methods:
  full:
    parameters:
      learning_rate: {values: [1.0e-5, 1.0e-4, 1.0e-3]}
  lora:
    parameters:
      learning_rate: {values: [1.0e-5, 1.0e-4, 1.0e-3]}
budget: {wall_time: 1s}
report: false
export: false
"""
    monkeypatch.setattr("emotui.study.controller.BUDGET_CHECK_S", 0.0)
    monkeypatch.setattr("emotui.study.controller.BEAT_S", 0.2)
    spec, paths, store = open_study(tmp_path, runs_dir, text)
    assert _run(spec, paths, store, StandInTrain(epoch_s=1.2)) == "done"
    st = state(paths)
    assert [st["methods"][m]["search"]["trials"] for m in ("full", "lora")] == [1, 1]
    assert all(st["methods"][m]["winner"] for m in ("full", "lora"))
