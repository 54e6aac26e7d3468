"""Launch screen: the form follows the method, validates inline, previews the config."""

from __future__ import annotations

import pytest
from tui_helpers import wait_for

from emotui.core import methods
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.widgets.config_form import FieldRow, check_field, form_fields

pytestmark = pytest.mark.anyio


def test_form_fields_follow_the_method():
    assert "lora_r" in form_fields("lora", advanced=False)
    assert "lora_r" not in form_fields("full", advanced=False)
    assert "prompt_tuning_init_text" in form_fields("prompt_tuning_text", advanced=False)
    assert "prompt_tuning_init_text" not in form_fields("prompt_tuning_random", advanced=False)
    # Advanced adds every applicable field, never secrets.
    everything = form_fields("full", advanced=True)
    assert "weight_decay" in everything and "token" not in everything


def test_every_method_shows_its_own_fields_and_no_other_methods():
    for spec in methods.METHODS:
        shown = form_fields(spec.name, advanced=True)
        others = set(methods.owned_fields()) - set(spec.owns)
        assert set(spec.owns) - {methods.INIT_TEXT_FIELD} <= set(shown) or spec.init_text, spec
        assert not others & set(shown), spec.name
    assert {"ia3_target_modules"} <= set(form_fields("ia3", advanced=False))
    assert {"prefix_num_virtual_tokens", "prefix_projection"} <= set(
        form_fields("prefix_tuning", advanced=False))
    assert {"p_tuning_num_virtual_tokens", "p_tuning_encoder_reparameterization_type"} <= set(
        form_fields("p_tuning", advanced=False))
    assert {"use_dora", "use_rslora"} <= set(form_fields("lora", advanced=False))
    assert "init_lora_weights" in form_fields("lora", advanced=True)


def test_check_field_messages():
    assert check_field("learning_rate", "2e-5") is None
    assert check_field("learning_rate", "-1") == "learning_rate must be > 0, got -1.0"
    assert "must be an integer" in check_field("lora_r", "eight")
    assert check_field("train_file", "") is None  # unset


def row(app, name: str) -> FieldRow:
    return next(r for r in app.screen.query(FieldRow) if r.field_name == name)


async def test_bad_field_shows_inline_message_and_blocks_submit(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        field = app.screen.query_one("#field-learning_rate")
        field.focus()
        field.value = ""
        await pilot.press(*"-0.5")
        await pilot.pause()
        message = str(row(app, "learning_rate").query_one(".field-error").render())
        assert "learning_rate must be > 0" in message
        assert row(app, "learning_rate").has_class("-invalid")
        assert app.screen.preview_text.startswith("cannot launch: learning_rate must be > 0")
        runs_before = sorted(p.name for p in fixture_runs.iterdir())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)  # not submitted
        assert sorted(p.name for p in fixture_runs.iterdir()) == runs_before
        # Fixing the value clears the message and the preview shows the resolved YAML.
        field.value = "0.001"
        await pilot.pause()
        assert not row(app, "learning_rate").has_class("-invalid")
        assert "learning_rate: 0.001" in app.screen.preview_text
        assert "peft_method: lora" in app.screen.preview_text


