"""How the study screens word a study (tui/study_format.py), on summaries as study.summary
writes them: progress once a budget stopped search, budget and ETA wording, why a controller
failed, and the report and exports kept in view before the notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emotui.study.store import StudyStore
from emotui.study.summary import failure_reason
from emotui.tui import study_format as show


def method(name: str, *, search: str = "finished", searched: int = 2, planned: int | None = 4,
           confirm: str = "pending", confirmed: int = 0, export: str | None = None
           ) -> dict[str, Any]:
    return {"method": name,
            "search": {"state": search, "finished": searched, "planned": planned, "rows": []},
            "confirm": {"state": confirm, "finished": confirmed, "planned": 3, "rows": []},
            "winner": None, "select": None, "test": None,
            "export": {"path": export} if export else None}


def summary(*methods: dict[str, Any], phase: str = "confirm", alive: bool = True,
            eta: float | None = 60.0, reason: str | None = None, **budget: Any
            ) -> dict[str, Any]:
    return {"study_id": "s1", "phase": phase, "methods": list(methods), "eta_s": eta,
            "notes": [{"text": "budget: search of full stopped after 2 of 4 trials"}],
            "report": None,
            "controller": {"state": "running" if alive else "failed", "alive": alive,
                           "reason": reason},
            "budget": {"device_hours": None, "wall_s": None, "spent_device_s": 1800.0,
                       "spent_wall_s": 600.0, "unit": "CPU-hours", "exhausted": False,
                       **budget}}


def test_a_search_the_budget_stopped_counts_the_trials_it_ran():
    s = summary(method("full", search="stopped", searched=1, planned=4, confirm="finished",
                       confirmed=3),
                method("lora", search="stopped", searched=1, planned=4, confirm="running",
                       confirmed=1))
    # 1+3 + 1+1 of 1+3 + 1+3 runs: the 6 search trials the budget cut are not "to come".
    assert show.study_progress(s) == 6 / 8
    # Every run done but phases left: not yet full.
    s["methods"][1]["confirm"].update(state="finished", finished=3)
    assert show.study_progress(s) == 0.99
    assert show.study_progress({**s, "phase": "done"}) == 1.0
    # The studies list: past search, the trials that ran are all of search.
    row = {"phase": "confirm", "search_done": 2, "search_planned": 8, "confirm_done": 4,
           "confirm_planned": 6}
    assert show.list_progress(row) == 6 / 8
    assert show.list_progress({**row, "phase": "search"}) == 6 / 14


def test_spent_hours_are_called_a_budget_only_when_one_was_given():
    wall_only = " · ".join(t.plain for t in show.budget_segments(summary(wall_s=720.0)))
    assert wall_only.startswith("search spent 0.50 CPU-hours · wall 10m00s / 12m00s")
    given = " · ".join(t.plain for t in show.budget_segments(summary(device_hours=2)))
    assert given.startswith("budget 0.50 / 2 CPU-hours")
    none = " · ".join(t.plain for t in show.budget_segments(summary()))
    assert "(no budget)" in none


def test_the_eta_says_nothing_false_when_no_controller_drives_the_study():
    assert show.eta_text(summary(method("full"), eta=90.0)).plain == "ETA ~1m30s"
    assert show.eta_text(summary(method("full"), eta=0.0)).plain == \
        "runs done, confirm under way"
    assert show.eta_text(summary(method("full"), alive=False, eta=0.0)).plain == ""
    assert show.eta_text(summary(method("full"), alive=False, eta=90.0)).plain == \
        "ETA ~1m30s once resumed"


def test_why_the_controller_failed_comes_first_then_report_and_exports(tmp_path):
    root = tmp_path / "runs"
    s = summary(method("full", export=str(root / "studies/s1/export/full")),
                method("lora"), alive=False, reason="export of lora: disk full")
    s["report"] = {"files": [str(root / "studies/s1/report/report.pdf")]}
    lines = show.notes_text(s, root, "runs").plain.splitlines()
    assert lines == ["failed: export of lora: disk full",
                     "report: runs/studies/s1/report (report.pdf)",
                     "exports: runs/studies/s1/export (full)",
                     "note: budget: search of full stopped after 2 of 4 trials"]


def test_the_failure_is_the_last_controllers_own(tmp_path):
    paths = StudyStore(tmp_path).paths("study-one")
    paths.root.mkdir(parents=True)
    assert failure_reason(paths) is None  # no study.log
    log = ["2026-12-06 06:00:00 study study-one: running on local",
           "2026-12-06 06:10:00 study failed: the exported folder of run r1 does not "
           "reproduce its predictions"]
    Path(paths.log).write_text("\n".join(log) + "\n")
    assert failure_reason(paths) == "the exported folder of run r1 does not reproduce its " \
        "predictions"
    # Resumed since: its controller has not failed (yet), the older error is no answer.
    Path(paths.log).write_text("\n".join(log + [
        "2026-12-06 06:20:00 study study-one: running on local",
        "2026-12-06 06:30:00 confirm full: finished"]) + "\n")
    assert failure_reason(paths) is None
