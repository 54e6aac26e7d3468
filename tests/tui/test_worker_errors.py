"""A worker that raises something unexpected (a bug) becomes one notification naming what failed
and where its traceback was written; the app goes on, and a polling or following loop starts
again (emotui.tui.worker_errors)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fixture_store import RUNS, SWEEP_RUNS
from tui_helpers import wait_for

import emotui.tui.control as control
from emotui.tui import worker_errors
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.screens.runs import RunsScreen
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
TUI = Path(__file__).resolve().parents[2] / "emotui" / "tui"
ALL = len(RUNS) + len(SWEEP_RUNS)
RUNNING = "251121-081500-ptext-ef4g"


def record_notices(app, monkeypatch) -> list[tuple[str, str, str]]:
    """(title, message, severity) of every notification, kept after it expires on screen."""
    shown: list[tuple[str, str, str]] = []
    notify = app.notify

    def recording(message, *, title="", severity="information", **options):
        shown.append((title, str(message), severity))
        return notify(message, title=title, severity=severity, **options)

    monkeypatch.setattr(app, "notify", recording)
    return shown


@pytest.fixture
def quick_retry(monkeypatch):
    for module in ("emotui.tui.screens.runs", "emotui.tui.screens.detail"):
        monkeypatch.setattr(f"{module}.RETRY_S", 0.2)


def failing_first(monkeypatch, owner, name: str, error: Exception, times: int = 1) -> list[int]:
    """owner.name raises ``error`` on its first ``times`` calls, then works; the calls counted."""
    original = getattr(owner, name)
    calls: list[int] = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return calls


async def test_polling_that_raises_is_one_notice_with_the_log_and_polling_goes_on(
        fixture_runs, make_app, monkeypatch, quick_retry):
    app = make_app(fixture_runs)
    calls = failing_first(monkeypatch, app.source, "poll", KeyError("status"), times=3)
    shown = record_notices(app, monkeypatch)
    async with app.run_test(size=(120, 30)) as pilot:
        # Three failures in a row (the same error), then the store is read as usual.
        await wait_for(pilot, lambda: app.screen.query(RunTable)
                       and app.screen.query_one(RunTable).row_count == ALL)
        assert len(calls) >= 4
        log = worker_errors.log_path()
        assert shown == [("Reading the run store failed",
                          f"KeyError: 'status'\nThe traceback is in {log}. Trying again every "
                          "0.2 s.", "error")]
        text = log.read_text(encoding="utf-8")
        assert "RunsScreen: worker 'poll-runs' (group 'runs') failed" in text
        assert "Traceback (most recent call last)" in text and "KeyError: 'status'" in text
        assert text.count("Traceback") == 1  # the same error again is not written again
        # The app goes on: keys work.
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))


async def test_a_new_error_is_told_too(fixture_runs, make_app, monkeypatch, quick_retry):
    app = make_app(fixture_runs)
    errors = iter([RuntimeError("first"), ValueError("second")])
    original = app.source.poll

    def poll():
        error = next(errors, None)
        if error is not None:
            raise error
        return original()

    monkeypatch.setattr(app.source, "poll", poll)
    shown = record_notices(app, monkeypatch)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
    assert [(t, m.splitlines()[0]) for t, m, _ in shown] == [
        ("Reading the run store failed", "RuntimeError: first"),
        ("Reading the run store failed", "ValueError: second")]


async def test_following_that_raises_is_told_and_starts_again(fixture_runs, make_app,
                                                              monkeypatch, quick_retry):
    app = make_app(fixture_runs)
    shown = record_notices(app, monkeypatch)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == ALL)
        failing_first(monkeypatch, app.source, "detail", OSError(5, "Input/output error"))
        table = app.screen.query_one(RunTable)
        table.move_cursor(row=table.get_row_index(RUNNING))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.row and app.screen.series.loss
                       and app.screen.log_lines["stdout"])
        screen = app.screen
        [(title, message, severity)] = shown
        assert title == "Following the run failed" and severity == "error"
        assert message.startswith("OSError: [Errno 5] Input/output error\nThe traceback is in ")
        # What the second worker read is shown once, not added to what the first had shown.
        stdout = (fixture_runs / RUNNING / "stdout.log").read_text().splitlines()
        assert screen.log_lines["stdout"] == stdout
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_a_control_action_that_raises_is_told_and_the_app_goes_on(
        fixture_runs, make_app, monkeypatch):
    def broken_cancel(paths):
        raise AttributeError("'NoneType' object has no attribute 'job_id'")

    monkeypatch.setattr(control, "cancel", broken_cancel)
    app = make_app(fixture_runs)
    shown = record_notices(app, monkeypatch)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: RUNNING in table.rows)
        table.move_cursor(row=table.get_row_index(RUNNING))
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: shown)
        await pilot.pause(0.3)
        [(title, message, _)] = shown
        assert title == "Cancelling failed"
        assert message == ("AttributeError: 'NoneType' object has no attribute 'job_id'\n"
                           f"The traceback is in {worker_errors.log_path()}.")
        assert "'cancel-runs'" in worker_errors.log_path().read_text()
        await pilot.press("enter")  # still responsive: the run opens
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))


async def test_an_unwritable_state_folder_logs_to_a_temporary_file(
        fixture_runs, make_app, monkeypatch, tmp_path):
    blocked = tmp_path / "state-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("EMOTUI_STATE_DIR", str(blocked))
    fallback = tmp_path / "tmp"
    monkeypatch.setattr(worker_errors.tempfile, "gettempdir", lambda: str(fallback))

    def broken(store, run_id):
        raise RuntimeError("delete exploded")

    monkeypatch.setattr(control, "delete", broken)
    app = make_app(fixture_runs)
    shown = record_notices(app, monkeypatch)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: "251121-111500-lora-mn7p" in table.rows)
        table.move_cursor(row=table.get_row_index("251121-111500-lora-mn7p"))
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: any(t == "Deleting failed" for t, _, _ in shown))
    [log] = fallback.glob("emotui-*-tui.log")
    assert "delete exploded" in log.read_text()
    assert any(m.endswith(f"The traceback is in {log}.") for _, m, _ in shown)


def test_every_worker_reports_its_errors_instead_of_ending_the_app():
    """Each @work of the TUI has exit_on_error=False (the app would exit on an error otherwise)
    and belongs to a class that mixes in WorkerErrors (which tells the user)."""
    found = 0
    for path in TUI.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for fn in cls.body:
                for deco in getattr(fn, "decorator_list", []):
                    if not (isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "work"):
                        continue
                    found += 1
                    where = f"{path.name}:{fn.lineno}"
                    keywords = {k.arg: ast.unparse(k.value) for k in deco.keywords}
                    assert keywords.get("exit_on_error") == "False", where
                    assert keywords.get("name") and keywords.get("group"), where
                    assert "WorkerErrors" in [ast.unparse(b) for b in cls.bases], where
                    assert ast.literal_eval(keywords["name"]) in worker_errors.WHAT_FAILED, where
    assert found >= 15
