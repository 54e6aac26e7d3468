"""Launch: pick a method, fill the schema-generated form, choose a backend, preview, submit.

A sweep file can be launched from here too. Validation is the core's (coerce_value,
check_range, build_config); submitting is the launch layer's (emotui.tui.control).
"""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
)

from emotui.core.config import build_config, dump_config
from emotui.core.errors import EmotuiError
from emotui.tui import control
from emotui.tui.widgets.config_form import ConfigForm

METHOD_CHOICES = (
    ("full", "full", "full fine-tuning"),
    ("lora", "lora", "LoRA"),
    ("prompt_tuning_text", "prompt-text", "prompt tuning, text init"),
    ("prompt_tuning_random", "prompt-random", "prompt tuning, random init"),
)
SLURM_FIELDS = (
    ("partition", "partition", "Slurm partition (empty: the cluster default)"),
    ("gpus", "GPUs per node", "GPUs per node"),
    ("cpus_per_task", "CPUs per task", "CPU cores for the job"),
    ("mem", "memory", "as sbatch takes it: 32G"),
    ("time", "time limit", "minutes, HH:MM:SS, 4h, 1d"),
    ("account", "account", "Slurm account"),
    ("qos", "QoS", "quality of service"),
    ("constraint", "constraint", "node features, e.g. a100"),
)


def user_slurm_defaults() -> dict[str, str]:
    """The user's `slurm:` defaults (~/.config/emotui/config.yaml) as form text."""
    try:
        from emotui.core.userconfig import user_section

        section = user_section("slurm")
    except (ImportError, EmotuiError):
        return {}
    return {k: "" if v is None else str(v) for k, v in section.items()}


