"""The studies list and a study's screen (phases, methods, budget, ETA, trials, notes), kept live
by their workers; enter opens a run, r finds or writes the report under the study's folder; a
study launched from a study file starts `emotui study` detached, a bad file is one line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fixture_store import FROZEN_NOW
from study_fixture import DONE, SHOWCASE, STUDIES, build_study_store
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Static
from tui_helpers import wait_for

import emotui.tui.control as control
from emotui.core.runstore import RunPaths, atomic_write_json
from emotui.core.status import write_status
from emotui.study.store import StudyStore
from emotui.tui.app import EmotuiApp
from emotui.tui.commands import EmotuiCommands
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.studies import StudiesScreen
from emotui.tui.screens.study import StudyScreen
from emotui.tui.screens.study_launch import StudyLaunchScreen, find_study_files
from emotui.tui.sources import LocalRunSource

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def shared_runs(tmp_path_factory) -> Path:
    """The study store, built once for the tests that only read it."""
    root = tmp_path_factory.mktemp("studies") / "runs"
    build_study_store(root)
    return root


@pytest.fixture
def study_runs(tmp_path) -> Path:
    """The study store, for a test that changes it, or that needs its live controllers seen
    for the first time (a controller.json dated in the future reads as alive for the first
    minute a process watches it unchanged: core.clock)."""
    root = tmp_path / "runs"
    build_study_store(root)
    return root


def app_on(root: Path, tmp_path: Path) -> EmotuiApp:
    clock = lambda: FROZEN_NOW  # noqa: E731
    return EmotuiApp(LocalRunSource(root, clock=clock, ask_backends_every=None), clock=clock,
                     export_dir=tmp_path / "exports", poll_interval=0.2, store_label="runs")


async def open_study(pilot, study_id: str) -> StudyScreen:
    pilot.app.open_study(study_id)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudyScreen)
                   and pilot.app.screen.summary is not None)
    screen = pilot.app.screen
    screen.poll_interval = 0.2
    return screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def cells(table: DataTable, key: str) -> list[str]:
    return [getattr(c, "plain", str(c)) for c in table.get_row(key)]


async def test_the_studies_list_has_every_study_in_its_phase(study_runs, tmp_path):
    app = app_on(study_runs, tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, StudiesScreen) and app.screen.loaded)
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(STUDIES)
        for study_id, (phase, _) in STUDIES.items():
            row = cells(table, study_id)
            assert row[1] == phase, (study_id, row)
        assert cells(table, SHOWCASE)[3:6] == ["4", "8/9", "4/12"]
        assert "interrupted" in cells(table, "study-a-search")[6]
        assert "7 studies · 5 running" in text_of(app.screen, "#studies-status")
        # Newest first; enter opens the highlighted study.
        table.move_cursor(row=table.get_row_index(SHOWCASE))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen)
                       and app.screen.summary is not None)
        assert app.screen.study_id == SHOWCASE


async def test_a_study_shows_phases_methods_budget_eta_and_notes(study_runs, tmp_path):
    app = app_on(study_runs, tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_study(pilot, SHOWCASE)
        head = text_of(screen, "#study-head")
        for part in ("✓ search 8/9", "✓ select", "▶ confirm 4/12", "○ test", "○ report",
                     "○ export", "budget 0.62 / 2 GPU-hours", "wall 37m20s / 45m00s",
                     "budget spent: search stopped", "ETA ~9m20s",
                     "controller running (slurm, 4 at a time, pid 31337 on gpu-login-1)",
                     "select on eval/accuracy (maximize, validation)",
                     "confirm seeds 1, 2, 3"):
            assert part in head, (part, head)
        methods = screen.query_one("#study-methods", DataTable)
        assert [str(c.label) for c in methods.ordered_columns][:4] == [
            "method", "phase", "search", "best eval/accuracy"]
        assert cells(methods, "full")[:6] == ["full", "confirmed", "2/2", "93.12% c001", "3/3",
                                              "-"]
        lora = cells(methods, "lora")
        assert lora[1:5] == ["confirm", "3/4", "92.54% c004", "1/3"]
        assert "budget: search stopped" in lora[6] and "1 search trial collapsed" in lora[6]
        assert cells(methods, "ia3")[1] == "selected"
        assert "search of lora stopped after 3 of 4 trials" in text_of(screen, "#study-notes")
        # The first method's trials: search then confirm, the winner starred.
        trials = screen.query_one("#study-trials", DataTable)
        assert trials.row_count == 5
        first = cells(trials, "search-0")
        assert first[0].endswith("★") and first[1:5] == ["search", "0", "completed", "93.12%"]
        assert cells(trials, "confirm-2")[6] == "seed=3"


@pytest.mark.parametrize("study_id", list(STUDIES))
async def test_each_phase_reads_as_that_phase(shared_runs, tmp_path, study_id):
    phase, _ = STUDIES[study_id]
    app = app_on(shared_runs, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_study(pilot, study_id)
        head = text_of(screen, "#study-head")
        if phase == "done":
            assert "✓ study done" in head and "finished" in head and "ETA" not in head
            assert "export (full, lora)" in text_of(screen, "#study-notes")
        else:
            assert f"▶ {phase}" in head, head
            assert "✓ study done" not in head
        if phase == "search":  # its controller was interrupted: how to go on
            assert f"controller interrupted: emotui study resume {study_id}" in head
        methods = screen.query_one("#study-methods", DataTable)
        stages = {key: cells(methods, key)[1] for key in ("full", "lora")}
        expected = {"search": {"full": "searched", "lora": "search"},
                    "select": {"full": "searched", "lora": "searched"},
                    "test": {"full": "confirmed", "lora": "confirmed"},
                    "report": {"full": "tested", "lora": "tested"},
                    "export": {"full": "tested", "lora": "tested"},
                    "done": {"full": "exported", "lora": "exported"}}.get(phase)
        if expected:
            assert stages == expected
        if phase in ("report", "export", "done"):
            test_acc = cells(methods, "full")[5]
            assert "±" in test_acc and "(n=2)" in test_acc


async def test_enter_opens_a_methods_best_run_and_a_trials_run(shared_runs, tmp_path):
    app = app_on(shared_runs, tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_study(pilot, DONE)
        methods = screen.query_one("#study-methods", DataTable)
        assert methods.has_focus
        await pilot.press("down")  # lora: its trials below
        await wait_for(pilot, lambda: screen.method == "lora")
        best = screen._method()["test"]["best_run"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == best
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("tab", "down")  # the trials table, its second trial
        trials = screen.query_one("#study-trials", DataTable)
        assert trials.has_focus
        second = screen._method()["search"]["rows"][1]["run_id"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == second


async def test_the_screen_follows_the_study_as_its_runs_end(study_runs, tmp_path):
    app = app_on(study_runs, tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_study(pilot, SHOWCASE)
        methods = screen.query_one("#study-methods", DataTable)
        assert cells(methods, "lora")[4] == "1/3"
        lora = next(m for m in screen.summary["methods"] if m["method"] == "lora")
        [done, running] = [row["run_id"] for row in lora["confirm"]["rows"]]
        paths = RunPaths(study_runs / running)
        results = json.loads(RunPaths(study_runs / done).results.read_text())
        atomic_write_json(paths.results, {**results, "run_id": running})
        write_status(paths, state="completed", ended=FROZEN_NOW, progress=1.0)
        await wait_for(pilot, lambda: cells(methods, "lora")[4] == "2/3")
        assert "▶ confirm 5/12" in text_of(screen, "#study-head")
        assert [w.name for w in screen.workers
                if w.node is screen and not w.is_finished] == ["poll-study"]


async def test_r_on_a_finished_study_names_its_own_report(shared_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = app_on(shared_runs, tmp_path)
    shown = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: shown.append(
        (kw.get("title"), str(message))))
    async with app.run_test(size=(160, 45)) as pilot:
        await open_study(pilot, DONE)
        await pilot.press("r")
        await wait_for(pilot, lambda: any(t == "The study's report" for t, _ in shown))
    report = StudyStore(shared_runs).paths(DONE).report
    [(_, message)] = [(t, m) for t, m in shown if t == "The study's report"]
    assert message.startswith(f"{report} (") and "report.pdf" in message


async def test_r_on_a_study_under_way_writes_an_interim_report_under_the_study(
        study_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    asked = []

    def write_report(store, refs, out, shown=None):
        asked.append((refs, out))
        out.write_text("<html></html>")
        return out

    monkeypatch.setattr(control, "write_report", write_report)
    app = app_on(study_runs, tmp_path)
    shown = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: shown.append(
        (kw.get("title"), str(message))))
    async with app.run_test(size=(160, 45)) as pilot:
        await open_study(pilot, SHOWCASE)
        await pilot.press("r")
        await wait_for(pilot, lambda: any(t == "Report written" for t, _ in shown))
    [(refs, out)] = asked
    # The sweeps the study made so far: every method's search, and the confirms started.
    assert refs == [f"{SHOWCASE}-search-full", f"{SHOWCASE}-confirm-full",
                    f"{SHOWCASE}-search-lora", f"{SHOWCASE}-confirm-lora",
                    f"{SHOWCASE}-search-ia3", f"{SHOWCASE}-search-prompt_tuning_text"]
    assert out.parent == StudyStore(study_runs).paths(SHOWCASE).report
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(FROZEN_NOW))
    assert out.name == f"interim-{stamp}.html"  # the app's clock: time frozen in tests
    assert not list(tmp_path.glob("*.html"))  # never the current folder
    assert (out.parent / out.name).exists()


# -- launching --------------------------------------------------------------------------------

STUDY_FILE = """\
name: {name}
model: {model}
data: dair-ai/emotion
methods:
  full:
    parameters:
      learning_rate: {{values: [2.0e-5, 5.0e-5]}}
  ia3:
