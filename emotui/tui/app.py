"""The emotui Textual app: routes between screens; the screens hold the logic.

`run_tui(runs_dir)` is what `emotui` with no command calls.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Mapping

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.runstore import resolve_runs_dir
from emotui.core.trackers import TRACKERS
from emotui.core.userconfig import user_section, user_state_dir
from emotui.tracking.trackers import tracker as load_tracker
from emotui.tui.commands import EmotuiCommands, run_line
from emotui.tui.key_order import KeyOrder
from emotui.tui.memory import recall, remember
from emotui.tui.messages import StudiesToPick
from emotui.tui.screens.runs import RunsScreen
from emotui.tui.sources import LocalRunSource, RunSource
from emotui.tui.sources.read_only import ReadOnlyView
from emotui.tui.worker_errors import WorkerErrors

THEMES = ("textual-dark", "textual-light")  # t switches between them


class EmotuiApp(KeyOrder, WorkerErrors, App):
    """Browse, launch, follow and compare runs of a run source.

    Typed keys go out one at a time (tui/key_order.py): each reaches the widget that has the
    cursor once the keys before it have taken effect."""

    CSS_PATH = "app.tcss"
    TITLE = "emotui"
    # ctrl+p: the current screen's commands (tui/commands.py), Textual's own among them.
    COMMANDS = {EmotuiCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("ctrl+p", "command_palette", "Commands", show=False),
    ]

    def __init__(self, source: RunSource, *, clock: Callable[[], float] = time.time,
                 export_dir: Path | None = None, poll_interval: float = 1.0,
                 store_label: str | None = None, first_run: str | None = None,
                 freeze_heap: bool = False):
        super().__init__()
        self.source = source
        # A run whose detail opens over the home screen (emotui --open RUN; emotui serve's
        # /run/<id> addresses).
        self.first_run = first_run
        # Shown in the header; tests pass a fixed label (a temporary path would vary).
        self.store_label = store_label or source.label
        # One clock for elapsed times and ETAs: tests freeze it so snapshots are stable.
        self.clock = clock
        # Whether this process is the TUI's own (run_tui): then what it holds once the home
        # screen is loaded is moved out of the garbage collector's walks (core/heap.py). Not
        # for an app among others in one process (tests), whose freeze would keep theirs.
        self.freeze_heap = freeze_heap
        self.export_dir = Path(export_dir) if export_dir else default_export_dir(source)
        self.poll_interval = poll_interval
        # The theme chosen last time (t), kept in the user's state folder.
        self.theme = THEMES[1] if recall().get("theme") == THEMES[1] else THEMES[0]
        # No animations unless the user asks for them (Textual's TEXTUAL_ANIMATIONS): each
        # frame repaints the screen, and a tab's sliding underline alone is about 20 frames,
        # three quarters of what a tab switch costs the UI thread (81 -> 25 ms measured on the
        # detail screen, 2-core VM). On a busy login node, over SSH or to `emotui serve`'s
        # browsers, that is latency for the next key and bytes on the wire.
        if not os.environ.get("TEXTUAL_ANIMATIONS"):
            self.animation_level = "none"

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(poll_interval=self.poll_interval))
        if self.first_run:
            self.open_first_run(self.first_run)

    def open_first_run(self, ref: str) -> None:
        """The detail of a run named by its id or a unique part; a notice when there is none."""
        store = self.source.store
        try:
            run_id = ref if store is None else store.find(ref).run_id  # exact id first
        except EmotuiError as exc:
            self.notify(str(exc), title="Open run", severity="warning")
            return
        self.open_run(run_id)

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]
        remember(theme=self.theme)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, then every key binding of the current screen as a command."""
        for command in super().get_system_commands(screen):
            if command.callback != self.action_change_theme:  # ours: t, "Theme: light/dark"
                yield command
        seen = set()
        for binding in [*screen.BINDINGS, *self.BINDINGS]:
            if not isinstance(binding, Binding) or not binding.description:
                continue
            if binding.action in seen or binding.action == "command_palette":
                continue
            seen.add(binding.action)
            key = binding.key.split(",")[0]
            yield SystemCommand(
                binding.description,
                f"{binding.description} (key: {key})",
                lambda action=binding.action, target=screen: self.call_later(
                    self.run_action, action, target),
            )

    # --- routes the palette and the screens share ----------------------------------------------

    def runs_screen(self):
        """The home screen (the table of runs) in the screen stack, or None."""
        return next((s for s in self.screen_stack if isinstance(s, RunsScreen)), None)

    def known_runs(self) -> dict[str, dict]:
        """The rows the home screen has read (run id -> row)."""
        home = self.runs_screen()
        return dict(home.all_rows) if home is not None else {}

    def open_launch(self, sweep: bool = False) -> None:
        """The launch form as last submitted; ``sweep``: with its sweep file field ready."""
        if not self.source.capabilities.can_launch:
            self.notify(self.source.capabilities.refusal
                        or "This source has no run store to launch into.", severity="warning")
            return
        # lazy: keeps the TUI's start fast (60 ms)
        from emotui.tui.screens.launch import LaunchScreen

        home = self.runs_screen()
        self.push_screen(LaunchScreen.remembered(sweep=sweep),
                         callback=lambda _: home.refresh_now() if home is not None else None)

    def open_run(self, run_id: str) -> None:
        # lazy: keeps the TUI's start fast (152 ms)
        from emotui.tui.screens.detail import RunDetailScreen

        self.push_screen(RunDetailScreen(run_id))

    def pick_run(self) -> None:
        """A palette of every known run, searched by id."""
        rows = self.known_runs()
        if not rows:
            self.notify("No runs to open yet.", severity="warning")
            return
        self.search_commands([(rid, partial(self.open_run, rid), run_line(rows[rid]))
                              for rid in sorted(rows, reverse=True)],
                             placeholder="Open run: type part of its id…")

    def open_studies(self) -> None:
        # lazy: keeps the TUI's start fast (100 ms)
        from emotui.tui.screens.studies import StudiesScreen

        self.push_screen(StudiesScreen())

    def open_study(self, study_id: str) -> None:
        # lazy: keeps the TUI's start fast (84 ms)
        from emotui.tui.screens.study import StudyScreen

        self.push_screen(StudyScreen(study_id))

    def open_study_launch(self) -> None:
        """The new-study dialog; the study launched opens."""
        if not self.source.capabilities.can_launch:
            self.notify(self.source.capabilities.refusal
                        or "This source has no run store to launch into.", severity="warning")
            return
        # lazy: keeps the TUI's start fast (3 ms)
        from emotui.tui.screens.study_launch import StudyLaunchScreen

        self.push_screen(StudyLaunchScreen(),
                         callback=lambda study_id: self.open_study(study_id) if study_id else None)

    @work(thread=True, name="find-studies", group="studies", exclusive=True, exit_on_error=False)
    def pick_study(self) -> None:
        """A palette of the store's studies, once read (emotui study ls's rows)."""
        # lazy: keeps the TUI's start fast (59 ms)
        from emotui.study.summary import list_studies

        store = self.source.store
        self.post_message(StudiesToPick(list_studies(store) if store is not None else []))

    @on(StudiesToPick)
    def _pick_study(self, message: StudiesToPick) -> None:
        if not message.rows:
            self.notify("No studies yet: New study (ctrl+p) launches one.", severity="warning")
            return
        self.search_commands(
            [(row["study_id"], partial(self.open_study, row["study_id"]),
              f"{row.get('phase')} · search {row.get('search_done', 0)}/"
              f"{row.get('search_planned', '?')} · {row.get('source') or row.get('reason')}")
             for row in reversed(message.rows)],
            placeholder="Open study: type part of its id…")


