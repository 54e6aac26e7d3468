"""Keys typed faster than the launch form reacts go to the field that has (or is about to have)
the cursor, in order, none lost: after `n` opens the form, after tab and shift+tab, after a
method is picked (its rows remount) and after ctrl+t. Each burst is queued on the app at once,
as a terminal hands over fast typing (tui_helpers.type_burst); tui/key_order.py is what makes
it so."""

from __future__ import annotations

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from textual.widgets import Input
from tui_helpers import type_burst, wait_for

from emotui.core import methods
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.widgets.config_form import ConfigForm, form_fields
from emotui.tui.widgets.run_table import RunTable

ALL = len(RUNS) + len(SWEEP_RUNS)
pytestmark = pytest.mark.anyio


async def home(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.query(RunTable)
                   and app.screen.query_one(RunTable).row_count == ALL)


async def open_form(pilot) -> LaunchScreen:
    await home(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))
    await pilot.pause()
    return pilot.app.screen


async def settle(pilot, timeout: float = 20.0) -> None:
    """Until every key of the burst has been handled and none has waited for a while (the
    form's remounts done)."""
    app = pilot.app
    taken = []
    app.call_later(taken.append, True)  # behind the burst in the app's queue
    await wait_for(pilot, lambda: taken, timeout)
    quiet = waited = 0.0
    while quiet < 0.3:
        assert waited < timeout, "the keys were not handled in time"
        await pilot.pause(0.05)
        waited += 0.05
        quiet = 0.0 if app.keys_pending() else quiet + 0.05


def texts(screen: LaunchScreen) -> dict[str, str]:
    """Every field of the form that differs from how it opened (text, choice or switch; the
    resources and the sweep file too): field -> its text."""
    out = dict(screen.query_one(ConfigForm).edited_values())
    out.update({f"{section}-{name}": text for section, given in screen.resource_values().items()
                for name, text in given.items()})
    if screen.query_one("#sweep-file", Input).value:
        out["sweep-file"] = screen.query_one("#sweep-file", Input).value
    return out


async def cursor_in(pilot, screen: LaunchScreen, name: str) -> None:
    """The cursor in a field, settled (as after a click): what follows is the burst alone."""
    screen.set_focus(screen.query_one(f"#field-{name}"))
    await pilot.pause()


def tabs_to(method: str, name: str) -> list[str]:
    """Tabs from the form's first field to ``name`` (one stop per field: text, choice, switch)."""
    return ["tab"] * form_fields(method, advanced=False).index(name)


async def test_keys_typed_as_the_form_opens_go_to_its_fields(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        type_burst(app, "n", *tabs_to(methods.DEFAULT_CHOICE, "learning_rate"), *"3e-4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LaunchScreen) and screen.method == methods.DEFAULT_CHOICE
        assert texts(screen) == {"learning_rate": "3e-4"}
        assert app.focused is screen.query_one("#field-learning_rate")


async def test_letters_typed_as_the_form_opens_are_text_not_shortcuts(fixture_runs, make_app):
    """q (quit) and t (theme) are the app's keys where no text field has the cursor; typed
    right after n they reached the app before the form's first field had the cursor (the app
    quit)."""
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        type_burst(app, "n", *"quit")
        await settle(pilot)
        assert app.is_running and app.theme == "textual-dark"
        assert texts(app.screen) == {"model_name_or_path": "quit"}


async def test_keys_typed_after_tab_and_shift_tab_go_to_the_next_field(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        type_burst(app, "tab", *"data/x", "tab", *"train.csv", "tab", "shift+tab", *"v",
                   "shift+tab", "shift+tab", *"bert")
        await settle(pilot)
        assert texts(screen) == {"model_name_or_path": "bert", "dataset_name": "data/x",
                                 "train_file": "v"}
        assert app.focused is screen.query_one("#field-model_name_or_path")


async def test_keys_typed_after_a_method_key_go_to_the_field_with_the_cursor(fixture_runs,
                                                                             make_app):
    """f5 (IA3) remounts the method's rows; the learning rate keeps the cursor, and what is
    typed right after replaces its default (as on a fresh focus), none of it lost."""
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        await cursor_in(pilot, screen, "learning_rate")
        type_burst(app, "f5", *"3e-4")
        await settle(pilot)
        assert screen.method == "ia3"
        assert texts(screen) == {"learning_rate": "3e-4"}
        assert app.focused is screen.query_one("#field-learning_rate")


async def test_typing_goes_on_across_a_method_key(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        await cursor_in(pilot, screen, "learning_rate")
        type_burst(app, *"3e", "f5", *"-4", "f1", "backspace", *"5")
        await settle(pilot)
        assert screen.method == "full"
        assert texts(screen) == {"learning_rate": "3e-5"}


async def test_a_method_setting_the_new_method_lacks_hands_the_cursor_to_its_first(
        fixture_runs, make_app):
    """The cursor in lora_r, f5: IA3 has no lora_r; its first setting takes the cursor (and
    the keys typed after f5); f1 (full fine-tuning, no settings of its own): the next field."""
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        assert screen.method == "lora"
        await cursor_in(pilot, screen, "lora_r")
        type_burst(app, "f5", *"query,value")
        await settle(pilot)
        assert screen.method == "ia3" and not screen.query("#field-lora_r")
        assert texts(screen) == {"ia3_target_modules": "query,value"}
        type_burst(app, "f1", *"0.01")
        await settle(pilot)
        assert screen.method == "full"
        assert texts(screen) == {"learning_rate": "0.01"}


async def test_keys_typed_after_picking_a_method_in_the_picker(fixture_runs, make_app):
    """shift+tab to the picker, down to IA3, enter, tab back to the first field, type."""
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        ia3 = [m.name for m in methods.METHODS].index("ia3")
        type_burst(app, "shift+tab", *["down"] * ia3, "enter", "tab", *"bert")
        await settle(pilot)
        assert screen.method == "ia3"
        assert texts(screen) == {"model_name_or_path": "bert"}
        assert app.focused is screen.query_one("#field-model_name_or_path")


async def test_keys_typed_after_ctrl_t_stay_in_the_field(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        await cursor_in(pilot, screen, "seed")
        type_burst(app, *"7", "ctrl+t", *"7", "ctrl+t", *"1")
        await settle(pilot)
        assert not screen.advanced
        assert texts(screen) == {"seed": "771"}
        assert app.focused is screen.query_one("#field-seed")


async def test_fast_edits_count_as_edits(fixture_runs, make_app):
    """Text typed as the form opens is an edit: esc asks before dropping it."""
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await home(pilot)
        type_burst(app, "n", *"bert", "escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)


async def test_held_keys_wait_and_keep_their_order(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_form(pilot)
        release = app.hold_keys()
        type_burst(app, *"ab")
        await pilot.pause(0.2)
        assert texts(screen) == {}
        release()
        type_burst(app, *"c")
        await settle(pilot)
        assert texts(screen) == {"model_name_or_path": "abc"}
