"""New study: pick a study file, see its plan and cost, launch `emotui study FILE` detached.

Like launching a sweep from the launch form: the file is read and checked first (a bad study is
one line in the dialog, nothing starts), then the study's controller runs as a detached process
that outlives the TUI (emotui.tui.control.submit_study).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from emotui.core.errors import EmotuiError
from emotui.launch.registry import backend_specs
from emotui.tui import control
from emotui.tui.launch_once import LaunchOnce
from emotui.tui.memory import recall, remember
from emotui.tui.messages import StudyFilesFound, StudyPlanned, StudyStarted
from emotui.tui.worker_errors import WorkerErrors

# Where study files are looked for: the current folder and these folders in it.
SEARCHED = (".", "sweep_configs", "studies", "configs")
MAX_FILES = 40
PLAN_DELAY_S = 0.4  # the plan is read once typing pauses


def is_study_file(path: Path) -> bool:
    """A YAML file with a top-level ``methods:`` (a study file, not a sweep file)."""
    try:
        if path.stat().st_size > 1_000_000:
            return False
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("methods:") for line in text.splitlines())


def find_study_files(base: Path) -> list[str]:
    """Study files in ``base`` and the folders of SEARCHED, as paths relative to it."""
    found: list[str] = []
    for folder in SEARCHED:
        try:
            entries = sorted((base / folder).iterdir())
        except OSError:
            continue
        for path in entries:
            if path.suffix in (".yaml", ".yml") and path.is_file() and is_study_file(path):
                found.append(str(path.relative_to(base)) if folder != "." else path.name)
            if len(found) >= MAX_FILES:
                return found
    return found


class StudyLaunchScreen(WorkerErrors, ModalScreen[str | None]):
    """Dismisses with the launched study's id, or None."""

    # On a short terminal the plan scrolls in fewer lines, so the buttons stay in view.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("escape", "leave", "Back"),
        Binding("ctrl+l", "launch", "Launch study"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plan: StudyPlanned | None = None
        self._launch_once = LaunchOnce()
        self._plan_timer = None

    def compose(self) -> ComposeResult:
        choices = backend_specs(tui=True)
        remembered = recall()
        names = [spec.name for spec in choices]
        with Vertical(id="study-launch"):
            yield Static("New study", classes="field-group")
            with Horizontal(classes="field-line"):
                yield Label("study file", classes="study-field")
                yield Input(str(remembered.get("study_file") or ""), compact=True,
                            placeholder="path/to/study.yaml (enter or ctrl+l launches it)",
                            id="study-file")
            yield OptionList(id="study-files")
            with Horizontal(classes="field-line"):
                yield Label("backend", classes="study-field")
                yield Select([(spec.title, spec.name) for spec in choices],
                             value=remembered.get("study_backend")
                             if remembered.get("study_backend") in names else names[0],
                             allow_blank=False, compact=True, id="study-backend")
            with Horizontal(classes="field-line"):
                yield Label("runs at a time", classes="study-field")
                yield Input(str(remembered.get("study_parallel") or 1), compact=True,
                            type="integer", id="study-parallel")
            with VerticalScroll(id="study-plan-scroll"):
                yield Static("", id="study-plan")
            with Horizontal(id="study-launch-buttons"):
                yield Button("Launch study (ctrl+l)", variant="primary", id="launch-study")
                yield Button("Back (esc)", id="leave-study")

    def on_mount(self) -> None:
        self.query_one("#study-files", OptionList).display = False
        self.query_one("#study-file", Input).focus()
        self.find_files(Path.cwd())
        if self._file():
            self.plan_study(self._file(), self._parallel() or 1)

    def _file(self) -> str:
        return self.query_one("#study-file", Input).value.strip()

    def _parallel(self) -> int | None:
        text = self.query_one("#study-parallel", Input).value.strip()
        try:
            value = int(text or "1")
        except ValueError:
            return None
        return value if value >= 1 else None

    def _backend(self) -> str:
        return str(self.query_one("#study-backend", Select).value)

    # --- the study files near here ------------------------------------------------------------

    @work(thread=True, name="find-study-files", group="study-files", exit_on_error=False)
    def find_files(self, base: Path) -> None:
        self.post_message(StudyFilesFound(find_study_files(base)))

    @on(StudyFilesFound)
    def _files_found(self, message: StudyFilesFound) -> None:
        listing = self.query_one("#study-files", OptionList)
        listing.clear_options()
        listing.add_options([Option(name, id=name) for name in message.files])
        listing.display = bool(message.files)
        if message.files:  # tab, then enter picks the file typed, else the first
            typed = self._file()
            listing.highlighted = message.files.index(typed) if typed in message.files else 0
        self.query_one("#study-file", Input).suggester = SuggestFromList(message.files)

    @on(OptionList.OptionSelected, "#study-files")
    def _file_picked(self, event: OptionList.OptionSelected) -> None:
        field = self.query_one("#study-file", Input)
        field.value = str(event.option.id)
        field.focus()

    # --- the plan (emotui study FILE --dry-run), read once typing pauses ------------------------

    @on(Input.Changed, "#study-file")
    @on(Input.Changed, "#study-parallel")
    def _changed(self) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        file, parallel = self._file(), self._parallel()
        if not file:
            self.plan = None
            self._show_plan()
            return
        self._plan_timer = self.set_timer(PLAN_DELAY_S, lambda: self.plan_study(
            file, parallel or 1))

    @work(thread=True, name="plan-study", group="plan", exclusive=True, exit_on_error=False)
    def plan_study(self, file: str, parallel: int) -> None:
        try:
            study_id, lines = control.plan_study(self.app.source.store, Path(file), parallel)
        except EmotuiError as exc:
            self.post_message(StudyPlanned(file, error=str(exc)))
            return
        self.post_message(StudyPlanned(file, study_id, lines))

    @on(StudyPlanned)
    def _planned(self, message: StudyPlanned) -> None:
        if message.file != self._file():
            return  # the field changed since: its own plan is on its way
        self.plan = message
        self._show_plan()

    def _show_plan(self) -> None:
        plan = self.query_one("#study-plan", Static)
        if self.plan is None:
            plan.update(Text("Pick a study file: its plan and cost show here.", style="dim"))
        elif self.plan.error:
            plan.update(Text.assemble(("cannot launch: ", "bold red"), self.plan.error))
        else:
            # The store as the header names it (tests: a fixed label for a temporary path).
            root, label = str(self.app.source.store.root), self.app.store_label
            same = label == self.app.source.label
            text = Text()
            text.append(f"study {self.plan.study_id}", style="bold")
            text.append("".join(f"\n{line if same else line.replace(root, label)}"
                                for line in self.plan.lines))
            plan.update(text)

    # --- launching ----------------------------------------------------------------------------

    @on(Button.Pressed, "#launch-study")
    @on(Input.Submitted, "#study-file")
    def action_launch(self) -> None:
        file = self._file()
        if not file:
            self.query_one("#study-file", Input).focus()
            self.notify("Give the study file's path first.", severity="warning")
            return
        parallel = self._parallel()
        if parallel is None:
            self.notify("Runs at a time is a whole number, 1 or more.", severity="error")
            return
        self.launch_study(Path(file).expanduser(), self._backend(), parallel)

    @work(thread=True, name="launch-study", group="launch", exit_on_error=False)
    def launch_study(self, file: Path, backend: str, parallel: int) -> None:
        outcome = self._launch_once(lambda: control.submit_study(
            self.app.source.store, file, backend, parallel))
        if outcome is not None:
            self.post_message(StudyStarted(backend, *outcome))

    @on(StudyStarted)
    def _started(self, message: StudyStarted) -> None:
        if message.error:
            self.notify(message.error, title="Study not launched", severity="error",
                        markup=False)
            return
        remember(study_file=self._file(), study_backend=message.backend,
                 study_parallel=self._parallel() or 1)
        self.app.notify(f"Study {message.study_id} started ({message.backend}); it goes on "
                        "when the TUI closes.", title="Study launched", markup=False)
        self.dismiss(message.study_id)

    @on(Button.Pressed, "#leave-study")
    def action_leave(self) -> None:
        if self._launch_once.launched or any(w.group == "launch" and not w.is_finished
                                 for w in self.workers):
            self.notify("Still launching; the dialog closes when the study has started.",
                        severity="warning")
            return
        self.dismiss(None)
