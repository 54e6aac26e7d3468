"""A sweep's progress and results table, read from its trial records and their run directories."""

from __future__ import annotations

import math
from typing import Any

from emotui.core.events import read_all
from emotui.core.results import COLLAPSE_REASON_PREFIX
from emotui.core.runstore import RunStore, read_json
from emotui.core.lifecycle import ACTIVE, FINISHED, RunState, state_of
from emotui.core.status import heartbeat_age, read_status
from emotui.sweep.metric import Metric
from emotui.sweep.store import (
    SweepPaths, controller_liveness, future_controller, read_trials,
)

# The study's collapsed runs sat at the majority class (35.2% on emotion's validation split).
MAJORITY_RATE_TOLERANCE = 0.005


def spec_json(sweep: SweepPaths) -> dict[str, Any]:
    return read_json(sweep.spec) or {}


def metric_of(spec: dict[str, Any]) -> Metric | None:
    block = spec.get("metric")
    if not block:
        return None
    return Metric.parse({k: v for k, v in block.items() if v is not None}, "spec.json metric")


def predicts_one_class(accuracy: Any, macro_f1: Any, n_labels: int) -> bool:
    """A model that answers one class for everything has macro-F1 = 2p / ((1 + p) K) exactly,
    p being its accuracy (that class's share): the study's diverged runs, whichever class won."""
    if not isinstance(accuracy, (int, float)) or not isinstance(macro_f1, (int, float)) \
            or n_labels < 2 or accuracy <= 0:
        return False
    return abs(macro_f1 - 2 * accuracy / ((1 + accuracy) * n_labels)) < 1e-4


def is_collapsed(results: dict[str, Any] | None, events: list[dict[str, Any]]) -> bool:
    """results.json's verdict (majority-class accuracy, NaN loss), a one-class predictor, or a
    non-finite loss in the events."""
    if results and results.get("collapsed"):
        return True
    if results:
        n = len(results.get("label_names") or [])
        if predicts_one_class(results.get("eval_accuracy"), results.get("eval_macro_f1"), n):
            return True
        if results.get("collapsed") is not None:
            return False
    return any("loss" in (e.get("nonfinite") or []) for e in events)


def stopped_by_sentinel(status: dict[str, Any], results: dict[str, Any] | None) -> bool:
    """Whether the collapse sentinel stopped the run (it ends completed, with the sentinel's
    reason): a trial that finished early, like one hyperband stopped, not a full trial."""
    reason = (results or {}).get("collapse_reason") or status.get("reason")
    return status.get("state") == RunState.COMPLETED.value and \
        str(reason or "").startswith(COLLAPSE_REASON_PREFIX)


def stopped_early_by(status: dict[str, Any], results: dict[str, Any] | None) -> str | None:
    """Who ended a trial before its last epoch: "hyperband" (the controller pruned it),
    "collapse" (the run's collapse sentinel), or None (it ran to its end, or failed)."""
    if status.get("early_stopped"):
        return "hyperband"
    return "collapse" if stopped_by_sentinel(status, results) else None


def trial_row(store: RunStore, record: dict[str, Any], metric: Metric | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trial": record.get("index"), "run_id": record.get("run_id"),
        "params": record.get("params") or {}, "state": "planned", "reason": None,
        "value": None, "epochs": None, "early_stopped": False, "stopped_by": None,
        "collapsed": False,
        "eval_accuracy": None, "test_accuracy": None, "runtime_s": None,
    }
    if not record.get("run_id"):
        if record.get("state") == "lost":  # unreadable, no run named it; replaced by a new trial
            row.update(state="lost", reason=record.get("rebuilt"))
        return row
    try:
        paths = store.paths(record["run_id"])
    except Exception:  # noqa: BLE001 - a hand-edited record must not break the table
        return row
    status = read_status(paths)
    if not status:
        return row
    results = read_json(paths.results)
    events = read_all(paths.metrics)
    state = state_of(status)
    if state in ACTIVE and state != RunState.QUEUED:
        age = heartbeat_age(paths)
        if state == RunState.RUNNING and (age is None or age > 120):
            row["stale"] = True
    stopped_by = stopped_early_by(status, results)
    row.update(
        state=status.get("state"), reason=status.get("reason"),
        early_stopped=stopped_by is not None, stopped_by=stopped_by,
        collapsed=is_collapsed(results, events),
        epochs=status.get("epoch") if status.get("epoch") is not None else
        len([e for e in events if e.get("split") == "eval"]),
        eval_accuracy=(results or {}).get("eval_accuracy"),
        test_accuracy=(results or {}).get("test_accuracy"),
        runtime_s=(results or {}).get("train_runtime_s"),
    )
    if metric is not None:
        value = metric.final_value(results, events)
        row["value"] = None if value is None or math.isnan(value) else value
    return row


def summarize_sweep(sweep: SweepPaths, store: RunStore) -> dict[str, Any]:
    spec = spec_json(sweep)
    metric = metric_of(spec)
    records = read_trials(sweep)
    rows = [trial_row(store, r, metric) for r in records]
    if metric is not None:
        rows.sort(key=lambda r: (metric.sort_key(r["value"]), r["trial"]))
    counts: dict[str, int] = {}
    for row in rows:
        key = "early_stopped" if row["early_stopped"] else row["state"]
        counts[key] = counts.get(key, 0) + 1
    finished = sum(1 for r in rows if r["state"] in FINISHED)
    best = None
    if metric is not None:
        # Only trials that ran to their end compete (a collapsed one stopped early).
        scored = [r for r in rows if r["value"] is not None and r["state"] == "completed"
                  and not r["early_stopped"]]
        if scored:
            best = scored[0]
    controller, liveness = controller_liveness(sweep)
    controller = controller or {}
    return {
        "sweep_id": sweep.sweep_id,
        "method": spec.get("method"),
        "source": spec.get("source"),
        "metric": spec.get("metric"),
        "planned": spec.get("planned_total"),
        "trials": len(rows),
        "finished": finished,
        "counts": counts,
        "best": best,
        "controller": {
            "state": controller.get("state"), "backend": controller.get("backend"),
            "host": controller.get("host"), "pid": controller.get("pid"),
            "alive": liveness == "alive", "updated": controller.get("updated"),
            # "unknown": its time lies in the future (a clock ahead), ahead_s by how much.
            "liveness": liveness,
            "ahead_s": future_controller(controller) if liveness == "unknown" else None,
        },
        "rows": rows,
        # Trial records that could not be read, rebuilt from their runs (sweep.store).
        "warnings": [r["warning"] for r in records if r.get("warning")],
    }
