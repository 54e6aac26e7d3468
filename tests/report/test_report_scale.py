"""The report over what is large: a thousand classes (a heatmap without a label per cell and the
most confused pairs as a table) and a large metrics file (read a piece at a time).
(Timings and peak memory of `emotui report` at scale: tests/benchmarks/bench_scale.py.)"""

from __future__ import annotations

import json
import math
import random
import tracemalloc
from pathlib import Path

import pytest

from emotui.core import events as ev
from emotui.core.confusion import (
    BLOCK_LABELS,
    TOP_PAIRS,
    block,
    confused_labels,
    labels_for,
    most_confused,
)
from emotui.core.config import build_config, dump_config
from emotui.core.results import empty_results
from emotui.core.runstore import RunStore, atomic_write_json
from emotui.core.status import write_status


def matrix_of(n: int) -> list[list[int]]:
    """Class i is mostly right; confused with i+1 by i % 9 examples (class 8 most, then 17...)."""
    rows = []
    for r in range(n):
        row = [0] * n
        row[r] = 50
        row[(r + 1) % n] = r % 9
        rows.append(row)
    return rows


def test_most_confused_pairs_and_labels():
    matrix = matrix_of(1000)
    names = [f"c{i}" for i in range(1000)]
    pairs = most_confused(matrix, names)
    assert len(pairs) == TOP_PAIRS
    assert all(p.count == 8 for p in pairs)
    assert [p.true for p in pairs[:3]] == ["c8", "c17", "c26"]  # ties: by true label's index
    assert pairs[0].predicted == "c9" and pairs[0].share == pytest.approx(8 / 58)
    chosen = confused_labels(matrix)
    assert len(chosen) == BLOCK_LABELS and chosen == sorted(chosen)
    sub = block(matrix, chosen)
    assert len(sub) == BLOCK_LABELS and all(len(row) == BLOCK_LABELS for row in sub)
    assert labels_for(matrix, ["too", "few"])[:2] == ["0", "1"]
    assert most_confused([[5]], ["only"]) == []


def _plain_most_confused(matrix, names, k=TOP_PAIRS):
    """most_confused cell by cell, as simply as it can be said (what the fast one must equal):
    a cell that is not a finite number counts as none, a row is cut to the matrix's size."""
    def count(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return v if ok else 0

    n, labels = len(matrix), labels_for(matrix, names)
    rows = [[count(v) for v in row][:n] for row in matrix]
    cells = sorted(((v, r, c) for r, row in enumerate(rows) for c, v in enumerate(row)
                    if c != r and v > 0), key=lambda cell: (-cell[0], cell[1], cell[2]))[:k]
    return [(labels[r], labels[c], int(v), v / (sum(rows[r]) or 1)) for v, r, c in cells]


def test_the_fast_readings_equal_the_plain_ones_on_any_matrix():
    rng = random.Random(7)
    for trial in range(200):
        n = rng.choice([1, 2, 3, 7, 31, 45])
        matrix = [[rng.randint(0, rng.choice([1, 3, 40])) for _ in range(n)] for _ in range(n)]
        if trial % 3 == 0 and n > 3:  # a damaged file: other types, a short and a long row
            matrix[0][1], matrix[1][0], matrix[2][0] = True, None, float("nan")
            matrix[1] = matrix[1][:-1]
            matrix[3] = matrix[3] + [99]
        names = [f"c{i}" for i in range(n)]
        got = [(p.true, p.predicted, p.count, p.share) for p in most_confused(matrix, names)]
        assert got == _plain_most_confused(matrix, names), trial
        errors = [0.0] * n
        for r, row in enumerate(matrix):
            for c, v in enumerate(row[:n]):
                if c != r and isinstance(v, int) and not isinstance(v, bool):
                    errors[r] += v
                    errors[c] += v
        plain = sorted(sorted(range(n), key=lambda i: (-errors[i], i))[:BLOCK_LABELS])
        assert confused_labels(matrix) == plain, trial


def write_run(store: RunStore, run_id: str, labels: int, steps: int = 10) -> Path:
    config, _ = build_config([("test", {"method": "lora", "num_train_epochs": 2})])
    paths = store.create("lora", run_id=run_id)
    paths.config.write_text(dump_config(config))
    write_status(paths, state="queued", backend="local", created=1.0)
    with open(paths.metrics, "w") as fh:
        for step in range(1, steps + 1):
            split = "eval" if step % 1000 == 0 else "train"
            fh.write(json.dumps({"time": float(step), "split": split, "step": step,
                                 "epoch": step / 1000, "loss": 1.0 / step,
                                 "learning_rate": 1e-3, "accuracy": 0.8,
                                 "samples_per_second": 100.0}) + "\n")
    results = empty_results(run_id, "lora", config.model_name_or_path)
    names = [f"class{i:04d}" for i in range(labels)]
    results.update(status="completed", best_epoch=2, eval_accuracy=0.81, eval_macro_f1=0.8,
                   test_accuracy=0.8, test_macro_f1=0.79, trainable_params=1000,
                   total_params=100_000, train_runtime_s=60.0, collapsed=False,
                   confusion_matrix=matrix_of(labels), label_names=names,
                   per_class={n: {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 58}
                              for n in names})
    atomic_write_json(paths.results, results)
    write_status(paths, state="completed", started=2.0, ended=70.0)
    return paths.root


def test_a_thousand_classes_draw_a_heatmap_and_list_the_most_confused_pairs(tmp_path,
                                                                             monkeypatch):
    import matplotlib.axes

    from emotui.report.blocks import Figure, Table
    from emotui.report.document import build_report
    from emotui.report.gather import gather

    store = RunStore(tmp_path / "runs")
    write_run(store, "250101-000000-lora-ab12", labels=1000)
    labels: list[int] = []
    original = matplotlib.axes.Axes.text
    monkeypatch.setattr(matplotlib.axes.Axes, "text",
                        lambda self, *a, **k: labels.append(1) or original(self, *a, **k))
    report = build_report(gather(store, []))
    figures = [b for b in report.blocks if isinstance(b, Figure) and "confusion" in b.name]
    assert figures and len(figures[0].svg) < 2_000_000
    assert len(labels) < 100  # titles and axis labels, not a label per cell
    pairs = [b for b in report.blocks if isinstance(b, Table) and "most often confused"
             in b.caption]
    assert pairs and len(pairs[0].rows) == TOP_PAIRS
    assert pairs[0].rows[0][:3] == ["class0008", "class0009", "8"]


def test_a_few_classes_keep_a_number_per_cell(tmp_path):
    from emotui.report.blocks import Table
    from emotui.report.document import build_report
    from emotui.report.gather import gather

    store = RunStore(tmp_path / "runs")
    write_run(store, "250101-000000-lora-ab12", labels=6)
    report = build_report(gather(store, []))
    assert not [b for b in report.blocks if isinstance(b, Table)
                and "most often confused" in b.caption]


def test_the_report_reads_a_large_metrics_file_a_piece_at_a_time(tmp_path, monkeypatch):
    from emotui.report.gather import gather

    monkeypatch.setattr(ev, "CHUNK_BYTES", 2**20)
    store = RunStore(tmp_path / "runs")
    root = write_run(store, "250101-000000-lora-ab12", labels=6, steps=100_000)
    size = (root / "metrics.jsonl").stat().st_size
    assert size > 15 * 2**20
    run = gather(store, []).runs[0]
    tracemalloc.start()
    curve = run.eval_curve()
    collapsed = run.collapsed
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(curve) == 100 and collapsed is False
    assert peak < 4 * 2**20, (peak, size)
