"""Watching runs: an ETA that counts down, fractional epochs, phases, GPU telemetry, notifications
when a run ends (also one started elsewhere), collapsed and stopping runs flagged."""

from __future__ import annotations

import pytest
from fixture_store import FROZEN_NOW, RUNS, SWEEP_RUNS
from tui_helpers import wait_for

from emotui.core.runstore import RunPaths, atomic_write_json
from emotui.core.status import write_status
from emotui.launch.base import mark_cancel_requested
from emotui.tui.app import EmotuiApp
from emotui.tui.notices import ending_notice, run_endings
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.sources import LocalRunSource
from emotui.tui.widgets.run_table import RunTable
from emotui.tui.widgets.telemetry import TelemetryStrip, sparkline

ALL = len(RUNS) + len(SWEEP_RUNS)
RUNNING = "251121-081500-ptext-ef4g"  # on a GPU, training
TRIAL = "251122-084500-lora-st4c"  # on a CPU, evaluating
pytestmark = pytest.mark.anyio


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = FROZEN_NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def clocked_app(root, clock: Clock, tmp_path) -> EmotuiApp:
    source = LocalRunSource(root, clock=clock, ask_backends_every=None)
    return EmotuiApp(source, clock=clock, export_dir=tmp_path / "exports", poll_interval=0.2,
                     store_label="runs")


def cell(app, run_id: str, column: str) -> str:
    value = app.screen.query_one(RunTable).get_cell(run_id, column)
    return getattr(value, "plain", value)


