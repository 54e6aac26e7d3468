"""Safe actions: dialogs name the runs they act on, a selection never acts unseen or outlives the
action that used it, cancel on a finished run asks nothing; the detail footer shows every
action; the sweeps screen ranks, shows test accuracy and compares; sort and theme behave."""

from __future__ import annotations

import dataclasses

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from tui_helpers import wait_for
from textual.widgets import DataTable, Static, Tree

from emotui.core.config import config_from_yaml, dump_config
from emotui.core.runstore import RunPaths, atomic_write_json, read_json
from emotui.core.status import write_status
from emotui.tui.memory import memory_path
from emotui.tui.screens.compare import CompareScreen
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.sweeps import SweepsScreen
from emotui.tui.widgets.run_table import RunTable

ALL = len(RUNS) + len(SWEEP_RUNS)
pytestmark = pytest.mark.anyio


def table_of(app) -> RunTable:
    return app.screen.query_one(RunTable)


def question(app) -> str:
    return str(app.screen.query_one("#confirm-question", Static).render())


def notices(app) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def ready(pilot) -> RunTable:
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.query(RunTable)
                   and table_of(app).row_count == ALL and not app.screen.scanning)
    return table_of(app)


async def goto(pilot, table: RunTable, run_id: str) -> None:
    table.move_cursor(row=table.get_row_index(run_id))
    await pilot.pause()


