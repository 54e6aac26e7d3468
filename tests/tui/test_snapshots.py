"""Snapshots of every screen on the deterministic fixture store (time frozen).

Update after an intended change with: pytest tests/tui/test_snapshots.py --snapshot-update
(the README's screenshots, every screen at 160x45 and 80x24, come from tests/tui/screenshots.py).
"""

from __future__ import annotations

from tui_helpers import wait_for
from fixture_store import FROZEN_NOW, RUNS, SWEEP_RUNS

from textual.widgets import Input

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


async def _steady_cursor(pilot) -> None:
    """The form opens with the cursor in a field: stop it blinking, so a frame is one frame."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


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
        # The form's rows are built after the screen mounts (late on a loaded machine).
        await wait_for(pilot, lambda: pilot.app.screen.query("#field-learning_rate"))
        field = pilot.app.screen.query_one("#field-learning_rate")
        field.value = "-1"  # shows an inline validation message
        await _steady_cursor(pilot)
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


def test_compare_pareto(snap_compare, fixture_runs, make_app):
    """p: test accuracy against trainable parameters (log), the Pareto front drawn."""
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        table = pilot.app.screen.query_one(RunTable)
        for rid in ("251120-091500-full-ab2c", "251120-101500-lora-cd3e",
                    "251122-083000-lora-st3b"):
            table.move_cursor(row=table.get_row_index(rid))
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen)
                       and pilot.app.screen.runs and pilot.app.screen.curves is not None)
        await pilot.press("p")
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


def test_launch_form_80x24(snap_compare, fixture_runs, make_app):
    """The narrow form: the first field has the cursor, long labels end in … before the value."""
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))
        await pilot.press("f3")
        # The method's rows mounted and the cursor back in its field (keys wait till then).
        await wait_for(pilot, lambda: pilot.app.screen.method == "prompt_tuning_text"
                       and not pilot.app.keys_pending())
        pilot.app.screen.query_one("#field-prompt_tuning_num_virtual_tokens").focus()
        await _steady_cursor(pilot)
    assert snap_compare(make_app(fixture_runs), terminal_size=(80, 24), run_before=run_before)


def test_detail_running_80x24(snap_compare, fixture_runs, make_app):
    """Step, fractional epoch, elapsed, the ETA, throughput and the telemetry sparklines."""
    async def run_before(pilot) -> None:
        await _goto("251121-081500-ptext-ef4g")(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                       and pilot.app.screen.series.system and pilot.app.screen.row)
    assert snap_compare(make_app(fixture_runs), terminal_size=(80, 24), run_before=run_before)


def test_cancel_confirmation_names_the_runs(snap_compare, fixture_runs, make_app):
    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        table = pilot.app.screen.query_one(RunTable)
        for rid in ("251121-081500-ptext-ef4g", "251121-091500-prand-gh5j",
                    "251120-091500-full-ab2c"):
            table.move_cursor(row=table.get_row_index(rid))
            await pilot.press("space")
        await pilot.press("x")
    assert snap_compare(make_app(fixture_runs), terminal_size=(100, 24), run_before=run_before)


def test_run_ended_notification(snap_compare, fixture_runs, make_app):
    """A run that another process finishes: the home row and a notification say so."""
    from emotui.core.runstore import RunPaths, atomic_write_json
    from emotui.core.status import write_status

    async def run_before(pilot) -> None:
        await _home_ready(pilot)
        paths = RunPaths(fixture_runs / "251121-081500-ptext-ef4g")
        atomic_write_json(paths.results, {"test_accuracy": 0.8125, "collapsed": False})
        write_status(paths, state="completed", phase=None, progress=1.0, epoch=5.0,
                     ended=FROZEN_NOW, elapsed_s=900.0)
        await wait_for(pilot, lambda: any(n.title == "Run completed"
                                          for n in pilot.app._notifications))
        await pilot.pause(0.5)
    assert snap_compare(make_app(fixture_runs), terminal_size=(120, 24), run_before=run_before)


def _study_screen(study_id: str, method: str):
    """Home, u (studies), the study, its method's trials shown."""
    async def run_before(pilot) -> None:
        from study_fixture import STUDIES
        from textual.widgets import DataTable

        from emotui.tui.screens.studies import StudiesScreen
        from emotui.tui.screens.study import StudyScreen

        await wait_for(pilot, lambda: pilot.app.screen.query(RunTable)
                       and not pilot.app.screen.scanning)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudiesScreen)
                       and pilot.app.screen.query_one(DataTable).row_count == len(STUDIES))
        table = pilot.app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index(study_id))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudyScreen)
                       and pilot.app.screen.summary is not None)
        screen = pilot.app.screen
        methods = screen.query_one("#study-methods", DataTable)
        methods.move_cursor(row=methods.get_row_index(method))
        await wait_for(pilot, lambda: screen.method == method)
        await pilot.pause(0.3)
    return run_before


def test_study_160x45(snap_compare, tmp_path, make_app):
    """A study in its confirm phase: phases with progress, per-method trials, best so far,
    budget spent (search stopped by it), ETA, notes; LoRA's trials below."""
    from study_fixture import SHOWCASE, build_study_store

    build_study_store(tmp_path / "runs")
    assert snap_compare(make_app(tmp_path / "runs"), terminal_size=(160, 45),
                        run_before=_study_screen(SHOWCASE, "lora"))


def test_study_80x24(snap_compare, tmp_path, make_app):
    from study_fixture import SHOWCASE, build_study_store

    build_study_store(tmp_path / "runs")
    assert snap_compare(make_app(tmp_path / "runs"), terminal_size=(80, 24),
                        run_before=_study_screen(SHOWCASE, "lora"))