def notices(app) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def test_eta_counts_down_and_elapsed_counts_up_between_refreshes(fixture_runs, tmp_path):
    clock = Clock()
    app = clocked_app(fixture_runs, clock, tmp_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
        # Measured 10 s before "now": 1110 s left then, 1100 s now; 890 s elapsed then.
        assert cell(app, RUNNING, "eta") == "18m20s"
        assert cell(app, RUNNING, "elapsed") == "15m00s"
        seen = {cell(app, RUNNING, "eta")}
        for _ in range(3):
            clock.now += 7
            await pilot.pause(1.2)  # the table's one-second tick
            seen.add(cell(app, RUNNING, "eta"))
        assert seen == {"18m20s", "18m13s", "18m06s", "17m59s"}
        assert cell(app, RUNNING, "elapsed") == "15m21s"
        # A finished run has no ETA.
        assert cell(app, "251120-091500-full-ab2c", "eta") == "-"


async def test_epochs_phase_gpu_and_collapse_on_the_home_screen(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
        assert cell(app, RUNNING, "epoch") == "2.2"  # 2.25 epochs, rounded down
        assert cell(app, RUNNING, "state") == "running"
        assert cell(app, TRIAL, "state") == "evaluating"  # the job's phase
        assert cell(app, RUNNING, "gpu") == "87% 12.4/80G"
        assert cell(app, TRIAL, "gpu") == ""  # a CPU run: no GPU keys, nothing made up
        assert cell(app, "251122-083000-lora-st3b", "state") == "collapsed"
        # 92% of a one-epoch run reads 0.9, never 0.0 (and never 1.0 before its end).
        write_status(RunPaths(fixture_runs / RUNNING), epoch=0.96, progress=0.19)
        await wait_for(pilot, lambda: cell(app, RUNNING, "epoch") == "0.9")


async def test_a_run_ending_elsewhere_is_notified_once(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: not app.screen.scanning)
        await pilot.pause(0.5)
        # Runs that had ended before the TUI opened are no news.
        assert not [t for t, _ in notices(app) if t.startswith("Run ")]
        # Another process (the CLI, a job) finishes the running runs: one completes, the
        # sweep trial collapses.
        paths = RunPaths(fixture_runs / RUNNING)
        atomic_write_json(paths.results, {"test_accuracy": 0.8125, "collapsed": False})
        write_status(paths, state="completed", phase=None)
        trial = RunPaths(fixture_runs / TRIAL)
        atomic_write_json(trial.results, {"test_accuracy": 0.352, "collapsed": True})
        write_status(trial, state="completed", reason="collapsed: loss stuck at ln(6)")
        await wait_for(pilot, lambda: len([t for t, _ in notices(app) if t.startswith("Run ")])
                       == 2)
        found = dict(notices(app))
        assert found["Run completed"] == f"{RUNNING} (ptext): test accuracy 81.25%"
        assert found["Run collapsed"].startswith(TRIAL)
        assert cell(app, TRIAL, "state") == "collapsed"
        # The queued run fails; the preempted one comes back and is preempted again.
        write_status(RunPaths(fixture_runs / "251121-091500-prand-gh5j"), state="failed",
                     reason="CUDA error")
        await wait_for(pilot, lambda: "Run failed" in dict(notices(app)))
        assert dict(notices(app))["Run failed"].endswith("CUDA error")
        await pilot.pause(0.6)
        assert len([t for t, _ in notices(app) if t.startswith("Run ")]) == 3


def test_run_endings_only_for_runs_seen_working():
    before = {"a": {"run_id": "a", "status": "running"},
              "b": {"run_id": "b", "status": "completed"},
              "c": {"run_id": "c", "status": "queued", "source": "wandb"}}
    changed = [{"run_id": "a", "status": "preempted", "reason": "node lost"},
               {"run_id": "b", "status": "completed"},  # already ended
               {"run_id": "c", "status": "completed", "source": "wandb"},  # remote: not ours
               {"run_id": "d", "status": "failed"}]  # first seen ended: at startup
    (row, outcome), = run_endings(before, changed)
    assert row["run_id"] == "a" and outcome == "preempted"
    assert ending_notice(row, outcome) == ("Run preempted", "a (-): node lost", "warning")


async def test_a_cancelled_run_shows_stopping_until_it_has_stopped(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: not app.screen.scanning)
        table = app.screen.query_one(RunTable)
        paths = RunPaths(fixture_runs / RUNNING)
        mark_cancel_requested(paths)  # what `emotui cancel` (or x) does first
        await wait_for(pilot, lambda: cell(app, RUNNING, "state") == "stopping")
        table.move_cursor(row=table.get_row_index(RUNNING))
        await pilot.press("x")  # already stopping: nothing more to cancel, no question
        assert app.screen.query(RunTable)
        await pilot.press("r")  # resuming a run that has not stopped would fail: said at once
        await wait_for(pilot, lambda: "Resume" in dict(notices(app)))
        assert "still stopping" in dict(notices(app))["Resume"]
        write_status(paths, state="cancelled", reason="cancelled by user")
        await wait_for(pilot, lambda: cell(app, RUNNING, "state") == "cancelled")


async def test_detail_header_counts_down_and_shows_throughput(fixture_runs, tmp_path):
    clock = Clock()
    app = clocked_app(fixture_runs, clock, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
        app.push_screen(RunDetailScreen(RUNNING))
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.row and app.screen.series.system)
        screen = app.screen
        summary = lambda: str(screen.query_one("#detail-summary").render())  # noqa: E731
        assert "ETA 18m20s" in summary() and "elapsed 15m00s" in summary()
        assert "step 562/1250" in summary() and "epoch 2.2/5" in summary()
        assert "61.5k tokens/s" in summary() and "31% padding" in summary()
        clock.now += 30
        await wait_for(pilot, lambda: "ETA 17m50s" in summary())
        assert "elapsed 15m30s" in summary()
        strip = str(screen.query_one(TelemetryStrip).render())
        for gauge in ("CPU", "RSS", "GPU", "GPU mem", "85.9 GB"):  # 80 GiB, decimal units
            assert gauge in strip
        assert any(bar in strip for bar in "▁▂▃▄▅▆▇█")


async def test_detail_telemetry_without_a_gpu_has_no_gpu_gauges(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
        app.push_screen(RunDetailScreen(TRIAL))
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.series.system)
        strip = str(app.screen.query_one(TelemetryStrip).render())
        assert "CPU" in strip and "RSS" in strip and "GPU" not in strip
        assert "evaluating" in str(app.screen.query_one("#detail-summary").render())


def test_sparkline_scales_to_its_top():
    assert sparkline([0, 50, 100], 10, top=100) == "▁▅█"
    assert sparkline(list(range(40)), 5) == sparkline(list(range(35, 40)), 5)
    assert sparkline([], 5) == ""
