"""One collapse flag, from core.results.row_collapsed, in every table and export: `ls` (terminal
and piped), `compare` (terminal, CSV, TSV, JSON), `sweep status`; a collapsed trial is never the
sweep's "best" while a healthy one exists, and one flagged at its last step was not stopped
early."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from emotui.core.config import build_config, dump_config
from emotui.core.results import COLLAPSE_REASON_PREFIX, empty_results, row_collapsed, shown_state
from emotui.core.runstore import RunStore, atomic_write_json, atomic_write_text
from emotui.core.status import write_status
from emotui.sweep.store import SweepStore, create_sweep_dir

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SWEEP_ID = "collapse-sweep-q7r2"
HEALTHY = "261120-091500-lora-ok11"
FLAGGED = "261120-101500-lora-nan2"  # results.json's verdict, at a better metric than HEALTHY
SENTINEL = "261120-111500-lora-sen3"  # the sentinel's reason at its last step
# run id -> (eval accuracy, results' collapsed, status extra)
RUNS = {
    HEALTHY: (0.81, False, {}),
    FLAGGED: (0.95, True, {}),
    SENTINEL: (0.35, None, {"reason": f"{COLLAPSE_REASON_PREFIX} loss is NaN at step 40; "
                            "stopped", "step": 40, "total_steps": 40}),
}


@pytest.fixture
def store(cli):
    store = RunStore(cli.runs_dir)
    store.root.mkdir(parents=True)
    for index, (run_id, (accuracy, collapsed, extra)) in enumerate(RUNS.items()):
        config, _ = build_config([("test", {"method": "lora", "model_name_or_path": "m/x",
                                            "learning_rate": 1e-3 * (index + 1)})])
        paths = store.paths(run_id)
        paths.root.mkdir()
        atomic_write_text(paths.config, dump_config(config))
        write_status(paths, run_id=run_id, state="completed", backend="local", method="lora",
                     created=1.0e9, started=1.0e9 + 1, ended=1.0e9 + 100, sweep_id=SWEEP_ID,
                     **extra)
        record = empty_results(run_id, "lora", "m/x")
        record.update(status="completed", eval_accuracy=accuracy, test_accuracy=accuracy,
                      collapsed=collapsed)
        atomic_write_json(paths.results, record)
    paths = SweepStore(store.root).paths(SWEEP_ID)
    create_sweep_dir(paths, "method: grid\n", {
        "sweep_id": SWEEP_ID, "method": "grid", "planned_total": 3,
        "metric": {"name": "eval/accuracy", "goal": "maximize", "target": None},
        "parameters": {"learning_rate": {"distribution": "categorical",
                                         "values": [1e-3, 2e-3, 3e-3]}}})
    for index, run_id in enumerate(RUNS):
        atomic_write_json(paths.trials / f"{index:05d}.json",
                          {"index": index, "run_id": run_id,
                           "params": {"learning_rate": 1e-3 * (index + 1)}})
    return store


def tsv_rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t"))


def test_the_one_rule():
    assert row_collapsed({"status": "completed", "collapsed": True})
    assert row_collapsed({"status": "completed", "reason": f"{COLLAPSE_REASON_PREFIX} x"})
    assert not row_collapsed({"status": "failed", "collapsed": True})
    assert shown_state({"status": "completed", "collapsed": True}) == "collapsed"
    assert shown_state({"status": "completed", "collapsed": False}) == "completed"


@pytest.mark.parametrize("width", [160, 80])
def test_ls_state_column_says_collapsed(cli, store, monkeypatch, width):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", str(width))
    out = ANSI.sub("", cli("ls").out)
    states = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]
              if line[:6].isdigit()}
    assert states == {HEALTHY: "completed", FLAGGED: "collapsed", SENTINEL: "collapsed"}


def test_ls_piped_has_a_collapsed_column(cli, store):
    rows = {r["run_id"]: r for r in tsv_rows(cli("ls").out)}
    assert rows[HEALTHY]["status"] == rows[FLAGGED]["status"] == "completed"
    assert [rows[r]["collapsed"] for r in RUNS] == ["false", "true", "true"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json"])
def test_compare_files_have_a_collapsed_column(cli, store, fmt):
    out = cli("compare", "--format", fmt).out
    if fmt == "json":
        rows = {r["run_id"]: r["collapsed"] for r in json.loads(out)}
        assert rows == {HEALTHY: False, FLAGGED: True, SENTINEL: True}
        return
    reader = csv.DictReader(io.StringIO(out), delimiter="," if fmt == "csv" else "\t")
    assert {r["run_id"]: r["collapsed"] for r in reader} == {
        HEALTHY: "false", FLAGGED: "true", SENTINEL: "true"}


def test_compare_terminal_state_says_collapsed(cli, store, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "160")
    out = ANSI.sub("", cli("compare").out)
    line = next(line for line in out.splitlines() if FLAGGED in line)
    assert "collapsed" in line and "true" not in line


def test_sweep_status_never_calls_a_collapsed_trial_best(cli, store):
    summary = json.loads(cli("sweep", "status", SWEEP_ID, "--json").out)
    assert summary["best"]["run_id"] == HEALTHY  # not FLAGGED, whose metric is higher
    by_run = {r["run_id"]: r for r in summary["rows"]}
    # Flagged at its last step: it ran in full, so it competes (and loses) as collapsed.
    assert by_run[SENTINEL]["collapsed"] and not by_run[SENTINEL]["early_stopped"]
    piped = cli("sweep", "status", SWEEP_ID).out
    assert f"# best: trial 0  {HEALTHY}" in piped
    states = {r["run_id"]: r["state"] for r in tsv_rows(piped)}
    assert states == {HEALTHY: "completed", FLAGGED: "collapsed", SENTINEL: "collapsed"}
    assert "early-stopped" not in piped and "stopped by the collapse sentinel" not in piped
    listed = tsv_rows(cli("sweep", "ls").out)
    assert listed[0]["best_run"] == HEALTHY