confirm: {{seeds: [1, 2]}}
"""


@pytest.fixture
def started(monkeypatch) -> list[list[str]]:
    """The commands control.submit_study would start (none is)."""
    commands: list[list[str]] = []

    class Popen:
        def __init__(self, command, **kwargs):
            assert kwargs["start_new_session"] and kwargs["stdin"] is not None
            commands.append(command)

    monkeypatch.setattr(control.subprocess, "Popen", Popen)
    return commands


async def launch(pilot, file: str) -> StudyLaunchScreen:
    pilot.app.open_study_launch()
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, StudyLaunchScreen)
                   and pilot.app.screen.query("#study-file"))
    screen = pilot.app.screen
    screen.query_one("#study-file", Input).value = file
    await wait_for(pilot, lambda: screen.plan is not None and screen.plan.file == file,
                   timeout=30)
    return screen


async def test_a_study_file_launches_a_detached_study_and_opens_it(study_runs, tmp_path,
                                                                   started):
    file = tmp_path / "mine.yaml"
    file.write_text(STUDY_FILE.format(name="mine", model="roberta-base"))
    app = app_on(study_runs, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await launch(pilot, str(file))
        plan = str(screen.query_one("#study-plan", Static).render())
        assert plan.startswith("study mine-")
        assert "2 methods (full, ia3): search 3 trials, confirm 4 runs (seeds 1, 2); 7 runs " \
            "in all" in plan
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen))
        study_id = app.screen.study_id
        assert study_id == screen.plan.study_id
        # Not there yet (nothing really started): the screen says so and keeps reading.
        await wait_for(pilot, lambda: app.screen.error is not None)
        assert "no study" in app.screen.error
    [command] = started
    assert command[1:4] == ["-m", "emotui", "study"]
    assert command[4:] == [str(file), "--runs-dir", str(study_runs), "--backend", "local"]
    from emotui.cli.main import build_parser

    args = build_parser().parse_args(command[3:])
    assert args.targets == [str(file)] and args.backend == "local"


@pytest.mark.parametrize("text, error", [
    ("methods: {full: {parameters: {learning_rat: {value: 1.0e-5}}}}\n", "learning_rate"),
    ("methods: [full]\n", "methods"),
])
async def test_a_bad_study_file_is_one_line_and_starts_nothing(shared_runs, tmp_path, started,
                                                               text, error):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    app = app_on(shared_runs, tmp_path)
    shown = []
    notify = app.notify
    async with app.run_test(size=(120, 36)) as pilot:
        monkey = lambda message, **kw: (shown.append((kw.get("title"), str(message))),  # noqa
                                        notify(message, **kw))
        app.notify = monkey
        screen = await launch(pilot, str(file))
        assert screen.plan.error and error in screen.plan.error
        assert "cannot launch:" in str(screen.query_one("#study-plan", Static).render())
        screen.notify = monkey
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: shown)
        assert isinstance(app.screen, StudyLaunchScreen)
    [(title, message)] = shown
    assert title == "Study not launched" and "\n" not in message and error in message
    assert started == []
    assert StudyStore(shared_runs).ids() == sorted(STUDIES)


async def test_a_study_whose_model_folder_is_empty_is_refused_before_it_starts(
        shared_runs, tmp_path, started):
    empty = tmp_path / "no-model"
    empty.mkdir()
    file = tmp_path / "nomodel.yaml"
    file.write_text(STUDY_FILE.format(name="nomodel", model=empty))
    with pytest.raises(Exception, match="has no weights"):
        control.submit_study(control.RunStore(shared_runs), file, "local")
    assert started == []


def test_study_files_are_found_near_the_current_folder(tmp_path):
    (tmp_path / "sweep_configs").mkdir()
    (tmp_path / "sweep_configs" / "study.yaml").write_text("name: x\nmethods:\n  full:\n")
    (tmp_path / "sweep_configs" / "lora.yaml").write_text("method: grid\nparameters: {}\n")
    (tmp_path / "here.yml").write_text("methods: {ia3: }\n")
    assert find_study_files(tmp_path) == ["here.yml", "sweep_configs/study.yaml"]


# -- the palette and the keys -----------------------------------------------------------------


async def test_the_palette_offers_new_study_and_opens_a_study(shared_runs, tmp_path):
    app = app_on(shared_runs, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        titles = [c.title for c in EmotuiCommands(app.screen).commands()]
        assert {"New study", "Open study…", "Studies"} <= set(titles)
        assert titles.count("New study") == 1
        [new_study] = [c for c in EmotuiCommands(app.screen).commands() if c.title == "New study"]
        new_study.run()
        await wait_for(pilot, lambda: isinstance(app.screen, StudyLaunchScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StudyLaunchScreen))
        app.pick_study()
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"final")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen))
        assert app.screen.study_id == DONE
        titles = [c.title for c in EmotuiCommands(app.screen).commands()]
        assert f"Report of study {DONE}" in titles and "Compare the trials of full" in titles


@pytest.mark.parametrize("state, why", [("{not json", "study.json"),
                                        ('{"schema_version": 1, "phase": "confirm"}',
                                         "not as emotui writes it")])
async def test_an_unreadable_study_says_why(study_runs, tmp_path, state, why):
    """One broken study is one line, in the list and on its screen; the others still show."""
    paths = StudyStore(study_runs).paths("study-b-select")
    paths.state.write_text(state)
    app = app_on(study_runs, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_studies()
        await wait_for(pilot, lambda: isinstance(app.screen, StudiesScreen) and app.screen.loaded)
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(STUDIES)
        row = cells(table, "study-b-select")
        assert row[1] == "unreadable" and why in row[-1]
        app.open_study("study-b-select")
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen) and app.screen.error)
        assert why in text_of(app.screen, "#study-head")


async def test_a_read_only_session_shows_studies_but_launches_and_writes_nothing(
        shared_runs, tmp_path, monkeypatch, started):
    """emotui --read-only: the studies and their reports are there to look at; a new study and
    a report written into the store are refused with the session's notice."""
    from emotui.tui.sources.read_only import REFUSAL, ReadOnlyView

    clock = lambda: FROZEN_NOW  # noqa: E731
    source = ReadOnlyView(LocalRunSource(shared_runs, clock=clock, ask_backends_every=None))
    app = EmotuiApp(source, clock=clock, export_dir=tmp_path / "exports", poll_interval=0.2,
                    store_label="runs")
    shown = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: shown.append(
        (kw.get("title"), str(message))))
    before = sorted(p.name for p in StudyStore(shared_runs).paths(SHOWCASE).root.iterdir())
    async with app.run_test(size=(120, 36)) as pilot:
        app.open_studies()
        await wait_for(pilot, lambda: isinstance(app.screen, StudiesScreen) and app.screen.loaded)
        await pilot.press("n")
        await wait_for(pilot, lambda: any(m == REFUSAL for _, m in shown))
        assert not isinstance(app.screen, StudyLaunchScreen)
        await open_study(pilot, DONE)
        await pilot.press("r")  # the finished study's own report: named, nothing written
        await wait_for(pilot, lambda: any(t == "The study's report" for t, _ in shown))
        await pilot.press("escape")
        await open_study(pilot, SHOWCASE)
        await pilot.press("r")  # under way: an interim report would be written: refused
        await wait_for(pilot, lambda: any(t == "No report" for t, _ in shown))
    assert ("No report", REFUSAL) in shown
    assert sorted(p.name for p in StudyStore(shared_runs).paths(SHOWCASE).root.iterdir()) \
        == before
    assert started == []
