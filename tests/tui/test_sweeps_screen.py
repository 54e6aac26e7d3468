"""The sweeps tree follows a live sweep without moving the user's cursor."""

from __future__ import annotations

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from textual.widgets import Tree
from tui_helpers import wait_for

from emotui.core.runstore import RunPaths, atomic_write_json
from emotui.core.status import write_status
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.sweeps import SweepsScreen
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
ALL = len(RUNS) + len(SWEEP_RUNS)
RUNNING_TRIAL = "251122-084500-lora-st4c"
OTHER_TRIAL = "251122-083000-lora-st3b"


async def test_the_cursor_stays_on_its_trial_while_the_sweep_repaints(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepsScreen))
        tree = app.screen.query_one(Tree)
        node = next(n for n in tree.root.children[0].children if n.data == OTHER_TRIAL)
        tree.move_cursor(node)
        await pilot.pause()
        # Another trial ends best of all: the tree is rebuilt, that trial ranked first.
        paths = RunPaths(fixture_runs / RUNNING_TRIAL)
        atomic_write_json(paths.results, {"eval_accuracy": 0.95, "test_accuracy": 0.94})
        write_status(paths, state="completed", progress=1.0)
        await wait_for(pilot, lambda: tree.root.children[0].children[0].data == RUNNING_TRIAL,
                       timeout=15)
        await pilot.pause(0.2)
        assert tree.cursor_node is not None and tree.cursor_node.data == OTHER_TRIAL
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == OTHER_TRIAL
