"""Launch: pick a method, fill the schema-generated form, choose a backend, preview, submit.

A sweep file can be launched from here too. Validation is the core's (coerce_value,
check_range, build_config); submitting is the launch layer's (emotui.tui.control).
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
)

from emotui.core import methods
from emotui.core.config import RunConfig, build_config, dump_config
from emotui.core.errors import EmotuiError
from emotui.launch.registry import backend_spec, backend_specs, resource_settings
from emotui.core.runstore import RunStore
from emotui.tui import control
from emotui.tui.form_start import FormStart, from_run, last_submitted, remember_submitted
from emotui.tui.launch_once import LaunchOnce
from emotui.tui.messages import RunSubmitted, SweepStarted
from emotui.tui.screens.confirm import ConfirmScreen
from emotui.tui.widgets.config_form import ConfigForm, field_input
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.worker_errors import WorkerErrors

# The resources the form asks for: rows (#<section>-fields) for each kind a backend it launches
# on takes (Slurm's: #slurm-fields), shown while that backend is chosen.
RESOURCES = tuple(resource_settings(tui=True))


class LaunchScreen(WorkerErrors, Screen[str | None]):
    """Dismisses with the new run id (or sweep id), or None when left without submitting."""

    # Below 110 columns the preview pane gives way to the form; ctrl+r swaps them.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    # Keys a focused Input does not take for itself (it edits with ctrl+a/e/k/u/w/x/v/d), so
    # they work wherever the cursor is.
    BINDINGS = [
        Binding("escape", "leave", "Back"),
        Binding("ctrl+s", "submit", "Submit run"),
        Binding("ctrl+r", "toggle_preview", "Preview"),
        Binding("ctrl+t", "toggle_advanced", "All fields"),
        Binding("ctrl+l", "submit_sweep", "Launch sweep"),
        *(Binding(f"f{i + 1}", f"method({i})", m.alias, show=False)
          for i, m in enumerate(methods.METHODS)),
    ]

    def __init__(self, method: str = methods.DEFAULT_CHOICE, start: FormStart | None = None,
                 sweep: bool = False):
        super().__init__()
        # Opened for a sweep (the palette's "New sweep"): the sweep file field has the cursor.
        self.for_sweep = sweep
        # What the form starts with (defaults, the last submitted values, another run's).
        self.start = start or FormStart(method=method)
        self.method = self.start.method
        self.advanced = self.start.advanced
        self._initial_state: tuple | None = None
        self.preview_text = ""
        # The user config's resources (its slurm: section, ...) as form text.
        self.resource_defaults = {r.section: r.user_defaults() for r in RESOURCES}
        # Launching runs on a worker thread; the lock makes a second press wait for the first,
        # and once something was launched (the form is closing) later presses launch nothing.
        self._launch_once = LaunchOnce()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="launch-body"):
            with VerticalScroll(id="launch-form"):
                with RadioSet(id="method"):
                    for spec in methods.METHODS:
                        yield RadioButton(spec.label, value=spec.name == self.method,
                                          name=spec.name)
                yield ConfigForm(self.method, self.advanced, dict(self.start.values),
                                 id="config-form")
                yield Static("backend", classes="field-group")
                with Horizontal(classes="field-line"):
                    yield Label("backend", classes="field-name")
                    choices = backend_specs(tui=True)
                    names = [spec.name for spec in choices]
                    yield Select([(spec.title, spec.name) for spec in choices],
                                 value=self.start.backend if self.start.backend in names
                                 else names[0], allow_blank=False, compact=True, id="backend")
                for kind in RESOURCES:
                    started = self.start.resources.get(kind.section, {})
                    defaults = self.resource_defaults[kind.section]
                    with Vertical(id=f"{kind.section}-fields", classes="resource-fields"):
                        for spec in kind.form_fields():
                            with Horizontal(classes="field-line"):
                                yield Label(spec.form_label, classes="field-name")
                                yield field_input(spec, started.get(
                                    spec.name, defaults.get(spec.name, "")),
                                    f"{kind.section}-{spec.name}", placeholder=spec.help)
                yield Static("sweep", classes="field-group")
                with Horizontal(classes="field-line"):
                    yield Label("sweep file", classes="field-name")
                    yield Input(self.start.sweep_file,
                                placeholder="path/to/sweep.yaml (enter or ctrl+l launches it)",
                                compact=True, id="sweep-file")
                with Horizontal(id="launch-buttons"):
                    yield Button("Submit run (ctrl+s)", variant="primary", id="submit")
                    yield Button("Launch sweep (ctrl+l)", id="submit-sweep")
            with Vertical(id="launch-side"):
                yield Static("resolved config", classes="field-group")
                with VerticalScroll(id="preview-scroll"):
                    yield Static("", id="preview")
        yield Static("", id="help-line", classes="status-line")
        yield KeysFooter()

    @classmethod
    def remembered(cls, sweep: bool = False) -> "LaunchScreen":
        """The form as it was last submitted (defaults the first time)."""
        return cls(start=last_submitted(), sweep=sweep)

    @classmethod
    def from_run(cls, run_id: str, config: dict, backend: str | None) -> "LaunchScreen":
        """A new run like ``run_id``: the form filled in with its config."""
        return cls(start=from_run(run_id, config, backend))

    def on_mount(self) -> None:
        self.title = "new sweep" if self.for_sweep else "new run" if self.start.origin is None \
            else f"new run from {self.start.origin}"
        self.sub_title = self.app.store_label
        self._show_resources()
        self.refresh_preview()
        # Typing goes into the first field at once, never into the screen's shortcuts: the
        # cursor is there before the app sends this screen its first key (tui/key_order.py).
        self.set_focus(self.query_one("#sweep-file", Input) if self.for_sweep
                       else self.query_one(ConfigForm).first_field())
        # Picking a method remounts the form's rows: keys typed meanwhile wait for them.
        for button in self.query("#method RadioButton").results(RadioButton):
            self.watch(button, "value", partial(self._method_picked, button.name), init=False)
        self._initial_state = self.form_state()

    def form_state(self) -> tuple:
        """Everything the user can edit, to tell whether leaving would drop edits."""
        return (self.method, tuple(sorted(self.query_one(ConfigForm).raw_values().items())),
                str(self.query_one("#backend", Select).value),
                tuple((section, tuple(sorted(texts.items())))
                      for section, texts in self.resource_values().items()),
                self.query_one("#sweep-file", Input).value.strip())

    def submitted_start(self) -> FormStart:
        """The form as it stands, to start from next time."""
        return FormStart(self.method, self.query_one(ConfigForm).edited_values(), self.advanced,
                         str(self.query_one("#backend", Select).value), self.resource_values(),
                         self.query_one("#sweep-file", Input).value.strip())

    # --- form state ---------------------------------------------------------------------------

    async def _rebuild_form(self) -> None:
        old = self.query_one(ConfigForm)
        # Values typed into fields the new method also has are kept; the rest start from the
        # new method's defaults (its learning rate).
        values = old.edited_values()
        cursor = old.cursor_at(self.focused)
        form = ConfigForm(self.method, self.advanced, values, id="config-form")
        removed = old.remove()
        parked = self.focused  # where Textual put the cursor when its field went
        await removed
        await self.query_one("#launch-form").mount(form, after=self.query_one("#method"))
        if cursor is not None and self.focused is parked:
            # The cursor was in the form and nothing else took it meanwhile (a click): it goes
            # back to its field (the method's first setting when the new method has no such
            # field) before any key typed meanwhile is let go.
            form.put_cursor(cursor)
        self.refresh_preview()

    def _method_picked(self, name: str, pressed: bool) -> None:
        """A method's button was pressed (f1-f10, enter or space in the picker, a click): its
        rows replace the form's, and typed keys wait until they are mounted and the cursor is
        back in its field. Not on RadioSet.Changed: RadioSet posts it with RadioButton.Changed
        prevented, and a handler of it that awaits (the remount) spreads that to whatever else
        is handled meanwhile (Textual's prevented messages are one stack for all widgets): f1
        typed right after f5 picked no method."""
        if pressed and name != self.method:
            self.call_later(self._switch_method, name, self.app.hold_keys())

    async def _switch_method(self, name: str, release_keys: Callable[[], None]) -> None:
        try:
            self.method = name
            await self._rebuild_form()
        finally:
            release_keys()

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
        self._show_resources()
        self.refresh_preview()

    @on(Input.Changed, ".resource-fields Input")
    def _resources_changed(self) -> None:
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
        spec = methods.get(self.method)
        layer = {"method": spec.alias, **form.explicit()}
        if spec.init_text and not (layer.get(methods.INIT_TEXT_FIELD, "x") or "").strip():
            return None, "prompt_tuning_init_text is empty; text init needs a text"
        try:
            config, _ = build_config([("form", layer)])
        except EmotuiError as exc:
            return None, str(exc).replace(" (from form)", "")
        return config, None

    def refresh_preview(self) -> None:
        """The resolved config.yaml (plus the backend's resources), or why it cannot launch."""
        config, error = self.resolved()
        text = ""
        if config is not None:
            text = dump_config(config)
            takes = self._takes_resources()
            if takes is not None:
                try:
                    resources = control.form_resources(self._backend(), self.resources_text())
                except EmotuiError as exc:
                    error = str(exc)
                else:
                    text += f"\n# {takes.section} resources\n" + "".join(
                        f"# {k}: {v}\n" for k, v in asdict(resources).items()
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

    def _backend(self) -> str:
        return str(self.query_one("#backend", Select).value)

    def _takes_resources(self):
        """The resources the chosen backend takes (its spec's; Slurm's), or None."""
        return backend_spec(self._backend()).resources

    def _show_resources(self) -> None:
        """Only the chosen backend's resource rows show."""
        takes = self._takes_resources()
        for kind in RESOURCES:
            self.query_one(f"#{kind.section}-fields").display = kind == takes

    def resource_values(self) -> dict[str, dict[str, str]]:
        """The text of every resource row given, by the section of its kind."""
        out: dict[str, dict[str, str]] = {}
        for kind in RESOURCES:
            out[kind.section] = {}
            for spec in kind.form_fields():
                value = self.query_one(f"#{kind.section}-{spec.name}", Input).value.strip()
                if value:
                    out[kind.section][spec.name] = value
        return out

    def resources_text(self) -> dict[str, str]:
        """The text of the chosen backend's resource rows ({} for one that takes none)."""
        takes = self._takes_resources()
        return self.resource_values()[takes.section] if takes is not None else {}

    # --- submit -------------------------------------------------------------------------------

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        config, error = self.resolved()
        if error:
            self.notify(error, title="Not submitted", severity="error")
            return
        backend = str(self.query_one("#backend", Select).value)
        self.submit_run(self.app.source.store, config, backend, self.resources_text())

    @on(Button.Pressed, "#submit-sweep")
    @on(Input.Submitted, "#sweep-file")
    def action_submit_sweep(self) -> None:
        path = self.query_one("#sweep-file", Input).value.strip()
        if not path:
            self.query_one("#sweep-file", Input).focus()
            self.notify("Give the sweep file's path first.", severity="warning")
            return
        backend = str(self.query_one("#backend", Select).value)
        self.launch_sweep(self.app.source.store, Path(path).expanduser(), backend,
                          self.resources_text())

    # Workers: creating the run and asking the backend (sbatch) or starting the sweep
    # controller can take seconds; the outcome comes back as a message.

    @work(thread=True, name="submit-run", group="launch", exit_on_error=False)
    def submit_run(self, store: RunStore, config: RunConfig, backend: str,
                   resources: dict[str, str]) -> None:
        outcome = self._launch_once(lambda: control.submit(store, config, backend, resources))
        if outcome is not None:
            self.post_message(RunSubmitted(backend, *outcome))

    @work(thread=True, name="launch-sweep", group="launch", exit_on_error=False)
    def launch_sweep(self, store: RunStore, sweep_file: Path, backend: str,
                     resources: dict[str, str]) -> None:
        # The cost first (as `emotui sweep FILE --dry-run` says it); a sweep that cannot run
        # (a bad file, a random sweep without run_cap) is refused before anything starts.
        try:
            estimate = control.estimate_sweep(store, sweep_file)
        except EmotuiError as exc:
            self.post_message(SweepStarted(backend, error=str(exc)))
            return
        outcome = self._launch_once(
            lambda: control.submit_sweep(store, sweep_file, backend, resources))
        if outcome is not None:
            self.post_message(SweepStarted(backend, *outcome, estimate=estimate))

    @on(RunSubmitted)
    def _run_submitted(self, message: RunSubmitted) -> None:
        if message.error:
            self.notify(message.error, title="Not submitted", severity="error")
            return
        remember_submitted(self.submitted_start())
        self.app.notify(f"Submitted {message.run_id} ({message.backend})", title="Run launched")
        self.dismiss(message.run_id)

    @on(SweepStarted)
    def _sweep_started(self, message: SweepStarted) -> None:
        if message.error:
            self.notify(message.error, title="Sweep not launched", severity="error")
            return
        remember_submitted(self.submitted_start())
        cost = "".join(f"\n{line}" for line in message.estimate)
        self.app.notify(f"Sweep {message.sweep_id} started ({message.backend}){cost}",
                        title="Sweep launched", timeout=15 if cost else None, markup=False)
        self.dismiss(message.sweep_id)

    def action_toggle_preview(self) -> None:
        """On a narrow terminal, show the resolved config instead of the form (and back)."""
        self.toggle_class("-preview")

    def _launching(self) -> bool:
        """Whether a launch is under way or done (its outcome is on its way to this screen)."""
        return self._launch_once.launched or any(worker.group == "launch" and worker.node is self
                                     and not worker.is_finished for worker in self.workers)

    def action_leave(self) -> None:
        if self._launching():
            # Leaving now would drop the outcome: it is shown here, then the form closes.
            self.notify("Still launching; the form closes when the backend answers.",
                        severity="warning")
            return
        if self._initial_state is None or self.form_state() == self._initial_state:
            self.dismiss(None)
            return

        def answered(drop: bool | None) -> None:
            if drop:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen("Leave the form and drop your edits?", "Drop edits"),
                             answered)
