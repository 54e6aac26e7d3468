"""Run store: ids, lookup, traversal refusal, atomic status, metric events."""

import json
import re
import threading

import pytest

from emotui.core.errors import ConfigError, RunNotFound
from emotui.core.events import MetricsReader, MetricsWriter, read_all, truncate_after_step
from emotui.core.runstore import RunStore, new_run_id, validate_run_id
from emotui.core.lifecycle import RunState, mark_running
from emotui.core.status import read_status, write_status


def test_run_ids_sort_by_time_and_are_unique():
    ids = {new_run_id("lora", now=1_700_000_000 + i) for i in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"\d{6}-\d{6}-lora-[a-z2-9]{4}", i) for i in ids)
    assert new_run_id("full", now=1) < new_run_id("full", now=100_000)


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", ".hidden", "x" * 200, "UPPER", "a b", ""])
def test_bad_run_ids_are_refused(bad):
    with pytest.raises(ConfigError):
        validate_run_id(bad)


def test_find_by_prefix_and_suffix(tmp_path):
    store = RunStore(tmp_path)
    a = store.create("lora", run_id="261126-083000-lora-abcd")
    b = store.create("full", run_id="261126-093000-full-wxyz")
    for p in (a, b):
        write_status(p, state=RunState.QUEUED)
    assert store.find("wxyz") == b
    assert store.find("261126-08") == a
    with pytest.raises(RunNotFound, match="matches 2 runs"):
        store.find("261126")
    with pytest.raises(RunNotFound, match="no run"):
        store.find("nope")
    with pytest.raises(ConfigError):
        store.find("../../etc")
    assert store.run_ids() == [a.run_id, b.run_id]


def test_status_is_replaced_atomically_and_merged(tmp_path):
    paths = RunStore(tmp_path).create("full")
    write_status(paths, state=RunState.QUEUED, backend="local")
    mark_running(paths)
    status = read_status(paths)
    assert status["state"] == "running" and status["backend"] == "local"
    assert status["starts"] == 1 and status["pid"] > 0
    assert not [p for p in paths.root.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_readers_never_see_half_a_status(tmp_path):
    paths = RunStore(tmp_path).create("full")
    write_status(paths, state=RunState.RUNNING, blob="x" * 10000)
    stop, errors = threading.Event(), []

    def reader():
        while not stop.is_set():
            text = paths.status.read_text()
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(200):
        write_status(paths, step=i)
    stop.set()
    thread.join()
    assert errors == []


def test_metrics_reader_skips_torn_line_until_complete(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsWriter(path) as writer:
        writer.write("train", 1, loss=1.0)
        writer.write("train", 2, loss=float("nan"))
    reader = MetricsReader(path)
    events = reader.poll()
    assert [e["step"] for e in events] == [1, 2]
    assert events[1]["loss"] is None and events[1]["nonfinite"] == ["loss"]
    with open(path, "a") as fh:
        fh.write('{"split": "eval", "step": 3, "accu')
    assert reader.poll() == []
    with open(path, "a") as fh:
        fh.write('racy": 0.5, "time": 0}\n')
    assert reader.poll()[0]["accuracy"] == 0.5


def test_truncate_after_step_restarts_readers(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsWriter(path) as writer:
        for step in range(1, 6):
            writer.write("train", step, loss=1.0 / step)
        writer.write("test", 5, accuracy=0.9)
    reader = MetricsReader(path)
    assert len(reader.poll()) == 6
    truncate_after_step(path, 3)
    events = reader.poll()
    assert reader.restarted
    assert [e["step"] for e in events] == [1, 2, 3]
    assert [e["step"] for e in read_all(path)] == [1, 2, 3]
