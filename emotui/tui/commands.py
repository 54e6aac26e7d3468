"""emotui's command palette (ctrl+p): the actions of the screen it opens on, by name.

posting's ``commands.py`` is the model: one Provider that asks what the current screen can do.
A screen lists its own commands (``palette_commands()``: PaletteCommand, titled for what they act
on now, e.g. "Cancel 3 selected runs"); the provider adds what every screen offers (a new run,
sweep or study, opening a run by id or a study, the theme), then the rest of the screen's keys
and Textual's own commands (``App.get_system_commands``), leaving out those a named command
already covers. Typed text that is part of a run id also offers to open that run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from emotui.tui import formatting as fmt

if TYPE_CHECKING:
    from textual.screen import Screen

RUN_ID_QUERY_MIN = 4  # shorter text matches too many ids to be meant as one
RUN_ID_HITS_MAX = 12


@dataclass(frozen=True)
class PaletteCommand:
    """A command of the palette: what it says, its help line, what it runs, and the key actions
    (Binding.action) it stands for, so those are not listed twice."""

    title: str
    help: str
    run: Callable[[], Any]
    covers: tuple[str, ...] = ()


def new_study_command(app: Any) -> PaletteCommand | None:
    """"New study": the dialog that launches `emotui study FILE` from a study file."""
    return PaletteCommand("New study", "Pick a study file, see its plan and cost, launch it "
                          "(it goes on when the TUI closes)", app.open_study_launch,
                          ("new_study",))


def global_commands(app: Any, screen: "Screen") -> Iterator[PaletteCommand]:
    """What every full screen offers: a new run, sweep or study; a run or study by id; the
    theme."""
    # lazy: keeps the TUI's start fast (58 ms)
    from emotui.tui.screens.launch import LaunchScreen

    if not screen.is_modal and not isinstance(screen, LaunchScreen):
        yield PaletteCommand("New run", "The launch form, as you last submitted it (n on the "
                             "runs screen)", app.open_launch, ("launch",))
        yield PaletteCommand("New sweep", "The launch form with its sweep file field ready: a "
                             "W&B sweep YAML, launched with ctrl+l", partial(app.open_launch,
                                                                              sweep=True))
        study = new_study_command(app)
        if study is not None:
            yield study
        yield PaletteCommand("Open run by id…", "Pick any run of the store by its id (or type "
                             "part of an id here)", app.pick_run)
        yield PaletteCommand("Open study…", "Pick a study of the store: its phases, methods, "
                             "budget and ETA", app.pick_study)
    from emotui.tui.app import THEMES  # lazy: tui.app imports this module

    other = "light" if app.theme == THEMES[0] else "dark"
    yield PaletteCommand(f"Theme: {other}", f"Switch to the {other} theme (t); remembered for "
                         "next time", app.action_toggle_theme, ("toggle_theme",))


class EmotuiCommands(Provider):
    """The current screen's commands, then every screen's, then the remaining keys."""

    def commands(self) -> list[PaletteCommand]:
        app: Any = self.app
        screen = self.screen
        listed: list[PaletteCommand] = []
        own = getattr(screen, "palette_commands", None)
        if own is not None:
            listed += list(own())
        listed += list(global_commands(app, screen))
        covered = {action for command in listed for action in command.covers}
        titles = {command.title for command in listed}
        for binding in [*screen.BINDINGS, *app.BINDINGS]:
            if getattr(binding, "action", None) in covered and binding.description:
                titles.add(binding.description)
        for system in app.get_system_commands(screen):
            if system.title not in titles and system.discover:
                titles.add(system.title)
                listed.append(PaletteCommand(system.title, system.help, system.callback))
        return listed

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run,
                          text=command.title, help=command.help)
        for run_id, help_text in run_id_matches(self.app, query):
            title = f"Open run {run_id}"
            yield Hit(0.9, title, partial(self.app.open_run, run_id),  # type: ignore[attr-defined]
                      text=title, help=help_text)


def run_id_matches(app: Any, query: str) -> Iterable[tuple[str, str]]:
    """(run id, a line about it) for the known runs whose id holds ``query``, newest first."""
    needle = query.strip().lower()
    if len(needle) < RUN_ID_QUERY_MIN:
        return []
    rows = app.known_runs()
    hits = [rid for rid in sorted(rows, reverse=True) if needle in rid.lower()]
    return [(rid, run_line(rows[rid])) for rid in hits[:RUN_ID_HITS_MAX]]


def run_line(row: dict[str, Any]) -> str:
    """A run as the palette describes it: state, method, model."""
    parts = [fmt.state_text(row).plain, fmt.method_label(row.get("method"))]
    if row.get("model_name_or_path"):
        parts.append(str(row["model_name_or_path"]))
    if row.get("sweep_id"):
        parts.append(f"sweep {row['sweep_id']}")
    return " · ".join(p for p in parts if p)
