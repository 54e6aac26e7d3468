"""The run index (core.runindex): derived from the run directories, versioned, rebuilt entry by
entry when it disagrees with them, and a listing of unchanged finished runs reads none of their
files. (How fast a listing of 100,000 runs is: tests/benchmarks/bench_scale.py.)"""

from __future__ import annotations

import json
import os
import threading
import tracemalloc

import pytest
from core.corrupt_store import build_corrupt_store, write_good_run

from emotui.core import runindex
from emotui.core.compactrow import CompactRow
from emotui.core.results import summarize
from emotui.core.runindex import RunIndex, index_path, store_rows
from emotui.core.runstore import RunStore
from emotui.core.schema import INDEX_SCHEMA
from emotui.core.status import write_status


def rows_now(root) -> list[dict]:
    """What `emotui ls` lists, read from every run's files (no index)."""
    return [summarize(p) for p in RunStore(root)]


@pytest.fixture
def store(tmp_path):
    return build_corrupt_store(tmp_path / "runs")


def test_rows_from_the_index_are_the_rows_read_from_the_files(store):
    first = store_rows(store.root)
    second = store_rows(store.root)  # from the index
    assert first == second == rows_now(store.root)
    assert index_path(store.root).exists()
    unreadable = {r["run_id"] for r in second if r["status"] == "unreadable"}
    assert {d.run_id for d in store.damaged if d.file in ("status.json", "results.json",
                                                          "config.yaml")} <= unreadable


