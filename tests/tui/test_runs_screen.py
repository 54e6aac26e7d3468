"""Home screen: the live table, filters, sort, selection, delete; live updates in place."""

from __future__ import annotations

import pytest
from tui_helpers import wait_for
from fixture_store import RUNS, SWEEP_RUNS

from emotui.core.runstore import RunPaths
from emotui.core.status import write_status
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.widgets.run_table import RunTable

ALL = len(RUNS) + len(SWEEP_RUNS)
pytestmark = pytest.mark.anyio


def table_of(app) -> RunTable:
    return app.screen.query_one(RunTable)


def cell(app, run_id: str, column: str) -> str:
    value = table_of(app).get_cell(run_id, column)
    return getattr(value, "plain", value)


async def test_table_lists_every_run_with_state_and_metrics(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == ALL)
        assert cell(app, "251120-091500-full-ab2c", "state") == "completed"
        assert cell(app, "251120-091500-full-ab2c", "test") == "92.50%"
        assert cell(app, "251121-091500-prand-gh5j", "reason") == "Priority"
        assert cell(app, "251121-091500-prand-gh5j", "backend") == "slurm:4830"
        assert cell(app, "251121-081500-ptext-ef4g", "elapsed") == "15m00s"
        assert "45%" in cell(app, "251121-081500-ptext-ef4g", "progress")
        # Newest first by default.
        assert table_of(app).current_id == "251122-084500-lora-st4c"


async def test_filter_by_text_state_and_method(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == ALL)
        await pilot.press("slash", *"oom", "enter")  # no run mentions oom
        assert table_of(app).row_count == 0
        await pilot.press("escape")
        await pilot.press("slash", *"memory", "enter")  # the failed run's reason
        assert [k.value for k in table_of(app).rows] == ["251121-101500-full-jk6m"]
        await pilot.press("escape")
        assert table_of(app).row_count == ALL
        await pilot.press("f", "f", "f")  # any -> queued -> running -> completed
        ids = {k.value for k in table_of(app).rows}
        assert ids == {"251120-091500-full-ab2c", "251120-101500-lora-cd3e",
                       "251122-081500-lora-st2a", "251122-083000-lora-st3b"}
        await pilot.press("m")  # and method full
        assert {k.value for k in table_of(app).rows} == {"251120-091500-full-ab2c"}


async def test_typing_in_the_filter_of_a_large_store_looks_only_at_what_it_can_match(
        fixture_runs, make_app, monkeypatch):
    """Above FILTER_SETTLE_ROWS runs a burst of typing refilters once, when it pauses (or at
    enter); typing on looks only at the rows shown; each row's text is built once."""
    from emotui.tui.screens import runs as runs_screen

    monkeypatch.setattr(runs_screen, "FILTER_SETTLE_ROWS", 3)  # the fixture store is "large"
    refilters: list[int] = []
    refilter = runs_screen.RunsScreen.refilter
    monkeypatch.setattr(runs_screen.RunsScreen, "refilter",
                        lambda self: refilters.append(1) or refilter(self))
    looked_at: list[str] = []  # the rows a refilter's predicate was asked about
    matcher = runs_screen.RunsScreen._matcher

    def counting_matcher(self, chosen=None):
        match = matcher(self, chosen)
        return lambda row: looked_at.append(row["run_id"]) or match(row)

    monkeypatch.setattr(runs_screen.RunsScreen, "_matcher", counting_matcher)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == ALL)
        screen = app.screen
        looked_at.clear()
        await pilot.press("slash", *"lora")
        assert table_of(app).row_count == ALL and not refilters  # still typing
        await wait_for(pilot, lambda: refilters)
        assert len(refilters) == 1 and len(looked_at) == ALL
        loras = {k.value for k in table_of(app).rows}
        assert loras and all("-lora-" in rid for rid in loras)
        texts = dict(screen._hay)
        assert len(texts) == ALL  # each row's text, built once
        looked_at.clear()
        await pilot.press(*"-st", "enter")  # enter: at once
        assert len(refilters) == 2
        assert {k.value for k in table_of(app).rows} == {r for r in loras if "-lora-st" in r}
        assert sorted(looked_at) == sorted(loras)  # only the rows shown were looked at
        assert all(screen._hay[rid] is texts[rid] for rid in texts)  # with the texts built
        await pilot.press("slash", "end", "backspace", "backspace", "backspace", "enter")
        assert {k.value for k in table_of(app).rows} == loras  # widened: every row again


async def test_sort_by_column_keeps_the_cursor_on_its_run(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count == ALL)
        await pilot.press("down", "down")
        before = table.current_id
        while table.sort_column != "test":
            await pilot.press("s")
        await pilot.press("S")  # descending: best test accuracy first
        order = [k.value for k in table.rows]
        ordered_ids = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert ordered_ids[0] == "251120-091500-full-ab2c"  # 92.50
        assert ordered_ids[1] == "251120-101500-lora-cd3e"  # 92.15
        assert table.current_id == before
        assert len(order) == ALL


