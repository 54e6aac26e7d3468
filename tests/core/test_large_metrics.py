"""A large metrics.jsonl: read a piece at a time, parsed only where needed, held thinned.
(How long a 200 MB file takes: tests/benchmarks/bench_scale.py; memory is checked here.)"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from emotui.core import events as ev
from emotui.core.events import FileFollower, iter_lines, read_all, summary_events
from emotui.tui.widgets.plots import TRAIN_POINTS, MetricSeries


def write_metrics(path: Path, steps: int, *, eval_every: int = 500, system_every: int = 47,
                  nonfinite_at: int | None = None) -> Path:
    lines = []
    for step in range(1, steps + 1):
        if step % system_every == 0:
            event = {"time": step, "split": "system", "step": step, "cpu_percent": 50.0}
        elif step % eval_every == 0:
            event = {"time": step, "split": "eval", "step": step, "epoch": step / eval_every,
                     "loss": 0.3, "accuracy": 0.5 + step / (4 * steps), "macro_f1": 0.4}
        else:
            event = {"time": step, "split": "train", "step": step, "epoch": step / eval_every,
                     "loss": 2.0 / step, "learning_rate": 1e-3, "samples_per_second": 100.0}
            if step == nonfinite_at:
                event.update(loss=None, nonfinite=["loss"])
        lines.append(json.dumps(event))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pieces_end_on_whole_lines_and_add_up_to_the_file(tmp_path):
    path = write_metrics(tmp_path / "metrics.jsonl", 3000)
    reader = FileFollower(path)
    pieces = []
    while True:
        chunk = reader.read_complete(10_000)
        pieces.append(chunk)
        assert not chunk or chunk.endswith(b"\n")
        if not reader.more:
            break
    assert len(pieces) > 10
    assert b"".join(pieces) == path.read_bytes()
    assert list(iter_lines(path, 7_000)) == path.read_bytes().splitlines()


def test_a_torn_last_line_waits_for_its_newline(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"split": "train", "step": 1}\n{"split": "tr')
    reader = FileFollower(path)
    assert reader.read_complete(8) == b'{"split": "train", "step": 1}\n'
    assert reader.read_complete(8) == b"" and not reader.more
    with open(path, "ab") as fh:
        fh.write(b'ain", "step": 2}\n')
    assert reader.read_complete(8) == b'{"split": "train", "step": 2}\n'


def test_summary_events_are_the_evaluations_flags_and_the_last_train_event(tmp_path):
    path = write_metrics(tmp_path / "metrics.jsonl", 5000, nonfinite_at=1234)
    everything = read_all(path)
    expected = [e for e in everything if e["split"] in ("eval", "test") or e.get("nonfinite")]
    last_train = [e for e in everything if e["split"] == "train"][-1]
    got = summary_events(path)
    assert [e for e in got if e != last_train] == expected
    assert got.count(last_train) == 1
    # What readers of a run's outcome ask of them is unchanged.
    from emotui.sweep.metric import Metric
    from emotui.sweep.summary import is_collapsed

    for name in ("eval/accuracy", "train/loss"):
        metric = Metric.parse({"name": name, "goal": "maximize"}, "test")
        assert metric.final_value(None, got) == metric.final_value(None, everything)
    assert is_collapsed({}, got) is is_collapsed({}, everything) is True


def test_summary_events_hold_a_few_pieces_whatever_the_file_size(tmp_path, monkeypatch):
    """What summary_events holds at its peak is a few read pieces (CHUNK_BYTES, 1 MB here),
    not the file (read_all holds several times the file); the report and a sweep's table
    read metrics through it."""
    monkeypatch.setattr(ev, "CHUNK_BYTES", 2**20)
    path = write_metrics(tmp_path / "metrics.jsonl", 120_000)
    size = path.stat().st_size
    assert size > 15 * 2**20
    tracemalloc.start()
    got = summary_events(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(got) == len([s for s in range(1, 120_001) if s % 500 == 0 and s % 47]) + 1
    assert peak < 4 * 2**20, (peak, size)


def test_series_thin_training_points_and_keep_every_evaluation(tmp_path, monkeypatch):
    steps = 200_000
    path = write_metrics(tmp_path / "metrics.jsonl", steps, eval_every=1000)
    parsed = []
    original = ev.parse_line
    monkeypatch.setattr(ev, "parse_line", lambda line: parsed.append(1) or original(line))
    series = MetricSeries()
    for chunk_lines in _pieces(path, 2**20):
        series.add_lines(chunk_lines)
    train_steps = [s for s in range(1, steps + 1) if s % 47 and s % 1000]
    assert len(series.loss) <= 2 * TRAIN_POINTS + 1
    assert len(series.loss) > TRAIN_POINTS // 2
    assert series.loss[0][0] == 1 and series.loss[-1][0] == train_steps[-1]
    assert series.last_train["step"] == train_steps[-1]
    assert len(series.eval_acc) == len([s for s in range(1, steps + 1)
                                        if s % 1000 == 0 and s % 47])
    assert len(series.system) <= 300
    assert len(parsed) < len(train_steps) / 10  # most training lines are never parsed
    xs = [x for x, _ in series.loss]
    assert xs == sorted(xs)


def test_series_from_events_and_from_lines_agree(tmp_path):
    path = write_metrics(tmp_path / "metrics.jsonl", 30_000, eval_every=700)
    by_lines, by_events = MetricSeries(train_points=200), MetricSeries(train_points=200)
    by_lines.add_lines(path.read_bytes().splitlines())
    by_events.add(read_all(path))
    assert by_lines.loss == by_events.loss and by_lines.eval_acc == by_events.eval_acc
    assert by_lines.last_train == by_events.last_train


def _pieces(path: Path, size: int):
    reader = FileFollower(path)
    while True:
        chunk = reader.read_complete(size)
        yield chunk.splitlines()
        if not reader.more:
            return