async def test_delete_and_cancel_dialogs_name_their_runs(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await ready(pilot)
        await goto(pilot, table, "251121-111500-lora-mn7p")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Delete 251121-111500-lora-mn7p and all its files" in question(app)
        await pilot.press("n")
        for rid in ("251120-091500-full-ab2c", "251121-101500-full-jk6m"):
            await goto(pilot, table, rid)
            await pilot.press("space")
        await pilot.press("d")
        text = question(app)
        assert "Delete these 2 runs" in text
        assert "251120-091500-full-ab2c" in text and "251121-101500-full-jk6m" in text
        await pilot.press("n")
        # Cancel names the runs it stops, and only those: a finished one is left out.
        await goto(pilot, table, "251121-081500-ptext-ef4g")
        await pilot.press("space")
        await pilot.press("x")
        text = question(app)
        assert "Cancel 251121-081500-ptext-ef4g?" in text
        assert "2 selected runs are not queued or running" in text
        assert "251120-091500-full-ab2c" not in text
        await pilot.press("n")


async def test_cancel_on_a_finished_run_asks_nothing(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await ready(pilot)
        await goto(pilot, table, "251120-091500-full-ab2c")
        await pilot.press("x")
        assert not isinstance(app.screen, ConfirmScreen)
        await wait_for(pilot, lambda: "Cancel" in dict(notices(app)))
        assert dict(notices(app))["Cancel"] == \
            "251120-091500-full-ab2c is completed; nothing to cancel."
        # The same on the detail screen.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.row)
        app._notifications.clear()
        await pilot.press("x")
        assert isinstance(app.screen, RunDetailScreen)
        await wait_for(pilot, lambda: "Cancel" in dict(notices(app)))


async def test_a_selection_ends_with_the_action_that_used_it(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await ready(pilot)
        for rid in ("251120-091500-full-ab2c", "251120-101500-lora-cd3e"):
            await goto(pilot, table, rid)
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert app.screen.run_ids == ["251120-101500-lora-cd3e", "251120-091500-full-ab2c"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.query(RunTable))
        assert not table.selected and "selected" not in str(
            app.screen.query_one("#runs-status", Static).render())
        # d now acts on the highlighted run, not on the two compared before.
        await goto(pilot, table, "251121-111500-lora-mn7p")
        await pilot.press("d")
        assert "Delete 251121-111500-lora-mn7p " in question(app)
        await pilot.press("n")


async def test_a_selection_hidden_by_a_filter_is_never_acted_on(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await ready(pilot)
        await goto(pilot, table, "251120-091500-full-ab2c")
        await pilot.press("space")
        await pilot.press("slash", *"mn7p", "enter")  # only the cancelled LoRA run shows
        await wait_for(pilot, lambda: table.row_count == 1)
        status = str(app.screen.query_one("#runs-status", Static).render())
        assert "1 selected (1 hidden by the filter)" in status
        await pilot.press("d")
        assert "Delete 251121-111500-lora-mn7p " in question(app)
        assert "full-ab2c" not in question(app)
        await pilot.press("n")


async def test_clicking_the_sorted_column_header_reverses_it(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(160, 30)) as pilot:
        table = await ready(pilot)
        while table.sort_column != "test":
            await pilot.press("s")
        assert table.sort_reverse is False
        header = RunTable.HeaderSelected(table, "test")
        app.screen.post_message(header)  # a click on the sorted column's header
        await wait_for(pilot, lambda: table.sort_reverse is True)
        assert str(table.get_row_at(0)[1]) == "251120-091500-full-ab2c"  # best test first
        app.screen.post_message(header)
        await wait_for(pilot, lambda: table.sort_reverse is False)


async def test_detail_footer_and_results(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(100, 36)) as pilot:
        table = await ready(pilot)
        await goto(pilot, table, "251120-101500-lora-cd3e")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen._results_shown)
        shown = {b.binding.key for b in app.screen.active_bindings.values()
                 if b.binding.show}
        assert {"x", "r", "e", "escape", "1", "2", "3", "4"} <= shown
        confusion = app.screen.query_one("#confusion", DataTable)
        labels = [str(c.label) for c in confusion.ordered_columns]
        assert labels[1:] == ["sadness", "joy", "love", "anger", "fear", "surprise"]


async def test_virtual_tokens_show_the_count_used(fixture_runs, make_app):
    """A text-init prompt run with no explicit count shows the one the job recorded (the init
    text's length; a random-init run records its method default in config.yaml instead)."""
    paths = RunPaths(fixture_runs / "251121-081500-ptext-ef4g")
    config = config_from_yaml(paths.config)
    paths.config.write_text(dump_config(
        dataclasses.replace(config, prompt_tuning_num_virtual_tokens=None)))
    write_status(paths, state="running", num_virtual_tokens=20)
    app = make_app(fixture_runs)
    async with app.run_test(size=(160, 30)) as pilot:
        table = await ready(pilot)
        assert "vt=20" in table.get_cell(paths.run_id, "hparams").plain
        # Once it ends, results.json holds the count it used.
        atomic_write_json(paths.results, {"num_virtual_tokens": 24, "test_accuracy": 0.5})
        write_status(paths, state="completed")
        await wait_for(pilot, lambda: "vt=24" in table.get_cell(paths.run_id, "hparams").plain)


async def test_sweeps_rank_by_metric_show_test_and_compare(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(140, 30)) as pilot:
        await ready(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepsScreen))
        tree = app.screen.query_one(Tree)
        order = lambda: [str(c.data) for c in tree.root.children[0].children]  # noqa: E731
        # By eval/accuracy (the sweep's metric), best first; the running trial has none yet.
        assert order() == ["251122-081500-lora-st2a", "251122-083000-lora-st3b",
                           "251122-084500-lora-st4c"]
        first = str(tree.root.children[0].children[0].label)
        assert "test 91.90" in first and "eval 92.30" in first
        status = lambda: str(app.screen.query_one("#sweeps-status").render())  # noqa: E731
        assert "trials by eval accuracy best first" in status()
        await pilot.press("S")  # the same order, reversed (unscored still last)
        await wait_for(pilot, lambda: order()[0] == "251122-083000-lora-st3b")
        assert "worst first" in status()
        await pilot.press("s")  # test accuracy
        await wait_for(pilot, lambda: "test accuracy best first" in status())
        await pilot.press("s")  # start order
        await wait_for(pilot, lambda: "started" in status())
        tree.move_cursor(tree.root.children[0])
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert app.screen.run_ids == ["251122-081500-lora-st2a", "251122-083000-lora-st3b",
                                      "251122-084500-lora-st4c"]


async def test_the_theme_is_remembered(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light"
    assert read_json(memory_path())["theme"] == "textual-light"
    again = make_app(fixture_runs)
    async with again.run_test(size=(100, 30)) as pilot:
        assert again.theme == "textual-light"
