"""The TUI is idle when nothing changes, and never queues more than one batch of rows: the home
screen's poller used to post a batch at every interval even when the poll found nothing (the
source ends each poll with an empty "complete" batch), and posted without waiting for the UI
thread. Every screen, shown or hidden, then repainted several times a second, and a UI thread
slowed by a loaded machine fell further and further behind (a snapshot test crawled for minutes
in Textual's compositor)."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.screen import Screen
from fixture_store import RUNS, SWEEP_RUNS
from tui_helpers import wait_for

from emotui.tui.screens import runs as runs_screen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.runs import RunsScreen
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
ALL = len(RUNS) + len(SWEEP_RUNS)


def count_calls(monkeypatch, owner, name: str) -> list[float]:
    calls: list[float] = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(time.monotonic())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def count_posts(monkeypatch) -> list[int]:
    """How many RowsUpdated the home screen's poller posts."""
    posted: list[int] = []

    class Counted(runs_screen.RowsUpdated):
        def __init__(self, batch):
            super().__init__(batch)
            posted.append(1)

    monkeypatch.setattr(runs_screen, "RowsUpdated", Counted)
    return posted


async def test_nothing_new_means_nothing_posted_or_painted(fixture_runs, make_app, monkeypatch):
    app = make_app(fixture_runs, poll_interval=0.05)
    posted = count_posts(monkeypatch)
    polls = count_calls(monkeypatch, app.source, "poll")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(RunTable)
                       and app.screen.query_one(RunTable).row_count == ALL
                       and not app.screen.scanning)
        await pilot.pause(0.3)
        before, polled = len(posted), len(polls)
        await asyncio.sleep(1.5)
        assert len(polls) >= polled + 5  # the store is still read...
        assert len(posted) == before  # ...and an unchanged store posts nothing to paint
        # Hidden under the detail screen, the home screen stays still too.
        table = app.screen.query_one(RunTable)
        table.move_cursor(row=table.get_row_index("251121-101500-full-jk6m"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        ticks = count_calls(monkeypatch, RunTable, "tick")
        await asyncio.sleep(1.5)
        assert len(posted) == before and ticks == []
        await pilot.press("escape")  # shown again, its clocks move at once
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and ticks)


async def test_a_slow_ui_thread_never_has_more_than_one_batch_waiting(
        fixture_runs, make_app, monkeypatch):
    app = make_app(fixture_runs, poll_interval=0.01)
    original_poll = app.source.poll
    counter = iter(range(10**6))

    def always_news():
        for batch in original_poll():
            if batch.complete:  # a store where some run changes at every poll
                row = dict(next(iter(app.source._rows.values())))
                row["step"] = next(counter)
                batch.changed.append(row)
            yield batch

    monkeypatch.setattr(app.source, "poll", always_news)
    posted = count_posts(monkeypatch)
    painted, waiting = [], []
    original_show = RunTable.show

    def slow_show(self, rows):
        waiting.append(len(posted) - len(painted))
        time.sleep(0.1)  # the UI thread of a loaded machine
        painted.append(1)
        return original_show(self, rows)

    monkeypatch.setattr(RunTable, "show", slow_show)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(painted) >= 8, timeout=30)
        await pilot.press("down")  # keys are still handled between batches
    assert max(waiting) == 1, waiting


async def test_a_tab_switch_repaints_once_not_once_per_animation_frame(
        fixture_runs, make_app, monkeypatch):
    """Animations are off unless the user turns them on (TEXTUAL_ANIMATIONS): a tab's sliding
    underline alone repainted the screen about twenty times per switch."""
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    # Each repaint of a screen (counted from before the screens bind their update timers).
    updates = count_calls(monkeypatch, Screen, "_on_timer_update")
    app = make_app(fixture_runs)
    async with app.run_test(size=(160, 45)) as pilot:
        assert app.animation_level == "none"
        await wait_for(pilot, lambda: app.screen.query(RunTable)
                       and app.screen.query_one(RunTable).row_count == ALL)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await asyncio.sleep(0.5)
        start = time.monotonic()
        for key in "2121":
            await pilot.press(key)
            await asyncio.sleep(0.4)  # longer than the underline's animation (0.3 s)
        repaints = [t for t in updates if t >= start]
        assert len(repaints) <= 4 * 4, len(repaints)  # with the animation: about 80

    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "full")
    assert make_app(fixture_runs).animation_level == "full"


async def test_the_tuis_own_process_freezes_its_heap_once_the_table_is_loaded(
        fixture_runs, make_app, monkeypatch):
    """A full garbage collection walked every object the TUI holds (55-65 ms, every second
    or so while keys came): the TUI's own process moves what it holds once the home screen is
    loaded out of the collector's sight (core/heap.py). Not an app among others in a process
    (these tests), whose freeze would keep theirs for good."""
    frozen: list[int] = []
    monkeypatch.setattr(runs_screen.heap, "freeze_long_lived", lambda: frozen.append(1))
    for own_process in (True, False):
        frozen.clear()
        app = make_app(fixture_runs)
        app.freeze_heap = own_process
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: app.screen.query(RunTable)
                           and app.screen.query_one(RunTable).row_count == ALL
                           and not app.screen.scanning)
            await pilot.pause(0.3)
            app.screen.refresh_now()  # later polls take nothing more in
            await pilot.pause(0.5)
        assert len(frozen) == (1 if own_process else 0)


def test_run_tui_is_the_tuis_own_process(monkeypatch, tmp_path):
    from emotui.tui import app as app_module

    made = []
    monkeypatch.setattr(app_module.EmotuiApp, "run", lambda self: made.append(self))
    app_module.run_tui(str(tmp_path / "runs"))
    assert made and made[0].freeze_heap