class LaunchScreen(Screen[str | None]):
    """Dismisses with the new run id (or sweep id), or None when left without submitting."""

    # Below 110 columns the preview pane gives way to the form; ctrl+r swaps them.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("escape", "leave", "Back"),
        Binding("ctrl+s", "submit", "Submit run"),
        Binding("ctrl+r", "toggle_preview", "Preview"),
        Binding("ctrl+a", "toggle_advanced", "All fields"),
        Binding("ctrl+w", "submit_sweep", "Launch sweep"),
        Binding("f1", "method(0)", "full", show=False),
        Binding("f2", "method(1)", "lora", show=False),
        Binding("f3", "method(2)", "prompt-text", show=False),
        Binding("f4", "method(3)", "prompt-random", show=False),
    ]

    def __init__(self, method: str = "lora"):
        super().__init__()
        self.method = method
        self.advanced = False
        self.preview_text = ""
        self.slurm_defaults = user_slurm_defaults()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="launch-body"):
            with VerticalScroll(id="launch-form"):
                with RadioSet(id="method"):
                    for value, _, label in METHOD_CHOICES:
                        yield RadioButton(label, value=value == self.method, name=value)
                yield ConfigForm(self.method, id="config-form")
                yield Static("backend", classes="field-group")
                with Horizontal(classes="field-line"):
                    yield Label("backend", classes="field-name")
                    yield Select([("local (detached process)", "local"), ("slurm", "slurm")],
                                 value="local", allow_blank=False, compact=True, id="backend")
                with Vertical(id="slurm-fields"):
                    for key, label, help_text in SLURM_FIELDS:
                        with Horizontal(classes="field-line"):
                            yield Label(label, classes="field-name")
                            yield Input(self.slurm_defaults.get(key, ""), placeholder=help_text,
                                        compact=True, id=f"slurm-{key}", tooltip=help_text)
                yield Static("sweep", classes="field-group")
                with Horizontal(classes="field-line"):
                    yield Label("sweep file", classes="field-name")
                    yield Input(placeholder="path/to/sweep.yaml (ctrl+w launches it)",
                                compact=True, id="sweep-file")
                with Horizontal(id="launch-buttons"):
                    yield Button("Submit run (ctrl+s)", variant="primary", id="submit")
                    yield Button("Launch sweep (ctrl+w)", id="submit-sweep")
            with Vertical(id="launch-side"):
                yield Static("resolved config", classes="field-group")
                with VerticalScroll(id="preview-scroll"):
                    yield Static("", id="preview")
        yield Static("", id="help-line", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "new run"
        self.sub_title = self.app.store_label
        self.query_one("#slurm-fields").display = False
        self.refresh_preview()

    # --- form state ---------------------------------------------------------------------------

    async def _rebuild_form(self) -> None:
        old = self.query_one(ConfigForm)
        values = old.raw_values()
        # Values typed into fields the new method also has are kept.
        form = ConfigForm(self.method, self.advanced, values, id="config-form")
        await old.remove()
        await self.query_one("#launch-form").mount(form, after=self.query_one("#method"))
        self.refresh_preview()

    @on(RadioSet.Changed, "#method")
    async def _method_changed(self, event: RadioSet.Changed) -> None:
        self.method = event.pressed.name or "full"
        await self._rebuild_form()

    def action_method(self, index: int) -> None:
        buttons = list(self.query(RadioButton))
        buttons[index].value = True

    async def action_toggle_advanced(self) -> None:
        self.advanced = not self.advanced
        await self._rebuild_form()
        self.notify("All fields shown." if self.advanced else "Common fields shown.")

    @on(ConfigForm.Changed)
    def _form_changed(self) -> None:
        self.refresh_preview()

    @on(Select.Changed, "#backend")
    def _backend_changed(self, event: Select.Changed) -> None:
        self.query_one("#slurm-fields").display = event.value == "slurm"
        self.refresh_preview()

    @on(Input.Changed, "#slurm-fields Input")
    def _slurm_changed(self) -> None:
        self.refresh_preview()

    def on_descendant_focus(self, event) -> None:
        tooltip = getattr(event.widget, "tooltip", None)
        self.query_one("#help-line", Static).update(str(tooltip) if tooltip else "")

    def resolved(self):
        """(config, None) when the form validates, else (None, the first message)."""
        form = self.query_one(ConfigForm)
        errors = form.errors()
        if errors:
            name, message = next(iter(errors.items()))
            return None, message
        layer = {"method": dict((v, a) for v, a, _ in METHOD_CHOICES)[self.method],
                 **form.explicit()}
        if self.method == "prompt_tuning_text" and not (layer.get(
                "prompt_tuning_init_text", "x") or "").strip():
            return None, "prompt_tuning_init_text is empty; text init needs a text"
        try:
            config, _ = build_config([("form", layer)])
        except EmotuiError as exc:
            return None, str(exc).replace(" (from form)", "")
        return config, None

    def refresh_preview(self) -> None:
        """The resolved config.yaml (plus the Slurm resources), or why it cannot launch."""
        config, error = self.resolved()
        text = ""
        if config is not None:
            text = dump_config(config)
            if self.query_one("#backend", Select).value == "slurm":
                try:
                    resources = control.slurm_resources(self.slurm_resources())
                except EmotuiError as exc:
                    error = str(exc)
                else:
                    text += "\n# slurm resources\n" + "".join(
                        f"# {k}: {v}\n" for k, v in resources.to_dict().items()
                        if v not in (None, [], {}))
        preview = self.query_one("#preview", Static)
        if error:
            self.preview_text = f"cannot launch: {error}"
            preview.update(f"[b $error]cannot launch:[/] {error}")
            preview.add_class("-invalid")
        else:
            self.preview_text = text
            preview.remove_class("-invalid")
            preview.update(Syntax(text, "yaml", theme="ansi_dark", background_color="default",
                                  word_wrap=True))

    def slurm_resources(self) -> dict[str, str]:
        out = {}
        for key, _, _ in SLURM_FIELDS:
            value = self.query_one(f"#slurm-{key}", Input).value.strip()
            if value:
                out[key] = value
        return out

    # --- submit -------------------------------------------------------------------------------

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        config, error = self.resolved()
        if error:
            self.notify(error, title="Not submitted", severity="error")
            return
        backend = self.query_one("#backend", Select).value
        try:
            run_id = control.submit(self.app.source.store, config, str(backend),
                                    self.slurm_resources())
        except EmotuiError as exc:
            self.notify(str(exc), title="Not submitted", severity="error")
            return
        self.app.notify(f"Submitted {run_id} ({backend})", title="Run launched")
        self.dismiss(run_id)

    @on(Button.Pressed, "#submit-sweep")
    def action_submit_sweep(self) -> None:
        path = self.query_one("#sweep-file", Input).value.strip()
        if not path:
            self.query_one("#sweep-file", Input).focus()
            self.notify("Give the sweep file's path first.", severity="warning")
            return
        backend = self.query_one("#backend", Select).value
        try:
            sweep_id = control.submit_sweep(self.app.source.store, Path(path).expanduser(),
                                            str(backend), self.slurm_resources())
        except EmotuiError as exc:
            self.notify(str(exc), title="Sweep not launched", severity="error")
            return
        self.app.notify(f"Sweep {sweep_id} started ({backend})", title="Sweep launched")
        self.dismiss(sweep_id)

    def action_toggle_preview(self) -> None:
        """On a narrow terminal, show the resolved config instead of the form (and back)."""
        self.toggle_class("-preview")

    def action_leave(self) -> None:
        self.dismiss(None)
