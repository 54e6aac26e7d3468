"""Write the README's screenshots: every screen at 160x45 and 80x24, on the fixture store.

    uv run python tests/tui/screenshots.py [docs/screenshots] [SCENE...]

Each screen is reached the way a user reaches it (keys on the home screen) in a headless app
with time frozen, then saved as SVG (Textual's save_screenshot): <screen>_<cols>x<rows>.svg.
The study scenes run on the fixture store plus a study in each phase (study_fixture.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).parent))

from fixture_store import FROZEN_NOW, RUNS, SWEEP_RUNS, build_fixture_store  # noqa: E402
from study_fixture import DONE, SHOWCASE, build_study_store  # noqa: E402
from textual.widgets import Input  # noqa: E402
from tui_helpers import wait_for  # noqa: E402

from emotui.core.runstore import RunPaths, atomic_write_json  # noqa: E402
from emotui.core.status import write_status  # noqa: E402
from emotui.tui.app import EmotuiApp  # noqa: E402
from emotui.tui.screens.compare import CompareScreen  # noqa: E402
from emotui.tui.screens.detail import RunDetailScreen  # noqa: E402
from emotui.tui.screens.launch import LaunchScreen  # noqa: E402
from emotui.tui.screens.sweeps import SweepsScreen  # noqa: E402
from emotui.tui.sources import LocalRunSource  # noqa: E402
from emotui.tui.widgets.run_table import RunTable  # noqa: E402

SIZES = ((160, 45), (80, 24))
RUNNING = "251121-081500-ptext-ef4g"
ALL = len(RUNS) + len(SWEEP_RUNS)


async def home(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.query(RunTable)
                   and pilot.app.screen.query_one(RunTable).row_count == ALL
                   and not pilot.app.screen.scanning)


async def goto(pilot, run_id: str) -> None:
    await home(pilot)
    table = pilot.app.screen.query_one(RunTable)
    table.move_cursor(row=table.get_row_index(run_id))
    await pilot.pause()


async def select(pilot, *run_ids: str) -> None:
    for rid in run_ids:
        await goto(pilot, rid)
        await pilot.press("space")


async def detail(pilot, run_id: str, tab: str = "1") -> None:
    await goto(pilot, run_id)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen)
                   and pilot.app.screen.row and pilot.app.screen.series.loss)
    await pilot.press(tab)


async def launch_form(pilot) -> None:
    await home(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))


async def compare(pilot, pareto: bool = False) -> None:
    await select(pilot, "251120-091500-full-ab2c", "251120-101500-lora-cd3e",
                 "251122-081500-lora-st2a")
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen)
                   and pilot.app.screen.runs and pilot.app.screen.curves is not None)
    if pareto:
        await pilot.press("p")


async def sweeps(pilot) -> None:
    await home(pilot)
    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SweepsScreen))


async def run_ended(pilot, root: Path) -> None:
    await home(pilot)
    paths = RunPaths(root / RUNNING)
    atomic_write_json(paths.results, {"test_accuracy": 0.8125, "collapsed": False})
    write_status(paths, state="completed", phase=None, progress=1.0, epoch=5.0, ended=FROZEN_NOW,
                 elapsed_s=900.0)
    await wait_for(pilot, lambda: any(n.title == "Run completed"
                                      for n in pilot.app._notifications))


async def delete_question(pilot) -> None:
    await goto(pilot, "251121-111500-lora-mn7p")
    await pilot.press("d")


async def cancel_question(pilot) -> None:
    await select(pilot, RUNNING, "251121-091500-prand-gh5j")
    await pilot.press("x")


async def light_theme_filtered(pilot) -> None:
    await home(pilot)
    await pilot.press("t", "slash", *"lora", "enter", "space")


async def studies(pilot) -> None:
    from textual.widgets import DataTable

    from emotui.tui.screens.studies import StudiesScreen

    await wait_for(pilot, lambda: pilot.app.screen.query(RunTable)
                   and not pilot.app.screen.scanning)
    await pilot.press("u")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudiesScreen)
                   and pilot.app.screen.loaded)
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index(SHOWCASE))


async def study(pilot, study_id: str, method: str) -> None:
    from textual.widgets import DataTable

    from emotui.tui.screens.study import StudyScreen

    await studies(pilot)
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index(study_id))
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudyScreen)
                   and pilot.app.screen.summary is not None)
    screen = pilot.app.screen
    methods = screen.query_one("#study-methods", DataTable)
    methods.move_cursor(row=methods.get_row_index(method))
    await wait_for(pilot, lambda: screen.method == method)


async def study_launch(pilot) -> None:
    from emotui.tui.screens.study_launch import StudyLaunchScreen

    await studies(pilot)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudyLaunchScreen)
                   and pilot.app.screen.query("#study-file"))
    screen = pilot.app.screen
    screen.query_one("#study-file", Input).value = "sweep_configs/study.yaml"
    await wait_for(pilot, lambda: screen.plan is not None, timeout=60)


SCENES: dict[str, Callable[[object, Path], Awaitable[None]]] = {
    "home": lambda pilot, root: home(pilot),
    "home_light_theme_filtered": lambda pilot, root: light_theme_filtered(pilot),
    "run_ended_notification": run_ended,
    "launch_form": lambda pilot, root: launch_form(pilot),
    "detail_plots": lambda pilot, root: detail(pilot, RUNNING),
    "detail_logs": lambda pilot, root: detail(pilot, "251121-101500-full-jk6m", "2"),
    "detail_config": lambda pilot, root: detail(pilot, "251120-101500-lora-cd3e", "3"),
    "detail_results": lambda pilot, root: detail(pilot, "251120-101500-lora-cd3e", "4"),
    "compare": lambda pilot, root: compare(pilot),
    "compare_pareto": lambda pilot, root: compare(pilot, pareto=True),
    "sweeps": lambda pilot, root: sweeps(pilot),
    "delete_confirmation": lambda pilot, root: delete_question(pilot),
    "cancel_confirmation": lambda pilot, root: cancel_question(pilot),
    "studies": lambda pilot, root: studies(pilot),
    "study": lambda pilot, root: study(pilot, SHOWCASE, "lora"),
    "study_done": lambda pilot, root: study(pilot, DONE, "full"),
    "study_launch": lambda pilot, root: study_launch(pilot),
}
# The scenes whose store also holds the studies.
STUDY_SCENES = ("studies", "study", "study_done", "study_launch")


async def shoot(name: str, size: tuple[int, int], out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        (build_study_store if name in STUDY_SCENES else build_fixture_store)(root)
        clock = lambda: FROZEN_NOW  # noqa: E731
        app = EmotuiApp(LocalRunSource(root, clock=clock, ask_backends_every=None), clock=clock,
                        export_dir=Path(tmp) / "exports", poll_interval=0.2, store_label="runs")
        async with app.run_test(size=size) as pilot:
            await SCENES[name](pilot, root)
            for field in app.screen.query(Input):
                field.cursor_blink = False  # a focused field shows its cursor, not half a blink
            await pilot.pause(0.5)
            filename = f"{name}_{size[0]}x{size[1]}.svg"
            app.save_screenshot(filename, str(out))
    return out / filename


async def main(out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names or SCENES:
        for size in SIZES:
            print(await shoot(name, size, out))


if __name__ == "__main__":
    # The TUI remembers a theme and form values; screenshots start from a clean state.
    os.environ["EMOTUI_STATE_DIR"] = tempfile.mkdtemp(prefix="emotui-state-")
    unknown = [name for name in sys.argv[2:] if name not in SCENES]
    if unknown:
        sys.exit(f"unknown scene {unknown[0]}; the scenes: {', '.join(SCENES)}")
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"),
                     sys.argv[2:]))