async def test_method_switch_rebuilds_form_and_keeps_shared_values(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        app.screen.query_one("#field-seed").value = "7"
        await pilot.press("f3")  # prompt tuning, text init
        await wait_for(pilot, lambda: app.screen.query("#field-prompt_tuning_init_text"))
        assert not app.screen.query("#field-lora_r")
        assert app.screen.query_one("#field-seed").value == "7"
        assert app.screen.query_one("#field-prompt_tuning_init_text").value.startswith("classify")
        await pilot.press("ctrl+t")  # every field
        await wait_for(pilot, lambda: app.screen.query("#field-weight_decay"))
        config, error = app.screen.resolved()
        assert error is None and config.method == "prompt_tuning_text" and config.seed == 7
        await pilot.press("escape")
        assert not isinstance(app.screen, LaunchScreen)


async def test_slurm_backend_shows_resources(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert not app.screen.query_one("#slurm-fields").display
        app.screen.query_one("#backend").value = "slurm"
        await pilot.pause()
        assert app.screen.query_one("#slurm-fields").display
        app.screen.query_one("#slurm-partition").value = "gpu"
        app.screen.query_one("#slurm-gpus").value = "1"
        assert app.screen.resources_text() == {"partition": "gpu", "gpus": "1"}
        await pilot.pause()
        assert "# partition: gpu" in app.screen.preview_text
        app.screen.query_one("#slurm-gpus").value = "two"
        await pilot.pause()
        assert app.screen.preview_text.startswith("cannot launch: slurm gpus (from launch form)")


async def test_sweep_file_launches_a_detached_controller(fixture_runs, make_app, tmp_path,
                                                         monkeypatch):
    """The launch screen validates the sweep file, then starts `emotui sweep` detached."""
    import emotui.tui.control as control

    started = []

    class FakePopen:
        def __init__(self, command, **kwargs):
            started.append((command, kwargs))

    monkeypatch.setattr(control.subprocess, "Popen", FakePopen)
    sweep = tmp_path / "lr.yaml"
    sweep.write_text("method: grid\nmetric: {name: eval/accuracy, goal: maximize}\n"
                     "parameters:\n  learning_rate: {values: [0.001, 0.002]}\n"
                     "  method: {value: lora}\n")
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        app.screen.query_one("#sweep-file").value = str(tmp_path / "missing.yaml")
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen) and not started  # one-line error instead
        app.screen.query_one("#sweep-file").value = str(sweep)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    (command, kwargs), = started
    assert command[1:5] == ["-m", "emotui", "sweep", str(sweep)]
    assert command[command.index("--runs-dir") + 1] == str(fixture_runs)
    assert command[command.index("--backend") + 1] == "local"
    assert kwargs["start_new_session"] is True  # outlives the TUI


async def test_narrow_terminal_swaps_form_and_preview(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause()
        side, form = app.screen.query_one("#launch-side"), app.screen.query_one("#launch-form")
        assert app.screen.has_class("-narrow")
        assert not side.display or side.region.width == 0
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert side.region.width > 0 and form.region.width == 0
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert form.region.width > 0


async def test_form_rows_show_the_flags_help(fixture_runs, make_app):
    """A form row's tooltip is its field's one help text, the same as the flag's."""
    from emotui.core.config import FIELDS
    from emotui.launch.resources import SLURM_SETTINGS

    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        for widget_id, spec in [("#field-learning_rate", FIELDS["learning_rate"]),
                                ("#field-lora_r", FIELDS["lora_r"]),
                                ("#slurm-gpus", SLURM_SETTINGS.fields["gpus"]),
                                ("#slurm-time", SLURM_SETTINGS.fields["time"])]:
            assert str(app.screen.query_one(widget_id).tooltip) == spec.describe()


async def test_picker_lists_every_method_and_the_form_follows_its_defaults(fixture_runs,
                                                                          make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        labels = [str(b.label) for b in app.screen.query("#method RadioButton")]
        assert labels == [m.label for m in methods.METHODS]
        app.screen.query_one("#field-seed").value = "7"
        for index, spec in enumerate(methods.METHODS):
            await pilot.press(f"f{index + 1}")
            await wait_for(pilot, lambda: app.screen.method == spec.name
                           and app.screen.query(f"#field-{form_fields(spec.name, False)[-1]}"))
            for name in form_fields(spec.name, advanced=False):
                assert app.screen.query(f"#field-{name}"), (spec.name, name)
            # The learning rate starts as the method's own and is recorded as its default.
            rate = app.screen.query_one("#field-learning_rate").value
            assert float(rate) == spec.defaults["learning_rate"]
            assert app.screen.query_one("#field-seed").value == "7"
            config, error = app.screen.resolved()
            assert error is None and config.method == spec.name and config.seed == 7
            assert config.method_defaults == [
                k for k in spec.defaults if k != methods.INIT_TEXT_FIELD]
        # A learning rate typed in is the user's, and stays when the method changes.
        app.screen.query_one("#field-learning_rate").value = "0.004"
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.screen.method == "ia3")
        assert app.screen.query_one("#field-learning_rate").value == "0.004"
        config, _ = app.screen.resolved()
        assert config.learning_rate == 0.004 and config.method_defaults == []

