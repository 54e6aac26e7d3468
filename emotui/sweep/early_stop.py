"""A trial the sweep controller stops early (hyperband pruned it): how it is recorded. The run
is cancelled with ``early_stopped`` (finished: never resumed), and unless it wrote its own
results.json (it completed before the stop landed) one is made from its best evaluated epoch,
nothing else invented.
"""

from __future__ import annotations

from typing import Any

from emotui.core.events import read_all
from emotui.core.lifecycle import mark_cancelled
from emotui.core.results import empty_results, load_config_dict
from emotui.core.runstore import RunPaths, atomic_write_json, read_json
from emotui.core.status import read_status
from emotui.core.vocabulary import Event, EventField, ResultKey


def record_early_stop(paths: RunPaths, reason: str) -> None:
    """A pruned trial: cancelled (finished, never resumed) with early_stopped and results.
    One that completed before the stop landed stays completed (core.lifecycle.end_run)."""
    events = read_all(paths.metrics)
    mark_cancelled(paths, reason, early_stopped=True)
    if read_json(paths.results) is None:
        atomic_write_json(paths.results, results_from_events(paths, events))


def results_from_events(paths: RunPaths, events: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json for a trial stopped early: its best evaluated epoch, nothing else invented."""
    status = read_status(paths)
    config = load_config_dict(paths)
    out = empty_results(paths.run_id, config.get("method") or status.get("method"),
                        config.get("model_name_or_path"))
    out[ResultKey.STATUS] = status.get("state")
    evals = [e for e in events if e.get(EventField.SPLIT) == Event.EVAL]
    best_metric = config.get("metric_for_best_model") or EventField.ACCURACY
    scored = [e for e in evals if isinstance(e.get(best_metric), (int, float))]
    if scored:
        pick = min if best_metric == EventField.LOSS else max
        best = pick(scored, key=lambda e: e[best_metric])
        out.update({ResultKey.BEST_EPOCH: best.get(EventField.EPOCH),
                    ResultKey.EVAL_ACCURACY: best.get(EventField.ACCURACY),
                    ResultKey.EVAL_MACRO_F1: best.get(EventField.MACRO_F1)})
    out[ResultKey.EPOCHS_COMPLETED] = len(evals)
    out["early_stopped"] = True
    out[ResultKey.COLLAPSED] = any(EventField.LOSS in (e.get(EventField.NONFINITE) or [])
                                   for e in events) or None
    return out
