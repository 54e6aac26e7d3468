"""The TUI over what is large: many runs (only visible lines are rendered, finished runs come
from the run index), a large metrics file (read off the UI thread, thinned), a thousand classes
(the Results tab laid out off the UI thread, the most confused pairs instead of a million
cells). Timings at scale: tests/benchmarks/bench_scale.py; here, what is done and where."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from tui_helpers import wait_for

from emotui.core import runview
from emotui.core.confusion import BLOCK_LABELS, TOP_PAIRS
from emotui.core.events import MetricsReader
from emotui.tui import results_view as results_view_module
from emotui.tui.screens import detail as detail_screen
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.sources import LocalRunSource
from emotui.tui.widgets.plot_grid import PlotGrid
from emotui.tui.widgets.plots import TRAIN_POINTS, Chart, MetricPlot
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
CONFIG = "model_name_or_path: roberta-base\nmethod: lora\npeft_method: lora\nlora_r: 8\n" \
         "learning_rate: 0.001\nnum_train_epochs: 3\nseed: 1\n"


def write_runs(root: Path, n: int) -> list[str]:
    """n completed runs, written directly (fast): config.yaml, status.json, results.json."""
    ids = []
    for i in range(n):
        rid = f"250101-{i // 60:04d}{i % 60:02d}-lora-a{i:05d}"
        run = root / rid
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(CONFIG)
        (run / "status.json").write_text(json.dumps(
            {"state": "completed", "backend": "local", "created": 1e9 + i,
             "started": 1e9 + i, "ended": 1e9 + i + 60, "progress": 1.0, "epoch": 3.0}))
        (run / "results.json").write_text(json.dumps(
            {"eval_accuracy": 0.9, "test_accuracy": 0.8 + (i % 100) / 1000}))
        ids.append(rid)
    return ids


def spy(monkeypatch, owner, name: str, record) -> None:
    """owner.name, with record(*args) called before each call."""
    original = getattr(owner, name)

    def recorded(*args, **kwargs):
        record(*args, **kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)


def counting(monkeypatch, target, name) -> list:
    calls: list = []
    spy(monkeypatch, target, name, lambda *args, **_: calls.append(args))
    return calls


async def test_only_the_lines_on_screen_are_rendered(tmp_path, make_app, monkeypatch):
    root = tmp_path / "runs"
    ids = write_runs(root, 3000)
    rendered = counting(monkeypatch, RunTable, "cells")
    app = make_app(root)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == 3000 and not app.screen.scanning,
                       timeout=60)
        await pilot.pause()
        seen = {args[1] for args in rendered}
        assert len(seen) <= 60, len(seen)  # one screenful (and its neighbours), not 3,000
        assert table.current_id == ids[-1]  # newest first
        await pilot.press("end")
        await pilot.pause()
        assert table.current_id == ids[0]
        # The last row on screen, above the horizontal scrollbar: scrolled to the end.
        assert table.scroll_y == table.max_scroll_y
        assert int(table.scroll_y) + table.page_rows == 3000
        assert ids[0] in {args[1] for args in rendered}
        await pilot.press("pageup", "up")
        assert table.cursor_row == 3000 - 1 - table.page_rows - 1
        await pilot.press("s")  # sort by another column: every row, no rendering of them all
        await pilot.pause()
        assert len({args[1] for args in rendered}) <= 200


async def test_a_second_start_reads_no_finished_run(tmp_path, make_app, monkeypatch):
    root = tmp_path / "runs"
    write_runs(root, 300)
    source = LocalRunSource(root, ask_backends_every=None, first_batch_size=20)
    assert sum(len(b.changed) for b in source.poll()) == 300  # reads them, writes the index
    reads = counting(monkeypatch, runview, "read_run")
    again = LocalRunSource(root, ask_backends_every=None, first_batch_size=20)
    batches = again.poll()
    first = next(batches)
    assert len(first.changed) == 20 and not again.index._loaded  # before the index is read
    assert len(reads) == 20
    rest = sum(len(b.changed) for b in batches)
    assert rest == 280 and len(reads) == 20  # the other 280 from the index
    assert [dict(r) for r in first.changed] == \
        [dict(source._rows[r["run_id"]]) for r in first.changed]


def write_big_run(root: Path, steps: int, labels: int = 6) -> tuple[str, int]:
    rid = "251201-120000-lora-big1"
    run = root / rid
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(CONFIG)
    (run / "status.json").write_text(json.dumps(
        {"state": "completed", "backend": "local", "created": 1e9, "ended": 1e9 + 60,
         "progress": 1.0, "epoch": 3.0}))
    names = [f"class{i:04d}" for i in range(labels)]
    matrix = [[50 if r == c else (r * 7 + c) % 3 for c in range(labels)] for r in range(labels)]
    (run / "results.json").write_text(json.dumps(
        {"status": "completed", "best_epoch": 3, "test_accuracy": 0.8, "eval_accuracy": 0.81,
         "label_names": names, "confusion_matrix": matrix,
         "per_class": {n: {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 52}
                       for n in names}}))
    last = 0
    with open(run / "metrics.jsonl", "w") as fh:
        for step in range(1, steps + 1):
            if step % 1000 == 0:
                event = {"split": "eval", "step": step, "epoch": step / 1000, "accuracy": 0.8,
                         "macro_f1": 0.7}
            else:
                event = {"split": "train", "step": step, "loss": 1.0 / step,
                         "learning_rate": 1e-3}
                last = step
            fh.write(json.dumps(event) + "\n")
    return rid, last


async def test_a_large_metrics_file_is_read_off_the_ui_thread_and_thinned(
        tmp_path, make_app, monkeypatch):
    root = tmp_path / "runs"
    rid, last = write_big_run(root, 80_000)
    monkeypatch.setattr(detail_screen, "PIECE_BYTES", 256 * 1024)  # several pieces
    painted: list[int] = []
    prebuilt: list[set[str]] = []

    def paint(grid, series, built=None):
        assert threading.current_thread() is threading.main_thread()
        painted.append(len(series.loss))
        prebuilt.append(set(built or ()))

    spy(monkeypatch, PlotGrid, "paint", paint)
    built_on: list[threading.Thread] = []
    spy(monkeypatch, Chart, "build", lambda *_: built_on.append(threading.current_thread()))
    app = make_app(root)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.series.loss and app.screen.series.loss[-1][0] == last,
                       timeout=60)
        screen = app.screen
        assert len(painted) > 2  # the curves so far, then the rest
        assert max(painted) <= 2 * TRAIN_POINTS + 1  # never the file's 80,000 points
        # The run goes on: its new points come with their charts built by the worker, for the
        # size the plots are shown at; the UI thread only shows them.
        built_on.clear()
        with open(root / rid / "metrics.jsonl", "a") as fh:
            for step in range(last + 1, last + 11):
                fh.write(json.dumps({"split": "train", "step": step, "loss": 1.0 / step,
                                     "learning_rate": 1e-3}) + "\n")
        await wait_for(pilot, lambda: screen.series.loss[-1][0] == last + 10, timeout=30)
        await pilot.pause()
        assert prebuilt[-1] == {"plot-loss", "plot-eval", "plot-lr"}
        plots = list(screen.query(MetricPlot))
        assert all(p._built is not None and p._built[0] == p.chart_key for p in plots)
        assert len(built_on) == 3 and threading.main_thread() not in built_on
        assert len(screen.series.eval_acc) == 80  # every evaluation
        t = time.perf_counter()
        await pilot.press("2")
        await pilot.press("1")
        assert time.perf_counter() - t < 5


async def test_catching_up_on_a_large_file_pauses_while_a_key_is_handled(
        tmp_path, make_app, monkeypatch):
    """A key typed while the worker reads a large file has the interpreter to itself: the
    worker reads no further piece until INPUT_QUIET_S after it, then goes on."""
    root = tmp_path / "runs"
    write_big_run(root, 40_000)
    monkeypatch.setattr(detail_screen, "PIECE_BYTES", 16 * 1024)  # ~150 pieces
    monkeypatch.setattr(detail_screen, "INPUT_QUIET_S", 0.5)
    reads: list[float] = []

    def slow_read(*_):
        reads.append(time.monotonic())
        time.sleep(0.005)  # a slow disk: the catch-up lasts about a second

    spy(monkeypatch, MetricsReader, "read_complete", slow_read)
    app = make_app(root)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(reads) >= 5, timeout=30)
        await pilot.press("2")
        typed_at = app.input_at
        assert typed_at > reads[0]
        await wait_for(pilot, lambda: reads[-1] > typed_at + 0.5, timeout=30)
        later = [t for t in reads if t > typed_at]
        assert later and min(later) >= typed_at + 0.5 - 0.01
        assert later[-1] - later[0] > 0  # and it read on after the pause


async def test_a_thousand_classes_show_the_most_confused_pairs(tmp_path, make_app,
                                                               monkeypatch):
    root = tmp_path / "runs"
    write_big_run(root, 100, labels=1000)
    threads: list[threading.Thread] = []
    original = results_view_module.results_view

    def laid_out(results):
        threads.append(threading.current_thread())
        return original(results)

    monkeypatch.setattr(detail_screen, "results_view", laid_out)
    app = make_app(root)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen._results_shown, timeout=60)
        screen = app.screen
        assert threads and all(t is not threading.main_thread() for t in threads)
        from textual.widgets import DataTable

        pairs = screen.query_one("#confused-pairs", DataTable)
        confusion = screen.query_one("#confusion", DataTable)
        assert pairs.display and pairs.row_count == TOP_PAIRS
        assert confusion.row_count == BLOCK_LABELS
        assert len(confusion.columns) == BLOCK_LABELS + 1
        assert screen.query_one("#per-class", DataTable).row_count == 1000
        await pilot.press("4")


async def test_a_few_classes_show_the_whole_matrix(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == 10)
        table.move_cursor(row=table.get_row_index("251120-091500-full-ab2c"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen._results_shown)
        from textual.widgets import DataTable

        assert not app.screen.query_one("#confused-pairs", DataTable).display
        assert app.screen.query_one("#confusion", DataTable).row_count == 6