def test_a_second_listing_reads_no_finished_run(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    ids = [write_good_run(RunStore(root), f"250101-0000{i:02d}-lora-ab{i:02d}").run_id
           for i in range(12)]
    reads: list[str] = []
    original = runindex.listing_row
    monkeypatch.setattr(RunIndex, "__init__", _counting_init(reads, original))
    store_rows(root)
    assert sorted(reads) == sorted(ids)
    reads.clear()
    store_rows(root)
    assert reads == []


def _counting_init(reads, original):
    init = RunIndex.__init__

    def __init__(self, root, cache_dir=None, *, compact=False, read_row=original):
        def counting(paths):
            reads.append(paths.run_id)
            return read_row(paths)
        init(self, root, cache_dir, compact=compact, read_row=counting)

    return __init__


@pytest.mark.parametrize("change", ["replaced", "edited_in_place", "results_added",
                                    "config_edited"])
def test_a_run_whose_files_changed_is_read_again(tmp_path, monkeypatch, change):
    root = tmp_path / "runs"
    paths = write_good_run(RunStore(root), "250101-000000-lora-ab12")
    write_good_run(RunStore(root), "250101-000100-lora-cd34")
    store_rows(root)
    reads: list[str] = []
    monkeypatch.setattr(RunIndex, "__init__", _counting_init(reads, runindex.listing_row))
    if change == "replaced":
        write_status(paths, reason="edited")  # atomic replace: a new inode
    elif change == "edited_in_place":
        status = json.loads(paths.status.read_text())
        status["reason"] = "by hand"
        paths.status.write_text(json.dumps(status))
    elif change == "results_added":
        results = json.loads(paths.results.read_text())
        results["test_accuracy"] = 0.5
        paths.results.write_text(json.dumps(results) + " " * 7)
    else:
        paths.config.write_text(paths.config.read_text().replace("\nseed: 7\n", "\nseed: 8\n"))
    rows = store_rows(root)
    assert reads == [paths.run_id]
    assert rows == rows_now(root)
    if change == "config_edited":
        assert rows[0]["seed"] == 8


def test_an_in_place_rewrite_of_the_same_size_is_seen(tmp_path):
    root = tmp_path / "runs"
    paths = write_good_run(RunStore(root), "250101-000000-lora-ab12")
    assert store_rows(root)[0]["status"] == "completed"
    before = os.stat(paths.status)
    text = paths.status.read_text()
    paths.status.write_text(text.replace('"completed"', '"cancelled"'))  # same size, inode
    os.utime(paths.status, ns=(before.st_atime_ns, before.st_mtime_ns + 1000))
    assert os.stat(paths.status).st_size == before.st_size
    assert store_rows(root)[0]["status"] == "cancelled"


def test_runs_added_and_removed(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    write_good_run(store, "250101-000000-lora-ab12")
    gone = write_good_run(store, "250101-000100-lora-cd34")
    store_rows(root)
    store.delete(gone.run_id)
    write_good_run(store, "250101-000200-full-ef56")
    rows = store_rows(root)
    assert [r["run_id"] for r in rows] == ["250101-000000-lora-ab12", "250101-000200-full-ef56"]
    index = RunIndex(root)
    index.load()
    assert gone.run_id not in index._entries


@pytest.mark.parametrize("content", [
    b"garbage\n\x00\xff",
    json.dumps({"schema_version": INDEX_SCHEMA + 1, "root": "x", "shapes": []}).encode() + b"\n",
    b"",
])
def test_an_index_of_another_version_or_broken_is_rebuilt(tmp_path, content):
    root = tmp_path / "runs"
    write_good_run(RunStore(root), "250101-000000-lora-ab12")
    path = index_path(root.absolute())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    assert store_rows(root) == rows_now(root)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["schema_version"] == INDEX_SCHEMA and header["root"] == str(root.absolute())


def test_an_index_written_by_other_code_is_rebuilt(tmp_path, monkeypatch):
    """An emotui that reads rows otherwise (an upgrade that adds a column) never serves the
    rows an older one kept: the index is keyed on the code that computed them."""
    root = tmp_path / "runs"
    write_good_run(RunStore(root), "250101-000000-lora-ab12")
    store_rows(root)
    reads: list[str] = []
    monkeypatch.setattr(RunIndex, "__init__", _counting_init(reads, runindex.listing_row))
    store_rows(root)
    assert reads == []
    monkeypatch.setattr(runindex, "_CODE_STAMP", "another emotui")
    assert store_rows(root) == rows_now(root)
    assert len(reads) == 1
    header = json.loads(index_path(root.absolute()).read_text().splitlines()[0])
    assert header["code"] == "another emotui"


def test_a_broken_line_costs_only_its_run(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    for i in range(3):
        write_good_run(RunStore(root), f"250101-0000{i:02d}-lora-ab{i:02d}")
    store_rows(root)
    path = index_path(root.absolute())
    lines = path.read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]  # torn
    path.write_text("\n".join(lines) + "\n")
    reads: list[str] = []
    monkeypatch.setattr(RunIndex, "__init__", _counting_init(reads, runindex.listing_row))
    assert store_rows(root) == rows_now(root)
    assert len(reads) == 1


def test_only_finished_runs_are_kept_and_only_others_are_refreshed(tmp_path):
    root = tmp_path / "runs"
    store = RunStore(root)
    done = write_good_run(store, "250101-000000-lora-ab12")
    active = write_good_run(store, "250101-000100-lora-cd34")
    write_status(active, state="running")
    asked: list[list[str]] = []
    store_rows(root, refresh=lambda runs: asked.append([p.run_id for p in runs]))
    assert asked == [[done.run_id, active.run_id]]  # nothing known yet
    asked.clear()
    rows = store_rows(root, refresh=lambda runs: asked.append([p.run_id for p in runs]))
    assert asked == [[active.run_id]]
    assert [r["status"] for r in rows] == ["completed", "running"]
    index = RunIndex(root)
    index.load()
    assert set(index._entries) == {done.run_id}
    # A finished run resumed by hand (its status replaced): asked again, not trusted.
    write_status(done, state="queued")
    asked.clear()
    store_rows(root, refresh=lambda runs: asked.append([p.run_id for p in runs]))
    assert sorted(asked[0]) == sorted([done.run_id, active.run_id])


def test_what_a_backend_records_during_the_refresh_is_listed(tmp_path):
    root = tmp_path / "runs"
    active = write_good_run(RunStore(root), "250101-000100-lora-cd34")
    write_status(active, state="running")

    def ended(runs):
        for paths in runs:
            write_status(paths, state="failed", reason="process gone")

    rows = store_rows(root, refresh=ended)
    assert rows[0]["status"] == "failed" and rows[0]["reason"] == "process gone"


def test_still_stopping_is_asked_live(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    paths = write_good_run(RunStore(root), "250101-000000-lora-ab12")
    store_rows(root)
    from emotui.core import results

    monkeypatch.setattr(results, "still_stopping", lambda p: True)
    assert not store_rows(root)[0].get("still_stopping")  # no claim.json: nothing asked
    paths.claim.write_text("{}")
    assert store_rows(root)[0]["still_stopping"] is True
    index = RunIndex(root)
    index.load()
    assert "still_stopping" not in index._entries[paths.run_id][1]


def test_writers_replace_the_index_whole(tmp_path):
    """Two processes (two RunIndex objects) listing at once: each writes a complete index to
    its own temporary and renames it; a reader sees one or the other, never a mix."""
    root = tmp_path / "runs"
    for i in range(40):
        write_good_run(RunStore(root), f"250101-0000{i:02d}-lora-ab{i:02d}")
    errors: list[BaseException] = []

    def lister():
        try:
            for _ in range(5):
                assert len(store_rows(root)) == 40
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=lister) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    index = RunIndex(root)
    index.load()
    assert len(index) == 40 and not index._dirty
    assert not [p for p in index_path(root.absolute()).parent.iterdir() if p.suffix == ".tmp"]


def test_the_index_never_writes_in_the_store(tmp_path):
    root = tmp_path / "runs"
    write_good_run(RunStore(root), "250101-000000-lora-ab12")
    before = sorted(str(p) for p in root.rglob("*"))
    store_rows(root)
    store_rows(root)
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_compact_rows_read_like_dicts_and_cost_a_fraction(store):
    rows = rows_now(store.root)
    compact = [CompactRow.of(r) for r in rows]
    for row, small in zip(rows, compact):
        assert dict(small) == row and small == row
        assert small.get("status") == row["status"] and "run_id" in small
        assert small.get("nope", 3) == 3 and list(small) == list(row)
    many = [dict(rows[0], run_id=f"run-{i:06d}", created=float(i)) for i in range(3000)]
    tracemalloc.start()
    kept = [dict(r) for r in many]
    as_dicts = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    tracemalloc.start()
    kept = [CompactRow.of(r) for r in many]
    as_compact = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert as_compact < as_dicts / 2, (as_compact, as_dicts)


def test_ls_lists_from_the_index(tmp_path, capsys):
    from emotui.cli.main import main

    root = tmp_path / "runs"
    write_good_run(RunStore(root), "250101-000000-lora-ab12")
    write_good_run(RunStore(root), "250101-000100-full-cd34", method="full")
    assert main(["--runs-dir", str(root), "ls", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["--runs-dir", str(root), "ls", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    for rows in (first, second):
        for row in rows:
            row.pop("position_time", None)
    assert first == second and [r["run_id"] for r in first] == [
        "250101-000000-lora-ab12", "250101-000100-full-cd34"]
    assert not set(runindex.EXTRA_KEYS) & set(first[0])


def test_compare_csv_reads_no_config_from_an_indexed_store(tmp_path, capsys, monkeypatch):
    from emotui.cli.main import main
    from emotui.core import runview

    root = tmp_path / "runs"
    write_good_run(RunStore(root), "250101-000000-lora-ab12")
    write_good_run(RunStore(root), "250101-000100-full-cd34", method="full")
    assert main(["--runs-dir", str(root), "compare", "--format", "csv"]) == 0
    first = capsys.readouterr().out
    read: list[str] = []
    original = runview.read_yaml_object
    monkeypatch.setattr(runview, "read_yaml_object",
                        lambda path: read.append(str(path)) or original(path))
    assert main(["--runs-dir", str(root), "compare", "--format", "csv"]) == 0
    assert capsys.readouterr().out == first
    assert read == []


def test_index_lines_are_parsed_in_batches_a_broken_line_costing_only_itself(monkeypatch):
    monkeypatch.setattr(runindex, "_LINES_PER_PARSE", 100)
    lines, expected = [], []
    for i in range(450):
        if i == 120:
            lines.append(b'["r120", "s", 0, \n')  # torn: its own entry is None
            expected.append(None)
        elif i == 200:
            lines += [b"\n"] * 150  # blank lines, a whole batch of them: no entries
        else:
            lines.append(json.dumps([f"r{i}", "s", 0, i]).encode() + b"\n")
            expected.append(i)
    entries = list(runindex._entries_of(iter(lines)))
    assert [e if e is None else e[3] for e in entries] == expected
