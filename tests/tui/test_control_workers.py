"""Control actions run as named workers of the screen that shows their outcome, report back with a
message, and never touch a widget from their thread; sources say what they can do."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

import pytest
from tui_helpers import wait_for

import emotui.tui.control as control
from emotui.core.errors import BackendError, ConfigError
from emotui.tui.screens.compare import CompareScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.screens.runs import RunsScreen
from emotui.tui.sources import READ_ONLY, LocalRunSource, SourceCapabilities
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
TUI = Path(__file__).resolve().parents[2] / "emotui" / "tui"
CANCELLED = "251121-111500-lora-mn7p"


def notices(app) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


def record_notices(app, monkeypatch) -> list[tuple[str, str]]:
    """(title, message) of every notification the app is asked to show, kept after it expires."""
    shown: list[tuple[str, str]] = []
    notify = app.notify

    def recording(message, *, title="", **options):
        shown.append((title, str(message)))
        return notify(message, title=title, **options)

    monkeypatch.setattr(app, "notify", recording)
    return shown


class Recorder:
    """A stand-in for one emotui.tui.control call: records the worker it ran on."""

    def __init__(self, result: str | None = None, error: Exception | None = None,
                 delay: float = 0.0):
        self.result, self.error, self.delay = result, error, delay
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs):
        from textual.worker import get_current_worker

        worker = get_current_worker()
        self.calls.append({"args": args, "thread": threading.current_thread(),
                           "name": worker.name, "group": worker.group,
                           "node": type(worker.node).__name__})
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.result


def test_no_tui_module_paints_from_a_thread_or_probes_its_source():
    """Workers post messages; handlers paint. Sources are asked through RunSource."""
    for path in TUI.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr != "call_from_thread", f"{path.name}:{node.lineno}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                    "getattr", "hasattr") and node.args:
                target = ast.unparse(node.args[0])
                assert "source" not in target, f"{path.name}:{node.lineno}: {target}"


def test_sources_declare_what_they_can_do(fixture_runs):
    from emotui.tracking.wandb_api import WandbProject
    from emotui.tui.sources.combined import CombinedRunSource
    from emotui.tui.sources.wandb import WandbRunSource

    local = LocalRunSource(fixture_runs, ask_backends_every=None)
    caps = local.capabilities
    assert caps.can_launch and caps.can_cancel and caps.can_resume and caps.can_delete
    assert not caps.can_refresh and not caps.read_only
    assert local.store.root == fixture_runs and local.is_controllable(CANCELLED)
    remote = WandbRunSource(WandbProject("team", "study"))
    assert remote.capabilities.read_only and remote.capabilities.can_refresh
    assert remote.store is None and not remote.is_controllable("w1")
    assert remote.label == "W&B team/study"
    both = CombinedRunSource(local, remote)
    assert both.capabilities == SourceCapabilities(
        can_launch=True, can_cancel=True, can_resume=True, can_delete=True, can_refresh=True)
    assert both.store is local.store
    assert READ_ONLY.read_only and not SourceCapabilities(can_launch=True).read_only


async def test_resume_and_delete_run_on_named_workers_and_report_by_message(
        fixture_runs, make_app, monkeypatch):
    resume = Recorder(result="resumed on local")
    delete = Recorder(error=ConfigError("run x is running; cancel it before deleting it"))
    monkeypatch.setattr(control, "resume", resume)
    monkeypatch.setattr(control, "delete", delete)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: CANCELLED in table.rows)
        table.move_cursor(row=table.get_row_index(CANCELLED))
        await pilot.press("r")
        await wait_for(pilot, lambda: ("Resume", f"{CANCELLED}: resumed on local")
                       in notices(app))
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: any(t == "Deleted failed" for t, _ in notices(app)))
    [call] = resume.calls
    assert call["args"][0].run_id == CANCELLED
    assert (call["name"], call["group"], call["node"]) == ("resume-runs", "control", "RunsScreen")
    assert call["thread"] is not threading.main_thread()
    [call] = delete.calls
    assert (call["name"], call["group"], call["node"]) == ("delete-runs", "control", "RunsScreen")
    assert ("Deleted failed", "run x is running; cancel it before deleting it") in notices(app)


async def test_detail_resume_is_a_worker_of_the_detail_screen(fixture_runs, make_app,
                                                              monkeypatch):
    resume = Recorder(result="resumed on slurm")
    monkeypatch.setattr(control, "resume", resume)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: CANCELLED in table.rows)
        table.move_cursor(row=table.get_row_index(CANCELLED))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: ("Resume", f"{CANCELLED}: resumed on slurm")
                       in notices(app))
    [call] = resume.calls
    assert (call["name"], call["group"], call["node"]) == (
        "resume-run", "control", "RunDetailScreen")


async def test_submit_runs_on_a_worker_once_and_the_form_waits_for_it(fixture_runs, make_app,
                                                                      monkeypatch):
    submit = Recorder(result="251123-000000-lora-zz9z", delay=3.0)
    monkeypatch.setattr(control, "submit", submit)
    app = make_app(fixture_runs)
    # Every notice, also one that expired on screen before the check (a loaded machine).
    shown = record_notices(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.press("ctrl+s", "ctrl+s")  # a second press while the first is submitting
        await pilot.press("escape")  # not left while the backend has not answered
        assert isinstance(app.screen, LaunchScreen)
        assert any("Still launching" in m for _, m in shown)
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert ("Run launched", "Submitted 251123-000000-lora-zz9z (local)") in shown
    [call] = submit.calls  # one run, however often the key was pressed
    assert (call["name"], call["group"], call["node"]) == ("submit-run", "launch", "LaunchScreen")
    assert call["thread"] is not threading.main_thread()


async def test_a_failed_submit_keeps_the_form_with_the_reason(fixture_runs, make_app,
                                                              monkeypatch):
    submit = Recorder(error=BackendError("could not submit to slurm: sbatch: no"))
    monkeypatch.setattr(control, "submit", submit)
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: ("Not submitted", "could not submit to slurm: sbatch: no")
                       in notices(app))
        assert isinstance(app.screen, LaunchScreen)
        submit.error, submit.result = None, "251123-000000-lora-zz8y"
        await pilot.press("ctrl+s")  # after a failure the form launches again
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    assert len(submit.calls) == 2


async def test_export_is_a_worker_and_a_write_error_is_one_line(fixture_runs, make_app,
                                                               tmp_path):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        for rid in ("251120-091500-full-ab2c", "251120-101500-lora-cd3e"):
            table.move_cursor(row=table.get_row_index(rid))
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.runs)
        (tmp_path / "exports").write_text("a file where the export folder should be")
        await pilot.press("e")
        await wait_for(pilot, lambda: any(t == "Not exported" for t, _ in notices(app)))
        [message] = [m for t, m in notices(app) if t == "Not exported"]
        assert "could not write" in message and "\n" not in message
        (tmp_path / "exports").unlink()
        await pilot.press("e")
        await wait_for(pilot, lambda: any(t == "Exported csv" for t, _ in notices(app)))
    assert [p.suffix for p in (tmp_path / "exports").iterdir()] == [".csv"]
