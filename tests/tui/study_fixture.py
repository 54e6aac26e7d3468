"""Studies for the TUI tests, snapshots and screenshots: one study in each phase, written the way
emotui.study writes them (create_study_dir, its sweeps opened and saved as the controller opens
them, trial records through sweep.store, winners through study.select, test results through
study.outcome), with every time fixed relative to FROZEN_NOW.

A live study's controller.json and its running runs' heartbeats are dated far in the future, so
they read as alive whatever the machine's clock says (a snapshot must not age): a time in the
future is judged by change (core.clock), so a process reads them as alive for the first minute
it watches them unchanged, then as gone; a test that needs them alive reads a store of its own.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml
from fixture_store import FROZEN_NOW, STEPS_PER_EPOCH, _write_metrics, _write_results

from emotui.core.config import dump_config
from emotui.core.methods import get as method_spec
from emotui.core.runstore import RunStore, atomic_write_json, atomic_write_text
from emotui.core.status import write_status
from emotui.study.outcome import test_results
from emotui.study.select import pick_winner, search_rows
from emotui.study.store import PHASES, StudyStore, create_study_dir
from emotui.study.study_file import load_study
from emotui.sweep.planner import swept_values
from emotui.sweep.runner import open_sweep, save_sweep
from emotui.sweep.space import grid_point
from emotui.sweep.store import write_trial

FAR_FUTURE = 4102444800.0  # 2100-01-01: a heartbeat that never goes stale
SHOWCASE = "emotion-study"  # in its confirm phase: the study screen's snapshots
DONE = "emotion-study-final"

# The showcase: four methods, a budget that stopped LoRA's search, a trial that collapsed.
SHOWCASE_FILE = """\
name: emotion-study
model: roberta-base
data: dair-ai/emotion
fixed:
  num_train_epochs: 5
  per_device_train_batch_size: 64
methods:
  full:
    parameters:
      learning_rate: {values: [2.0e-5, 5.0e-5]}
  lora:
    parameters:
      learning_rate: {values: [5.0e-4, 1.0e-3, 3.0e-3, 1.0e-2]}
      lora_r: {value: 8}
  ia3:
    parameters:
      learning_rate: {values: [3.0e-3, 1.0e-2]}
  prompt-text:
    parameters:
      learning_rate: {values: [3.0e-2]}
select: {metric: eval/accuracy}
confirm: {seeds: [1, 2, 3]}
budget: {gpu_hours: 2, wall_time: 45m}
"""
# A smaller study for each of the other phases.
SMALL_FILE = """\
name: {name}
model: roberta-base
data: dair-ai/emotion
fixed: {{num_train_epochs: 5}}
methods:
  full:
    parameters:
      learning_rate: {{values: [2.0e-5, 5.0e-5]}}
  lora:
    parameters:
      learning_rate: {{values: [1.0e-3, 3.0e-3]}}
select: {{metric: eval/accuracy}}
confirm: {{seeds: [1, 2]}}
"""
# Validation accuracy of each search trial (by method, in grid order); None: still running.
SEARCH_ACC = {"full": [0.9312, 0.9105], "lora": [0.9188, 0.9254, 0.352, 0.901],
              "ia3": [0.8702, 0.8841], "prompt_tuning_text": [0.6410]}
CONFIRM_ACC = {"full": [0.9285, 0.9301, 0.9262], "lora": [0.9230, 0.9248, 0.9219],
               "ia3": [0.8810, 0.8795, 0.8832], "prompt_tuning_text": [0.6350, 0.6402, 0.6288]}
RUN_S = 280.0
LETTERS = "abcdefghjk"  # a study's runs end in its letter and a number: 251123-...-lora-c004

# study id -> (its phase, the method whose part of that phase is under way)
STUDIES = {
    "study-a-search": ("search", "lora"),
    "study-b-select": ("select", None),
    SHOWCASE: ("confirm", "lora"),
    "study-d-test": ("test", None),
    "study-e-report": ("report", None),
    "study-f-export": ("export", None),
    DONE: ("done", None),
}


class _Clock:
    """Run ids and times: one run after another, each RUN_S long, ending before FROZEN_NOW."""

    def __init__(self, start: float, letter: str):
        self.at = start
        self.letter = letter
        self.count = 0

    def next_run(self, method: str) -> tuple[str, float]:
        self.count += 1
        started = self.at
        self.at += RUN_S + 20
        stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime(started))
        return f"{stamp}-{method_spec(method).tag}-{self.letter}{self.count:03d}", started


def _write_run(store: RunStore, run_id: str, config: Any, state: str, accuracy: float | None,
               started: float, sweep_id: str, trial: int, seed: int) -> None:
    paths = store.create(config.method, run_id=run_id)
    paths.config.write_text(dump_config(config), encoding="utf-8")
    epochs = 5 if state == "completed" else 2.25
    status: dict[str, Any] = {
        "state": state, "created": started - 10, "started": started, "backend": "slurm",
        "job_id": str(9000 + seed), "host": "gpu-node-7", "sweep_id": sweep_id,
        "sweep_trial": trial, "starts": 1, "epoch": epochs, "progress": epochs / 5,
        "total_steps": 5 * STEPS_PER_EPOCH}
    if state == "completed":
        status["ended"] = started + RUN_S
    else:  # running: a position written ten seconds before "now"
        status.update(phase="training", eta_s=RUN_S / 2, elapsed_s=RUN_S / 2,
                      position_time=FROZEN_NOW - 10.0, step=int(epochs * STEPS_PER_EPOCH))
    write_status(paths, **status)
    _write_metrics(paths, epochs, accuracy, seed, started,
                   collapsed=accuracy is not None and accuracy < 0.5)
    atomic_write_text(paths.stdout, "epoch 1: eval accuracy 0.8100\n")
    atomic_write_text(paths.stderr, "")
    if state == "completed":
        _write_results(paths, config.method, accuracy, collapsed=accuracy < 0.5)
        data = json.loads(paths.results.read_text())
        data.update(eval_accuracy=accuracy, test_accuracy=round(accuracy - 0.003, 4),
                    device="cuda:0")
        atomic_write_json(paths.results, data)
    else:
        paths.heartbeat.touch()
        os.utime(paths.heartbeat, (FAR_FUTURE, FAR_FUTURE))


def _open(paths: Any, store: RunStore, sweep_id: str, sweep: dict[str, Any]):
    """The sweep as the study's controller opens it (study.controller._open)."""
    file = paths.sweep_file(sweep_id)
    atomic_write_text(file, yaml.safe_dump(sweep, sort_keys=False))
    spec, sweep_paths, _ = open_sweep(file, [], store, name=sweep_id)
    save_sweep(spec, sweep_paths, file, [])
    return spec, sweep_paths


