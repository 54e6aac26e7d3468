"""The command palette (ctrl+p) lists the current screen's actions by name, each once, and running
one does the action: compare, report, cancel, resume, open a run by id, a new run or sweep, the
theme (emotui.tui.commands)."""

from __future__ import annotations

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from textual.command import CommandList, CommandPalette
from textual.widgets import Input
from tui_helpers import wait_for

import emotui.tui.control as control
from emotui.tui.commands import EmotuiCommands
from emotui.tui.memory import recall
from emotui.tui.screens.compare import CompareScreen
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.screens.runs import RunsScreen
from emotui.tui.screens.sweeps import SweepsScreen
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
ALL = len(RUNS) + len(SWEEP_RUNS)
RUNNING = "251121-081500-ptext-ef4g"
FAILED = "251121-101500-full-jk6m"
COMPLETED = ("251120-091500-full-ab2c", "251120-101500-lora-cd3e")


async def home(pilot) -> RunTable:
    await wait_for(pilot, lambda: pilot.app.screen.query(RunTable)
                   and pilot.app.screen.query_one(RunTable).row_count == ALL)
    return pilot.app.screen.query_one(RunTable)


async def select(pilot, *run_ids: str) -> None:
    table = await home(pilot)
    for rid in run_ids:
        table.move_cursor(row=table.get_row_index(rid))
        await pilot.press("space")


def titles(app) -> list[str]:
    return [c.title for c in EmotuiCommands(app.screen).commands()]


async def shown_in_palette(pilot) -> list[str]:
    """What the open palette lists (ctrl+p with nothing typed)."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette)
                   and pilot.app.screen.query_one(CommandList).option_count > 3)
    await pilot.pause(0.3)  # the palette adds hits in batches
    options = pilot.app.screen.query_one(CommandList).options
    return [option.hit.text for option in options]


async def run_in_palette(pilot, text: str) -> None:
    """ctrl+p, type text, run the first hit (enter)."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    await pilot.press(*text)
    palette = pilot.app.screen
    await wait_for(pilot, lambda: palette.query_one(CommandList).option_count > 0
                   and palette.query_one(CommandList).highlighted is not None)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await wait_for(pilot, lambda: pilot.app.screen is not palette)


async def test_the_palette_lists_the_home_screens_actions_once(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, *COMPLETED)
        await pilot.press("ctrl+p")
        listed = await shown_in_palette(pilot)
        for title in ("Compare selected runs", "Report of the 2 selected runs",
                      "Cancel the 2 selected runs", "Resume the 2 selected runs",
                      "Delete the 2 selected runs", "New run", "New sweep", "Open run by id…",
                      "Theme: light", "Sweeps", "Filter", "Quit", "Keys"):
            assert title in listed, (title, listed)
        assert len(listed) == len(set(listed)), listed
        # A key's own entry is left out where a named command stands for it.
        for replaced in ("Compare", "Cancel run", "Resume", "Delete", "Theme", "Open"):
            assert replaced not in listed
        await pilot.press("escape")
        # With nothing selected the commands name the run under the cursor.
        await pilot.press("escape")
        table = app.screen.query_one(RunTable)
        table.clear_selection()
        table.move_cursor(row=table.get_row_index(FAILED))
        assert {f"Open {FAILED}", f"Cancel {FAILED}", f"Report of {FAILED}"} <= set(titles(app))


async def test_compare_selected_runs_from_the_palette(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, *COMPLETED)
        await run_in_palette(pilot, "compare sel")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert sorted(app.screen.run_ids) == sorted(COMPLETED)
        assert "Report of the 2 compared runs" in titles(app)
        assert {"Export CSV", "Export Typst", "Show the Pareto view"} <= set(titles(app))


async def test_cancel_and_resume_from_the_palette(fixture_runs, make_app, monkeypatch):
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(control, "cancel", lambda paths: asked.append(("cancel", paths.run_id)))
    monkeypatch.setattr(control, "resume", lambda paths: asked.append(("resume", paths.run_id))
                        or "resumed on local")
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        table = await home(pilot)
        table.move_cursor(row=table.get_row_index(RUNNING))
        await run_in_palette(pilot, "cancel 2511")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))  # asks first
        await pilot.press("y")
        await wait_for(pilot, lambda: asked == [("cancel", RUNNING)])
        table.move_cursor(row=table.get_row_index(FAILED))
        await run_in_palette(pilot, "resume 2511")
        await wait_for(pilot, lambda: ("resume", FAILED) in asked)


async def test_open_a_run_by_typing_part_of_its_id(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await run_in_palette(pilot, "jk6m")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == FAILED
        # From the detail screen: its own commands, and any other run by id.
        assert {f"Cancel {FAILED}", f"Resume {FAILED}", f"Report of {FAILED}",
                f"New run from {FAILED}", "Show stderr"} <= set(titles(app))
        await run_in_palette(pilot, "open run by")  # a palette of the runs
        listed = await shown_in_palette(pilot)
        assert len(listed) == ALL and listed[0] == "251122-084500-lora-st4c"  # newest first
        await pilot.press(*"cd3e", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.run_id == "251120-101500-lora-cd3e")


async def test_report_of_the_selected_runs_from_the_palette(fixture_runs, make_app, tmp_path):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await select(pilot, *COMPLETED)
        await run_in_palette(pilot, "report of the 2")
        await wait_for(pilot, lambda: any(n.title == "Report written"
                                          for n in app._notifications), timeout=120)
    [report] = (tmp_path / "exports").glob("report-*.html")
    text = report.read_text(encoding="utf-8")
    assert all(rid in text for rid in COMPLETED)


async def test_new_run_new_sweep_and_theme_from_the_palette(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await run_in_palette(pilot, "new sweep")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert app.screen.title == "new sweep"
        assert app.screen.focused is app.screen.query_one("#sweep-file", Input)
        assert "New run" not in titles(app)  # not offered on the form itself
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await run_in_palette(pilot, "new run")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert app.screen.title == "new run"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await run_in_palette(pilot, "theme")
        await wait_for(pilot, lambda: app.theme == "textual-light")
        assert recall()["theme"] == "textual-light"
        assert "Theme: dark" in titles(app)


async def test_the_sweeps_screen_names_the_sweep_under_the_cursor(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepsScreen))
        await pilot.press("down")
        assert {"Report of sweep-lora-k3x9",
                "Compare the trials of sweep-lora-k3x9"} <= set(titles(app))
        await run_in_palette(pilot, "compare the trials")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert len(app.screen.run_ids) == len(SWEEP_RUNS)
