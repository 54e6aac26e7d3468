"""A trial its collapse sentinel stopped (completed, reason "collapsed: ...", results.json
collapsed + collapse_reason) counts as finished early: in the summary, the trial records, the
best trial, bayes' study, hyperband's brackets and `emotui sweep status`."""

from __future__ import annotations

from pathlib import Path

from sweep_fakes import STEPS_PER_EPOCH, FakeTrain, accuracy_for, inline_launcher

from emotui.cli.main import main
from emotui.core.events import MetricsWriter
from emotui.core.lifecycle import RunState, mark_running
from emotui.core.results import COLLAPSE_REASON_PREFIX, empty_results
from emotui.core.runstore import RunPaths, RunStore, atomic_write_json
from emotui.core.status import now, write_status
from emotui.sweep.hyperband import thresholds
from emotui.sweep.metric import Metric
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.spec import Hyperband
from emotui.sweep.store import read_trials
from emotui.sweep.summary import summarize_sweep

PATIENCE = 2
MAJORITY = 0.352


class CollapsingTrain(FakeTrain):
    """FakeTrain, except that a learning rate of 1 or more collapses: its evaluations sit at the
    majority-class rate and the run stops itself after PATIENCE of them, as the sentinel does."""

    def __call__(self, config, run_dir, *, resume=False, stop_event=None) -> dict:
        if config.learning_rate < 1:
            return super().__call__(config, run_dir, resume=resume, stop_event=stop_event)
        paths = RunPaths(Path(run_dir))
        self.calls.append((paths.run_id, resume))
        mark_running(paths)
        with MetricsWriter(paths.metrics) as writer:
            for epoch in range(1, PATIENCE + 1):
                writer.write("eval", epoch * STEPS_PER_EPOCH, epoch=epoch, accuracy=MAJORITY,
                             macro_f1=0.087, loss=1.7)
        reason = (f"{COLLAPSE_REASON_PREFIX} eval accuracy {MAJORITY:.4f} at or below the "
                  f"majority-class rate {MAJORITY:.4f} for {PATIENCE} evaluations in a row "
                  f"(step {PATIENCE * STEPS_PER_EPOCH}); stopped (--stop_on_collapse false "
                  "trains on)")
        results = empty_results(paths.run_id, config.method, config.model_name_or_path)
        results.update(status="completed", eval_accuracy=MAJORITY, test_accuracy=0.347,
                       best_epoch=1, epochs_completed=PATIENCE, collapsed=True,
                       collapse_reason=reason)
        atomic_write_json(paths.results, results)
        write_status(paths, state=RunState.COMPLETED, reason=reason, ended=now())
        return results


def _sweep(tmp_path: Path, text: str):
    file = tmp_path / "s.yaml"
    file.write_text(text)
    store = RunStore(tmp_path / "runs")
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])
    return spec, paths, store


GRID = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [1.0e-3, 10, 1.0e-2]}
  num_train_epochs: {value: 4}
  dataset_name: {value: null}
"""


def test_a_collapsed_trial_counts_as_finished_early_not_as_a_full_trial(tmp_path, capsys):
    spec, paths, store = _sweep(tmp_path, GRID)
    lines: list[str] = []
    assert run_sweep(spec, paths, store, inline_launcher(CollapsingTrain()),
                     echo=lines.append) == "finished"
    summary = summarize_sweep(paths, store)
    rows = {r["params"]["learning_rate"]: r for r in summary["rows"]}
    collapsed = rows[10]
    assert collapsed["state"] == "completed"  # the run's own state is unchanged
    assert collapsed["early_stopped"] and collapsed["stopped_by"] == "collapse"
    assert collapsed["collapsed"] and collapsed["epochs"] == PATIENCE
    for lr in (1e-3, 1e-2):
        assert not rows[lr]["early_stopped"] and rows[lr]["stopped_by"] is None
    assert summary["counts"] == {"completed": 2, "early_stopped": 1}
    assert summary["finished"] == 3
    assert summary["best"]["params"] == {"learning_rate": 1e-3}
    records = {r["params"]["learning_rate"]: r for r in read_trials(paths)}
    assert records[10]["early_stopped"] and not records[1e-3]["early_stopped"]
    assert any(line.endswith("collapsed (stopped early) eval/accuracy=0.3520")
               for line in lines), lines

    capsys.readouterr()
    assert main(["sweep", "status", paths.sweep_id, "--runs-dir", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "(2 completed, 1 early-stopped)" in out
    line = next(line for line in out.splitlines() if collapsed["run_id"] in line)
    assert "early-stopped" in line and "COLLAPSED" in line
    assert "stopped by the collapse sentinel: eval accuracy 0.3520 at or below" in line


def test_a_collapsed_trial_never_is_the_best_even_alone(tmp_path):
    spec, paths, store = _sweep(tmp_path, GRID.replace("[1.0e-3, 10, 1.0e-2]", "[5, 10]"))
    run_sweep(spec, paths, store, inline_launcher(CollapsingTrain()))
    summary = summarize_sweep(paths, store)
    assert summary["best"] is None and summary["counts"] == {"early_stopped": 2}


def test_bayes_is_told_a_collapsed_trial_was_pruned(tmp_path):
    from optuna.trial import TrialState

    spec, paths, store = _sweep(tmp_path, """\
method: bayes
run_cap: 3
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [5, 10]}
  num_train_epochs: {value: 4}
  dataset_name: {value: null}
""")
    run_sweep(spec, paths, store, inline_launcher(CollapsingTrain()))
    from emotui.sweep.planner import Planner

    study = Planner(spec, paths.sweep_id, paths.journal).bayes.study
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.PRUNED] * 3


def test_hyperband_counts_a_collapsed_trial_only_at_the_brackets_it_reached():
    metric = Metric.parse({"name": "eval/accuracy", "goal": "maximize"}, "m")
    hb = Hyperband(eta=2, min_iter=1)  # brackets at epochs 1, 2, 4; keeps the best half
    good = [accuracy_for(1e-3, e) for e in range(1, 6)]
    histories = {"good": good, "second": [a - 0.01 for a in good],
                 "third": [a - 0.02 for a in good], "collapsed": [MAJORITY] * PATIENCE}
    limits = thresholds(hb, metric, histories, max_epochs=5)
    # Epochs 1 and 2: four trials reached them, the collapsed one among them (last): the
    # threshold is the third best. Epoch 4: only three did: the second best.
    assert limits[1] == -histories["third"][0] and limits[2] == -histories["third"][1]
    assert limits[4] == -histories["second"][3]
