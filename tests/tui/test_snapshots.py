"""Snapshots of every screen on the deterministic fixture store (time frozen).

Update after an intended change with: pytest tests/tui/test_snapshots.py --snapshot-update
(the SVGs double as the README screenshots: scripts copy them to docs/screenshots/).
"""

from __future__ import annotations

from tui_helpers import wait_for
from fixture_store import RUNS, SWEEP_RUNS

from emotui.tui.screens.compare import CompareScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.screens.sweeps import SweepsScreen
from emotui.tui.widgets.run_table import RunTable

ALL = len(RUNS) + len(SWEEP_RUNS)


async def _home_ready(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.query(RunTable)
                   and app.screen.query_one(RunTable).row_count == ALL
                   and not app.screen.scanning)


def _goto(run_id: str):
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        table = pilot.app.screen.query_one(RunTable)
        table.move_cursor(row=table.get_row_index(run_id))
    return run_before


def test_home_80x24(snap_compare, fixture_runs, make_app):
    assert snap_compare(make_app(fixture_runs), terminal_size=(80, 24), run_before=_home_ready)


def test_home_wide(snap_compare, fixture_runs, make_app):
    assert snap_compare(make_app(fixture_runs), terminal_size=(150, 30), run_before=_home_ready)


def test_home_light_theme_filtered(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        await pilot.press("t", "slash", *"lora", "enter", "space")
    assert snap_compare(make_app(fixture_runs), terminal_size=(150, 30), run_before=run_before)


def test_launch_form(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))
        field = pilot.app.screen.query_one("#field-learning_rate")
        field.value = "-1"  # shows an inline validation message
        await pilot.pause()
    assert snap_compare(make_app(fixture_runs), terminal_size=(120, 36), run_before=run_before)


def test_detail_running_plots(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _goto("251121-081500-ptext-ef4g")(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                       and pilot.app.screen.series.eval_acc and pilot.app.screen.row)
    assert snap_compare(make_app(fixture_runs), terminal_size=(120, 36), run_before=run_before)


def test_detail_logs(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _goto("251121-101500-full-jk6m")(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                       and pilot.app.screen.log_lines["stderr"] and pilot.app.screen.row)
        await pilot.press("2", "o")
    assert snap_compare(make_app(fixture_runs), terminal_size=(100, 24), run_before=run_before)


def test_detail_results(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _goto("251120-101500-lora-cd3e")(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                       and pilot.app.screen._results_shown)
        await pilot.press("4")
    assert snap_compare(make_app(fixture_runs), terminal_size=(100, 36), run_before=run_before)


def test_compare(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        table = pilot.app.screen.query_one(RunTable)
        for rid in ("251120-091500-full-ab2c", "251120-101500-lora-cd3e",
                    "251122-081500-lora-st2a"):
            table.move_cursor(row=table.get_row_index(rid))
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen)
                       and pilot.app.screen.runs and pilot.app.screen.curves is not None)
        await pilot.pause(0.3)
    assert snap_compare(make_app(fixture_runs), terminal_size=(120, 40), run_before=run_before)


def test_sweeps(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SweepsScreen))
    assert snap_compare(make_app(fixture_runs), terminal_size=(120, 24), run_before=run_before)


def test_delete_confirmation(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _goto("251121-111500-lora-mn7p")(pilot)
        await pilot.press("d")
    assert snap_compare(make_app(fixture_runs), terminal_size=(100, 24), run_before=run_before)