def _trials(store: RunStore, clock: _Clock, spec: Any, sweep_paths: Any, outcomes: list,
            seeds: list[int] | None = None) -> None:
    """One trial per outcome (an accuracy, or None: running), as the sweep controller records
    them: planned, its run made, its end written back."""
    for index, accuracy in enumerate(outcomes):
        values = grid_point(spec, index)
        config, _ = spec.trial_config(values)
        run_id, started = clock.next_run(config.method)
        record = {"index": index, "params": swept_values(spec, values), "run_id": run_id,
                  "optuna_number": None, "created": started - 10}
        state = "running" if accuracy is None else "completed"
        _write_run(store, run_id, config, state, accuracy, started, sweep_paths.sweep_id, index,
                   (seeds or [23])[index % len(seeds or [23])])
        if accuracy is not None:
            record.update(state="completed", value=accuracy, early_stopped=False)
        write_trial(sweep_paths, record)


def write_study(root: Path, study_id: str, phase: str, current: str | None,
                letter: str) -> None:
    """A study stopped in ``phase`` (``current``: the method whose part of it is under way;
    "done": finished), written under the run store ``root``."""
    store = RunStore(root)
    text = SHOWCASE_FILE if study_id == SHOWCASE else SMALL_FILE.format(name=study_id)
    source = root.parent / f"{study_id}.yaml"
    source.write_text(text, encoding="utf-8")
    spec = load_study([str(source)])
    spec.source = f"{study_id}.yaml"  # as given on the command line, not a temporary path
    paths = StudyStore(root).paths(study_id)
    create_study_dir(paths, {**spec.to_json(), "fingerprint": spec.fingerprint()}, [source],
                     list(spec.methods))
    state = yaml.safe_load(paths.state.read_text())
    at = len(PHASES) if phase == "done" else PHASES.index(phase)
    clock = _Clock(FROZEN_NOW - 6 * 3600 + 600 * LETTERS.index(letter), letter)
    start = clock.at
    names = list(spec.methods)
    ongoing = names.index(current) if current in names else len(names)
    showcase = study_id == SHOWCASE

    def reached(part: str) -> bool:
        return at > PHASES.index(part)

    # search
    for n, method in enumerate(names):
        record = state["methods"][method]
        if not reached("search") and n > ongoing:
            continue
        search = spec.methods[method]
        sweep_spec, sweep_paths = _open(paths, store, record["search"]["sweep_id"], search.sweep)
        accs = SEARCH_ACC[method][:sweep_spec.planned_total()]
        stopped = showcase and method == "lora"  # the budget stopped it after three trials
        if stopped:
            accs = accs[:3]
        if not reached("search") and n == ongoing:
            accs = accs[:1] + [None]
        _trials(store, clock, sweep_spec, sweep_paths, accs)
        done = reached("search") or n < ongoing
        record["search"].update(state=("stopped" if stopped else "finished") if done
                                else "running", planned=sweep_spec.planned_total(),
                                started=clock.at - RUN_S * len(accs), trials=len(accs),
                                wall_s=RUN_S * len(accs))
        if done:
            record["search"].update(ended=clock.at, ending="stopped" if stopped else "done")
        if stopped:
            state["budget"]["exhausted"] = True
            state["notes"].append({"time": clock.at, "text": (
                "budget: search of lora stopped after 3 of 4 trials (lora's share of the "
                "wall-time budget, 11m15s, is spent (14m00s)); 2 methods left to search, then "
                "confirm goes on with what search found")})
    state["budget"]["wall_s"] = sum(float(r["search"].get("wall_s") or 0)
                                    for r in state["methods"].values())
    # select
    if reached("select"):
        for method, search in spec.methods.items():
            rows = search_rows(store_sweep(store, state, method, "search"), store, spec.metric)
            winner = pick_winner(rows, spec.metric)
            state["methods"][method]["winner"] = {
                **winner.to_json(), "metric": spec.metric.name,
                "values": search.spec.parameter_values(winner.params)}
            state["methods"][method]["select"] = None
    # confirm
    if reached("select") and (at >= PHASES.index("confirm")):
        for n, method in enumerate(names):
            record = state["methods"][method]
            if not reached("confirm") and n > ongoing:
                continue
            sweep = spec.confirm_sweep(method, record["winner"]["values"])
            confirm_spec, sweep_paths = _open(paths, store, record["confirm"]["sweep_id"], sweep)
            accs = CONFIRM_ACC[method][:len(spec.confirm_seeds)]
            if not reached("confirm") and n == ongoing:
                accs = accs[:1] + [None]
            _trials(store, clock, confirm_spec, sweep_paths, accs, spec.confirm_seeds)
            done = reached("confirm") or n < ongoing
            record["confirm"].update(state="finished" if done else "running",
                                     planned=confirm_spec.planned_total(),
                                     started=clock.at - RUN_S * len(accs))
            if done:
                record["confirm"].update(ended=clock.at, ending="done", trials=len(accs))
    # test, report, export
    if reached("test"):
        for method in names:
            sweep_paths = store_sweep(store, state, method, "confirm")
            runs = [r["run_id"] for r in search_rows(sweep_paths, store, spec.metric)]
            state["methods"][method]["test"] = test_results(store, runs, "eval_accuracy",
                                                            source="confirm")
    if reached("report"):
        paths.report.mkdir(exist_ok=True)
        files = []
        for name in ("report.html", "report.md", "report.pdf", "report.typ"):
            atomic_write_text(paths.report / name, f"{study_id} report\n")
            files.append(str(paths.report / name))
        state["report"] = {"files": files, "written": clock.at}
    if reached("export"):
        for method in names:
            record = state["methods"][method]
            dest = paths.export_dir(method)
            dest.mkdir(parents=True)
            atomic_write_text(dest / "README.md", f"{method}\n")
            record["export"] = {"run_id": record["test"]["best_run"], "path": str(dest),
                                "written": clock.at}
    # the phases and the controller
    for n, name in enumerate(PHASES):
        record = state["phases"][name]
        if n < at:
            record.update(state="done", started=start, ended=clock.at)
        elif n == at:
            record.update(state="running", started=clock.at)
    state.update(created=start - 60, updated=clock.at,
                 phase="done" if phase == "done" else phase,
                 ending="done" if phase == "done" else None,
                 ended=clock.at if phase == "done" else None)
    atomic_write_json(paths.state, state)
    if phase == "done":
        controller = {"state": "done", "ended": clock.at, "updated": clock.at}
    elif phase == "search":  # its process was killed: resume it
        controller = {"state": "interrupted", "ended": clock.at, "updated": clock.at}
    else:
        controller = {"state": "running", "updated": FAR_FUTURE, "started": start}
    atomic_write_json(paths.controller, {
        "backend": "slurm", "max_parallel": 4, "runs_per_device": 1, "host": "gpu-login-1",
        "pid": 31337, "trials_per_gpu": None, "mps": None, **controller})
    atomic_write_text(paths.log, f"study {study_id}: running on slurm\n")


def store_sweep(store: RunStore, state: dict[str, Any], method: str, part: str):
    from emotui.sweep.store import SweepStore

    return SweepStore(store.root).paths(state["methods"][method][part]["sweep_id"])


def build_study_store(root: Path, studies: dict[str, tuple[str, str | None]] | None = None
                      ) -> RunStore:
    """The fixture store (tests/tui/fixture_store.py) plus the studies (all of STUDIES by
    default), each with its sweeps and runs."""
    from fixture_store import build_fixture_store

    store = build_fixture_store(root)
    for n, (study_id, (phase, current)) in enumerate((studies or STUDIES).items()):
        write_study(root, study_id, phase, current, LETTERS[n])
    return store
