"""The compare screen's Pareto view (p) and report key (r), the sweeps screen's report key, and
the cost estimate the launch screen shows for a sweep: workers report back by message."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_control_workers import Recorder, notices
from tui_helpers import wait_for

import emotui.tui.control as control
from emotui.tui.screens.compare import CompareScreen, pareto_points
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.screens.sweeps import SweepsScreen
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
COMPARED = ("251120-091500-full-ab2c", "251120-101500-lora-cd3e", "251122-081500-lora-st2a")


async def open_compare(pilot, app) -> CompareScreen:
    table = app.screen.query_one(RunTable)
    await wait_for(pilot, lambda: all(rid in table.rows for rid in COMPARED))
    for rid in COMPARED:
        table.move_cursor(row=table.get_row_index(rid))
        await pilot.press("space")
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.runs
                   and app.screen.curves is not None)
    return app.screen


async def test_pareto_view_marks_the_front_of_accuracy_against_parameters(fixture_runs,
                                                                          make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_compare(pilot, app)
        assert not screen.pareto
        await pilot.press("p")
        assert screen.pareto
        assert "p: curves" in str(screen.query_one("#compare-status").render())
        points, front, metric = pareto_points(screen.runs)
        await pilot.press("p")
        assert not screen.pareto and "p: Pareto" in str(
            screen.query_one("#compare-status").render())
    assert metric == "test_accuracy"
    # The two LoRA runs differ only by seed: one point at their mean, as the report draws it.
    by_label = {p.label: p for p in points}
    assert set(by_label) == {"full-ab2c", "lora-cd3e +1"}
    assert by_label["lora-cd3e +1"].params == 890_118
    assert by_label["lora-cd3e +1"].accuracy == pytest.approx((0.9215 + 0.9190) / 2)
    assert by_label["full-ab2c"].params == 124_650_246
    # Cheaper and less accurate vs dearer and more accurate: both on the front, by cost.
    assert [points[i].label for i in front] == ["lora-cd3e +1", "full-ab2c"]


def test_pareto_points_leave_out_dominated_and_unmeasured_runs():
    def run(rid, params, acc, lr):
        return {"run_id": rid, "config": {"method": "lora", "learning_rate": lr},
                "results": {"trainable_params": params, "test_accuracy": acc},
                "row": {"status": "completed"}}

    points, front, _ = pareto_points([run("a-1", 100, 0.8, 1), run("b-2", 200, 0.7, 2),
                                      run("c-3", 300, 0.9, 3), run("d-4", None, 0.99, 4)])
    assert [p.label for p in points] == ["a-1", "b-2", "c-3"]  # d-4: no parameter count
    assert [points[i].label for i in front] == ["a-1", "c-3"]  # b-2 is beaten by a-1


async def test_report_key_runs_a_worker_of_the_compare_screen(fixture_runs, make_app,
                                                              monkeypatch, tmp_path):
    written = tmp_path / "exports" / "report.html"
    write = Recorder(result=written)
    monkeypatch.setattr(control, "write_report", write)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_compare(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: ("Report written", str(written)) in notices(app))
    [call] = write.calls
    assert (call["name"], call["group"], call["node"]) == ("write-report", "report",
                                                           "CompareScreen")
    assert call["thread"] is not threading.main_thread()
    store, refs, path = call["args"]
    assert store.root == fixture_runs and sorted(refs) == list(COMPARED)
    assert path.parent == tmp_path / "exports" and path.name.startswith("report-")


async def test_report_key_writes_the_compared_runs_report(fixture_runs, make_app, tmp_path):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_compare(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: any(t == "Report written" for t, _ in notices(app)),
                       timeout=120)
    [path] = [Path(m) for t, m in notices(app) if t == "Report written"]
    assert path.parent == tmp_path / "exports" and path.suffix == ".html"
    html = path.read_text(encoding="utf-8")
    assert all(rid in html for rid in COMPARED)
    assert "<svg" in html  # one self-contained file, figures inside


async def test_sweeps_report_key_writes_the_sweep_under_the_cursor(fixture_runs, make_app,
                                                                   monkeypatch, tmp_path):
    write = Recorder(result=tmp_path / "exports" / "r.html")
    monkeypatch.setattr(control, "write_report", write)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepsScreen))
        await pilot.press("r")  # the cursor is on the tree's root: no sweep yet
        await wait_for(pilot, lambda: any("Move the cursor to a sweep" in m
                                          for _, m in notices(app)))
        await pilot.press("down", "down", "r")  # a trial of the sweep: its sweep
        await wait_for(pilot, lambda: write.calls)
        await wait_for(pilot, lambda: any(t == "Report written" for t, _ in notices(app)))
    [call] = write.calls
    assert (call["name"], call["group"], call["node"]) == ("write-sweep-report", "report",
                                                           "SweepsScreen")
    assert call["args"][1] == ["sweep-lora-k3x9"]
    assert call["args"][2].name.startswith("report-sweep-lora-k3x9-")


def test_a_sweep_report_covers_its_trials(fixture_runs, tmp_path):
    from emotui.core.runstore import RunStore

    path = control.write_report(RunStore(fixture_runs), ["sweep-lora-k3x9"],
                                tmp_path / "sweep.html")
    html = path.read_text(encoding="utf-8")
    # Its two finished trials: the picked one by id, the collapsed one by its settings.
    assert "2 finished runs" in html and "251122-081500-lora-st2a" in html
    assert "lr=0.003, r=16" in html and "collapsed (1/1)" in html
    assert "full-ab2c" not in html and "Full fine-tuning" not in html  # not a trial of it


async def test_launching_a_sweep_shows_its_estimated_cost(fixture_runs, make_app, tmp_path,
                                                          monkeypatch):
    started = []
    monkeypatch.setattr(control.subprocess, "Popen",
                        lambda command, **kwargs: started.append(command))
    sweep = tmp_path / "lr.yaml"
    sweep.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\n"
                     "parameters:\n  learning_rate: {values: [0.001, 0.002]}\n"
                     "  method: {value: lora}\n")
    unbounded = tmp_path / "forever.yaml"
    unbounded.write_text("method: random\nparameters:\n  learning_rate: {min: 0.001, max: 0.01}\n")
    launch_key = next(b.key for b in LaunchScreen.BINDINGS if b.action == "submit_sweep")
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        app.screen.query_one("#sweep-file").value = str(unbounded)
        await pilot.press(launch_key)
        await wait_for(pilot, lambda: any(t == "Sweep not launched" for t, _ in notices(app)))
        assert not started and isinstance(app.screen, LaunchScreen)
        app.screen.query_one("#sweep-file").value = str(sweep)
        await pilot.press(launch_key)
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    assert len(started) == 1
    [message] = [m for t, m in notices(app) if t == "Sweep launched"]
    # From the store's completed LoRA runs of roberta-base (the fixture's measured speed).
    expected = control.estimate_sweep(app.source.store, sweep)
    assert expected and expected[0].startswith("estimate: 2 trials")
    assert message.splitlines()[1:] == expected
