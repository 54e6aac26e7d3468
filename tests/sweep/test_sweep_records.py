"""A sweep controller's records: fenced by the controller's token, and versioned."""

from __future__ import annotations

import json

import pytest

from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore, atomic_write_json, read_json
from emotui.core.schema import SCHEMA_KEY, SWEEP_SCHEMA
from emotui.sweep.runner import load_saved, open_sweep
from emotui.sweep.store import SweepStore, read_trials, write_controller, write_trial


def test_a_controller_that_was_taken_over_writes_no_trial_record(tmp_path, caplog):
    paths = SweepStore(tmp_path / "runs").paths("s-1")
    paths.trials.mkdir(parents=True)
    write_controller(paths, state="running")
    assert write_trial(paths, {"index": 1, "params": {"lr": 1}})
    assert read_trials(paths)[0][SCHEMA_KEY] == SWEEP_SCHEMA
    # Another controller (another process) takes the sweep over: its token replaces ours.
    info = read_json(paths.controller)
    atomic_write_json(paths.controller, dict(info, token="someone-else", pid=1))
    assert not write_trial(paths, {"index": 1, "params": {"lr": 2}})
    assert read_trials(paths)[0]["params"] == {"lr": 1}
    assert "dropped trial 1's record from a controller that was taken over" in caplog.text


def test_a_sweep_saved_by_a_newer_emotui_is_refused_in_one_line(tmp_path):
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text("method: grid\nparameters:\n  learning_rate: {values: [0.1, 0.2]}\n")
    store = RunStore(tmp_path / "runs")
    spec, paths, exists = open_sweep(sweep_file, [], store)
    from emotui.sweep.runner import save_sweep

    save_sweep(spec, paths, sweep_file, [])
    saved = json.loads(paths.spec.read_text())
    assert saved[SCHEMA_KEY] == SWEEP_SCHEMA
    atomic_write_json(paths.spec, dict(saved, **{SCHEMA_KEY: SWEEP_SCHEMA + 1}))
    for attempt in (lambda: open_sweep(sweep_file, [], store), lambda: load_saved(paths)):
        with pytest.raises(ConfigError, match=f"format version {SWEEP_SCHEMA + 1}, newer than "
                                              "this emotui reads"):
            attempt()
