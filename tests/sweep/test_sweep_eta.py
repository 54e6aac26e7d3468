"""A sweep's ETA: its trials under way at their own ETA, those still to start at the completed
trials' typical wall time, max_parallel at a time; in `sweep status` and its --json."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from emotui.cli.main import main
from emotui.core.processes import process_identity
from emotui.core.runstore import RunStore, atomic_write_json
from emotui.core.status import write_status
from emotui.sweep.store import SweepStore, create_sweep_dir
from emotui.sweep.summary import summarize_sweep, sweep_eta

SWEEP_ID = "lr-grid"
# (state, wall seconds of a finished trial or elapsed of a running one, its ETA)
TRIALS = [("completed", 100.0, None), ("completed", 120.0, None), ("completed", 110.0, None),
          ("failed", 5.0, None), ("running", 40.0, 30.0)]


def _sweep(tmp_path, *, planned: int = 7, alive: bool = True):
    store = RunStore(tmp_path / "runs")
    store.root.mkdir(parents=True)
    paths = SweepStore(store.root).paths(SWEEP_ID)
    create_sweep_dir(paths, "method: grid\n", {
        "sweep_id": SWEEP_ID, "method": "grid", "planned_total": planned,
        "metric": {"name": "eval/accuracy", "goal": "maximize", "target": None},
        "parameters": {"learning_rate": {"distribution": "categorical",
                                         "values": list(range(planned))}}})
    now = time.time()
    for index, (state, wall, eta) in enumerate(TRIALS):
        run_id = f"261120-10150{index}-lora-ab{index}c"
        run = store.paths(run_id)
        run.root.mkdir()
        times = {"started": now - 1000 + index}
        if state == "running":
            times.update(elapsed_s=wall, eta_s=eta, eta_pace=1.0, position_time=now)
        else:
            times["ended"] = times["started"] + wall
        write_status(run, run_id=run_id, state=state, backend="local", method="lora", **times)
        atomic_write_json(paths.trials / f"{index:05d}.json",
                          {"index": index, "run_id": run_id, "params": {"learning_rate": index}})
    identity = process_identity(os.getpid())
    if not alive:  # a controller killed without a word: its process is gone
        identity["pid"] = 2**22 + 17
    atomic_write_json(paths.controller, {"state": "running", "token": "t", "max_parallel": 2,
                                         "updated": now, **identity})
    return store, paths


def test_the_eta_runs_the_trials_left_at_the_typical_wall_time_two_at_a_time(tmp_path):
    store, paths = _sweep(tmp_path)
    summary = summarize_sweep(paths, store)
    # 2 trials to start at 110 s (the median of the completed), one slot busy 30 s more:
    # 110 on the free slot, the second after the running one: 30 + 110.
    assert summary["eta_s"] == pytest.approx(140.0, abs=1.0)
    assert summary["controller"]["max_parallel"] == 2
    running = next(r for r in summary["rows"] if r["state"] == "running")
    assert running["eta_s"] == pytest.approx(30.0, abs=1.0)


def test_sweep_status_json_and_text_carry_the_eta(tmp_path, capsys):
    store, paths = _sweep(tmp_path)
    assert main(["--runs-dir", str(store.root), "sweep", "status", SWEEP_ID, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["eta_s"] == pytest.approx(140.0, abs=1.0)
    assert main(["--runs-dir", str(store.root), "sweep", "status", SWEEP_ID]) == 0
    assert re.search(r"ETA ~2m(19|20)s", capsys.readouterr().out)  # as the clock ticks


def test_a_sweep_no_controller_drives_has_no_eta(tmp_path):
    store, paths = _sweep(tmp_path, alive=False)
    assert summarize_sweep(paths, store)["eta_s"] is None


def test_before_any_trial_completes_the_running_ones_say_how_long_a_trial_takes():
    rows = [{"state": "running", "wall_s": 60.0, "eta_s": 40.0},
            {"state": "running", "wall_s": 20.0, "eta_s": 80.0}]
    # 100 s a trial; two more after these, two at a time.
    assert sweep_eta(rows, planned=4, parallel=2) == pytest.approx(180.0)
    assert sweep_eta(rows, planned=None, parallel=2) is None  # no planned end
    assert sweep_eta([{"state": "running", "wall_s": 5.0, "eta_s": None}], 3, 1) is None
