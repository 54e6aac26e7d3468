"""The launch form: focused at once, remembers what was submitted, starts from another run, asks
before dropping edits, keys that work inside an input, labels clear of values at 80x24."""

from __future__ import annotations

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from tui_helpers import wait_for
from textual.widgets import Input, Label

from emotui.tui import control
from emotui.tui.form_start import from_run, last_submitted
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.widgets.config_form import form_fields
from emotui.tui.widgets.run_table import RunTable

ALL = len(RUNS) + len(SWEEP_RUNS)
LORA_RUN = "251121-111500-lora-mn7p"  # lr 5e-4, r 16
pytestmark = pytest.mark.anyio


async def open_form(pilot, key: str = "n") -> LaunchScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.query(RunTable)
                   and app.screen.query_one(RunTable).row_count == ALL)
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
    await pilot.pause()
    return app.screen


def value(screen, name: str) -> str:
    return screen.query_one(f"#field-{name}").value


async def test_the_form_opens_with_its_first_field_focused(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        first = form_fields(screen.method, advanced=False)[0]
        assert app.focused is screen.query_one(f"#field-{first}")
        await pilot.press("end", *"-q-t")  # letters go into the field, not to q (quit) or t
        assert value(screen, first).endswith("-q-t") and app.is_running
        assert app.theme == "textual-dark"


async def test_the_form_remembers_what_was_submitted(fixture_runs, make_app, monkeypatch):
    submitted = []

    def fake_submit(store, config, backend, slurm=None):
        submitted.append((config, backend))
        return "251123-120000-lora-zz9z"

    monkeypatch.setattr(control, "submit", fake_submit)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        screen.query_one("#field-learning_rate").value = "0.004"
        screen.query_one("#field-lora_r").value = "32"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        assert submitted[0][0].lora_r == 32
        screen = await open_form(pilot)
        assert value(screen, "learning_rate") == "0.004" and value(screen, "lora_r") == "32"
        assert screen.method == "lora"
        await pilot.press("escape")  # nothing edited since it opened: leaves without asking
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    start = last_submitted()
    assert dict(start.values) == {"learning_rate": "0.004", "lora_r": "32"}


async def test_new_run_from_a_run_on_home_and_detail(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(RunTable)
                       and app.screen.query_one(RunTable).row_count == ALL)
        table = app.screen.query_one(RunTable)
        table.move_cursor(row=table.get_row_index(LORA_RUN))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        screen = app.screen
        await pilot.pause()
        assert screen.title == f"new run from {LORA_RUN}"
        assert screen.method == "lora"
        assert value(screen, "learning_rate") == "0.0005" and value(screen, "lora_r") == "16"
        config, error = screen.resolved()
        assert error is None and config.lora_r == 16 and config.seed == 45
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       or app.screen.query(RunTable))
        await pilot.press("enter")  # the same run's detail screen
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.config)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert app.screen.title == f"new run from {LORA_RUN}"


def test_a_prefill_keeps_advanced_values_and_drops_unknown_ones():
    start = from_run("r", {"method": "full", "learning_rate": 2e-5, "weight_decay": 0.1,
                           "no_such_field": 1, "lora_r": 64}, "slurm")
    assert start.method == "full" and start.backend == "slurm"
    assert dict(start.values) == {"learning_rate": "2e-05", "weight_decay": "0.1"}
    assert start.advanced  # weight_decay is an advanced field: all fields are shown


async def test_escape_asks_before_dropping_edits(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        screen.query_one("#field-seed").value = "7"
        await pilot.pause()
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep editing
        assert app.screen is screen and value(screen, "seed") == "7"
        await pilot.press("escape")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen.query(RunTable))


async def test_form_keys_work_while_an_input_has_focus(fixture_runs, make_app, tmp_path,
                                                       monkeypatch):
    started = []

    class FakePopen:
        def __init__(self, command, **kwargs):
            started.append(command)

    monkeypatch.setattr(control.subprocess, "Popen", FakePopen)
    sweep = tmp_path / "lr.yaml"
    sweep.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\n"
                     "parameters:\n  learning_rate: {values: [0.001, 0.002]}\n"
                     "  method: {value: lora}\n")
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        assert isinstance(app.focused, Input)
        await pilot.press("ctrl+t")  # all fields, with the cursor in a text field
        await wait_for(pilot, lambda: screen.query("#field-weight_decay"))
        field = screen.query_one("#sweep-file", Input)
        field.focus()
        await pilot.press(*str(sweep))
        await pilot.press("ctrl+l")  # launches: an Input would have deleted a word
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    assert started and started[0][4] == str(sweep)


async def test_labels_never_run_into_values_at_80x24(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(pilot)
        await pilot.press("f3", "ctrl+t")  # the longest labels: prompt tuning, all fields
        await wait_for(pilot, lambda: screen.query("#field-prompt_tuning_num_virtual_tokens"))
        await pilot.pause()
        checked = 0
        for label in screen.query(Label).filter(".field-name"):
            line = label.parent
            inputs = [w for w in line.children if w is not label]
            if not inputs or not label.region.width:
                continue
            # The label's text ends a column before its value starts.
            assert label.content_region.right < inputs[0].region.x, str(label.render())
            checked += 1
        assert checked > 20
