"""Run detail (logs, plots, results), compare + export, and cancelling a running run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tui_helpers import wait_for

from emotui.core.events import MetricsWriter
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status, write_status
from emotui.launch.base import process_identity
from emotui.tui.screens.compare import CompareScreen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
RUNNING = "251121-081500-ptext-ef4g"


async def open_run(pilot, app, run_id: str) -> RunDetailScreen:
    table = app.screen.query_one(RunTable)
    await wait_for(pilot, lambda: run_id in table.rows)
    table.move_cursor(row=table.get_row_index(run_id))
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
    return app.screen


async def test_detail_follows_logs_and_metrics(fixture_runs, make_app):
    app = make_app(fixture_runs)
    paths = RunPaths(fixture_runs / RUNNING)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_run(pilot, app, RUNNING)
        await wait_for(pilot, lambda: len(screen.series.loss) > 0)
        assert screen.series.eval_acc and screen.series.lr
        points_before = len(screen.series.loss)
        # The job appends: a train step, an eval, a log line. The screen follows them.
        with MetricsWriter(paths.metrics) as writer:
            writer.write("train", 9999, epoch=2.4, loss=0.123, learning_rate=1e-4,
                         samples_per_second=2345.0)
            writer.write("eval", 10000, epoch=3.0, accuracy=0.91, macro_f1=0.9)
        with open(paths.stdout, "a", encoding="utf-8") as fh:
            fh.write("epoch 3: eval accuracy 0.9100\n")
        await wait_for(pilot, lambda: len(screen.series.loss) == points_before + 1)
        assert screen.series.loss[-1] == (9999, 0.123)
        assert screen.series.eval_acc[-1] == (3.0, 0.91)
        await wait_for(pilot, lambda: "epoch 3: eval accuracy 0.9100" in screen.log_lines["stdout"])
        summary = str(screen.query_one("#detail-summary").render())
        assert "2345 samples/s" in summary and "ETA" in summary
        # Logs tab: search finds a line; stderr is one key away.
        await pilot.press("2", "slash", *"saving", "enter")
        assert "match 1/1" in str(screen.query_one("#log-stream").render())
        await pilot.press("escape")
        screen.query_one("#log").focus()
        await pilot.press("o")
        assert screen.stream == "stderr"
        assert screen.query_one("#log").lines[-1].startswith("warning: tokenizer")


async def test_detail_of_a_finished_run_shows_results(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_run(pilot, app, "251120-091500-full-ab2c")
        await wait_for(pilot, lambda: screen.query_one("#per-class").row_count == 6)
        assert screen.query_one("#confusion").row_count == 6
        await pilot.press("4")
        assert "test accuracy 92.50" in str(screen.query_one("#results-note").render())
        await pilot.press("escape")
        assert app.screen.query(RunTable)


async def test_compare_two_runs_and_export_every_format(fixture_runs, make_app, tmp_path):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        for rid in ("251120-091500-full-ab2c", "251120-101500-lora-cd3e"):
            table.move_cursor(row=table.get_row_index(rid))
            await pilot.press("space")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.runs)
        screen = app.screen
        keys = [screen.query_one("#compare-table").get_row_at(i)[0]
                for i in range(screen.query_one("#compare-table").row_count)]
        assert "learning_rate" in keys and "method" in keys and "seed" in keys
        # One method row: peft_method says the same, method_defaults is bookkeeping.
        assert "peft_method" not in keys and "method_defaults" not in keys
        assert "max_seq_length" not in keys  # same in both: hidden until 'a'
        assert "trainable_params" in keys and "test_accuracy" in keys
        await pilot.press("a")
        keys_all = [screen.query_one("#compare-table").get_row_at(i)[0]
                    for i in range(screen.query_one("#compare-table").row_count)]
        assert "max_seq_length" in keys_all
        await pilot.press("a")
        for _ in range(4):
            await pilot.press("e", "f")
        # Exports are written by a worker: wait until all four say they are done.
        await wait_for(pilot, lambda: sum(n.title.startswith("Exported")
                                          for n in app._notifications) == 4)
        exported = {p.suffix: p.read_text() for p in (tmp_path / "exports").iterdir()}
    assert set(exported) == {".csv", ".md", ".tex", ".typ"}
    assert exported[".csv"].splitlines()[0].startswith("run_id,method,")
    assert "251120-091500-full-ab2c" in exported[".csv"]
    assert "| run_id |" in exported[".md"]
    assert "\\begin{tabular}" in exported[".tex"] and "full\\_ab2c" not in exported[".tex"]
    assert exported[".typ"].startswith("#table(")


async def test_cancel_a_running_run(fixture_runs, make_app):
    """A real detached process stands in for the job; x cancels it through the launch layer."""
    paths = RunPaths(fixture_runs / RUNNING)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)
    try:
        write_status(paths, backend="local", pgid=proc.pid, job_id=str(proc.pid),
                     **process_identity(proc.pid))
        app = make_app(fixture_runs, live=True)
        async with app.run_test(size=(120, 30)) as pilot:
            table = app.screen.query_one(RunTable)
            await wait_for(pilot, lambda: RUNNING in table.rows)
            table.move_cursor(row=table.get_row_index(RUNNING))
            await pilot.press("x")  # asks first
            assert proc.poll() is None
            await pilot.press("y")
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=20)
            await wait_for(pilot, lambda: getattr(table.get_cell(RUNNING, "state"), "plain", "")
                           == "cancelled", timeout=20)
        assert read_status(paths)["state"] == "cancelled"
        assert read_status(paths)["reason"] == "cancelled by user"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_exports_are_valid(fixture_runs):
    """The comparison rows are what the export writers get: one row per run."""
    from emotui.tui.screens.compare import comparison_rows

    runs = [{"run_id": "a", "config": {"learning_rate": 1e-3, "seed": 1}, "results": {},
             "row": {"test_accuracy": 0.9}},
            {"run_id": "b", "config": {"learning_rate": 2e-3, "seed": 1}, "results": {},
             "row": {"test_accuracy": 0.8}}]
    columns, rows = comparison_rows(runs, show_all=False)
    assert columns[:3] == ["run_id", "method", "learning_rate"] and "seed" not in columns
    assert rows[1]["test_accuracy"] == 0.8
    assert json.loads(json.dumps(rows))  # plain data


async def test_resume_restarts_a_cancelled_run_on_its_backend(fixture_runs, make_app,
                                                              monkeypatch):
    import emotui.launch.runs

    submitted = []

    class RecordingBackend:
        name = "local"

        def submit(self, paths, *, resume=False, resources=None):
            submitted.append((paths.run_id, resume))
            return write_status(paths, state="queued", reason=None)

        def job_alive(self, paths, status):
            return None

    # The one owner of starting runs (launch.runs) asks the backend for it.
    monkeypatch.setattr(emotui.launch.runs, "get_backend", lambda name: RecordingBackend())
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        table.move_cursor(row=table.get_row_index("251120-091500-full-ab2c"))
        await pilot.press("r")  # completed: refused by the launch layer, nothing submitted
        table.move_cursor(row=table.get_row_index("251121-111500-lora-mn7p"))
        await pilot.press("r")
        await wait_for(pilot, lambda: getattr(table.get_cell("251121-111500-lora-mn7p", "state"),
                                              "plain", "") == "queued")
    assert submitted == [("251121-111500-lora-mn7p", True)]
    assert read_status(RunPaths(fixture_runs / "251120-091500-full-ab2c"))["state"] == "completed"
