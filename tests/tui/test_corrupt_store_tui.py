"""The TUI over a store where every file of a run is broken in every way
(tests/core/corrupt_store.py): it starts, lists every good run, shows each broken one as
unreadable with the reason, and opens the detail of a broken run without failing."""

from __future__ import annotations

import pytest
from core.corrupt_store import build_corrupt_store
from tui_helpers import wait_for

from emotui.core.runview import UNREADABLE
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio


def cell(app, run_id: str, column: str) -> str:
    value = app.screen.query_one(RunTable).get_cell(run_id, column)
    return getattr(value, "plain", value)


def snapshot(root):
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


async def test_tui_lists_good_runs_and_marks_broken_ones(tmp_path, make_app):
    store = build_corrupt_store(tmp_path / "runs")
    everything = len(store.good) + len(store.damaged)
    before = snapshot(store.root)
    app = make_app(store.root)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == everything)
        for run_id in store.good:
            assert cell(app, run_id, "state") == "completed"
        for damage in store.damaged:
            state = cell(app, damage.run_id, "state")
            if damage.makes_unreadable:
                assert state == UNREADABLE, damage.name
                assert damage.file in cell(app, damage.run_id, "reason"), damage.name
            else:
                assert state == "completed", damage.name
        table = app.screen.query_one(RunTable)
        broken = next(d for d in store.damaged if d.name == "status.json-wrong_types-all")
        table.move_cursor(row=table.get_row_index(broken.run_id))
        await pilot.press("enter")
        await pilot.pause(0.5)
        from emotui.tui.screens.detail import RunDetailScreen

        assert isinstance(app.screen, RunDetailScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: bool(app.screen.query(RunTable)))
    assert snapshot(store.root) == before  # a reader changes nothing