async def test_live_update_changes_cells_in_place(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count == ALL)
        await pilot.press("down", "down", "down")
        cursor_run = table.current_id
        paths = RunPaths(fixture_runs / "251121-081500-ptext-ef4g")
        write_status(paths, progress=0.9, epoch=4.5)
        await wait_for(pilot, lambda: "90%" in cell(app, paths.run_id, "progress"))
        assert cell(app, paths.run_id, "epoch") == "4.5"
        assert table.current_id == cursor_run and table.row_count == ALL


async def test_delete_asks_and_refuses_active_runs(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count == ALL)
        table.move_cursor(row=table.get_row_index("251121-081500-ptext-ef4g"))
        await pilot.press("d")  # running: refused without a question
        assert not isinstance(app.screen, ConfirmScreen)
        assert (fixture_runs / "251121-081500-ptext-ef4g").exists()
        table.move_cursor(row=table.get_row_index("251121-111500-lora-mn7p"))
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert (fixture_runs / "251121-111500-lora-mn7p").exists()
        await pilot.press("d")
        await pilot.press("y")
        await wait_for(pilot, lambda: "251121-111500-lora-mn7p" not in table_of(app).rows)
        assert not (fixture_runs / "251121-111500-lora-mn7p").exists()


async def test_selection_and_compare_needs_two(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count == ALL)
        await pilot.press("c")  # nothing selected: a warning, still home
        assert app.screen.query(RunTable)
        await pilot.press("space", "space")
        assert len(table.selected) == 2
        assert table.chosen() == ["251122-084500-lora-st4c", "251122-083000-lora-st3b"]


async def test_every_screen_action_is_in_the_command_palette(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == ALL)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for binding in app.screen.BINDINGS:
            assert binding.description in titles
        assert {"Quit", "Theme"} <= titles
        # Running a palette command runs the action: "New run" opens the launch screen.
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "New run")
        command.callback()
        await pilot.pause(0.2)
        from emotui.tui.screens.launch import LaunchScreen

        assert isinstance(app.screen, LaunchScreen)


async def test_sweeps_group_trials_and_follow_them(fixture_runs, make_app):
    from textual.widgets import Tree

    from emotui.core.runstore import atomic_write_json
    from emotui.tui.screens.detail import RunDetailScreen
    from emotui.tui.screens.sweeps import SweepsScreen

    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == ALL)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepsScreen))
        tree = app.screen.query_one(Tree)
        (sweep,) = tree.root.children
        # A 3 x 2 grid (spec.json's planned_total), three trials started so far.
        assert "grid" in str(sweep.label) and "2/6 done, 1 running" in str(sweep.label)
        assert "1 collapsed" in str(sweep.label)
        assert [str(c.data) for c in sweep.children] == [
            "251122-081500-lora-st2a", "251122-083000-lora-st3b", "251122-084500-lora-st4c"]
        # The running trial finishes with a better accuracy: the tree follows.
        paths = RunPaths(fixture_runs / "251122-084500-lora-st4c")
        atomic_write_json(paths.results, {"eval_accuracy": 0.95, "test_accuracy": 0.94})
        write_status(paths, state="completed", progress=1.0)
        await wait_for(pilot, lambda: "3/6 done" in str(tree.root.children[0].label), timeout=15)
        assert "best 95.00% (st4c)" in str(tree.root.children[0].label)
        # Trials are ranked by the sweep's metric (eval/accuracy, best first): st4c leads now.
        assert [str(c.data) for c in tree.root.children[0].children] == [
            "251122-084500-lora-st4c", "251122-081500-lora-st2a", "251122-083000-lora-st3b"]
        tree.move_cursor(next(c for c in tree.root.children[0].children
                              if c.data == "251122-081500-lora-st2a"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == "251122-081500-lora-st2a"


def test_sweep_progress_counts_against_the_planned_total():
    from emotui.tui.screens.sweeps import planned_total, sweep_label

    trials = [{"run_id": f"t{i}", "status": s} for i, s in enumerate(
        ("completed", "completed", "running"))]
    # A grid: its size (spec.json's planned_total), not run_cap and not the trials seen.
    assert "2/12 done" in str(sweep_label("g", trials, {"method": "grid", "planned_total": 12}))
    # random with run_cap; never fewer than the trials already there.
    assert planned_total({"method": "random", "run_cap": 2}, trials) == 3
    assert planned_total({"method": "random", "run_cap": 20}, trials) == 20
    # Unbounded (--count) or unknown (a sweep from W&B): no made-up total.
    label = str(sweep_label("r", trials, {"method": "random", "planned_total": None}))
    assert "2 done of 3 so far, 1 running" in label and "%" not in label
    assert planned_total({}, trials) is None