def project_choice(tracker: str, given: str | None) -> str | None:
    """The project of a tracker the TUI shows beside the local runs: --<tracker> (--wandb,
    --trackio), else the user config's ``<tracker>: tui_project:``; ``none`` (or an empty
    value) shows none."""
    if given is None:
        given = user_section(tracker).get("tui_project")
    text = str(given or "").strip()
    return None if text.lower() in ("", "none", "off") else text


def wandb_project_choice(wandb: str | None) -> str | None:
    return project_choice("wandb", wandb)


def make_source(root: Path, wandb: str | None = None, *,
                projects: Mapping[str, str | None] | None = None,
                read_only: bool = False) -> RunSource:
    """The local store, plus each tracker project chosen (``projects``: tracker name -> project;
    ``wandb`` is W&B's; a tracker's code loads only then); look-only when ``read_only``."""
    given = {"wandb": wandb, **{k: v for k, v in (projects or {}).items() if v is not None}}
    source: RunSource = LocalRunSource(root)
    remotes = []
    for spec in TRACKERS:
        project = project_choice(spec.name, given.get(spec.name))
        if project is not None:
            # lazy: a tracker's code loads only when its project is shown (14 ms)
            from emotui.tui.sources.tracker import TrackerRunSource

            found = load_tracker(spec.name)
            remotes.append(TrackerRunSource(found.project(project), kind=found.name,
                                            label=found.label,
                                            refresh_every=found.refresh_every_s))
    if remotes:
        from emotui.tui.sources.combined import CombinedRunSource
        from emotui.tui.sources.remotes import RemoteSources

        source = CombinedRunSource(source, remotes[0] if len(remotes) == 1
                                   else RemoteSources(remotes))
    if read_only:
        source = ReadOnlyView(source)
    return source


def default_export_dir(source: RunSource) -> Path:
    """Where the TUI writes reports and exports (each notice names the file): $EMOTUI_EXPORT_DIR,
    else the store's ``exports/`` folder (not a run: its name is no run id), else, for a store
    only looked at (--read-only) or none (a tracker's project), the user's state folder; never
    the folder the TUI was started in (often a git clone)."""
    configured = os.environ.get("EMOTUI_EXPORT_DIR")
    if configured:
        return Path(configured).expanduser().absolute()
    if source.store is not None and not source.capabilities.read_only:
        return Path(source.store.root).absolute() / "exports"
    return user_state_dir() / "exports"


def run_tui(runs_dir: str | None = None, wandb: str | None = None, *,
            projects: Mapping[str, str | None] | None = None, read_only: bool = False,
            first_run: str | None = None) -> int:
    """Open the TUI on a run store (--runs-dir, $EMOTUI_RUNS_DIR or ./runs), with the runs of
    the W&B and trackio projects beside them that --wandb/--trackio or the user config name;
    look-only with --read-only (what ``emotui serve --read-only`` starts per browser), with a
    run's detail open first with --open RUN."""
    root = resolve_runs_dir(runs_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"run store {root} is a file, not a folder; give --runs-dir a folder")
    if root.exists() and not os.access(root, os.R_OK | os.X_OK):
        raise ConfigError(f"run store {root} is not readable; check its permissions")
    # A store that does not exist yet is shown empty; launching the first run creates it.
    app = EmotuiApp(make_source(root, wandb, projects=projects, read_only=read_only),
                    first_run=first_run, freeze_heap=True)
    app.run()
    return app.return_code or 0
