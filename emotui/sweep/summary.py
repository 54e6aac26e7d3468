"""A sweep's progress and results table, read from its trial records and their run directories."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from emotui.core.events import summary_events
from emotui.core.results import COLLAPSE_REASON_PREFIX
from emotui.core.runstore import RunStore, read_json
from emotui.core.lifecycle import ACTIVE, FINISHED, RunState, state_of
from emotui.core.progress import live_elapsed, live_eta, makespan
from emotui.core.status import heartbeat_age, read_status
from emotui.core.vocabulary import Event, EventField, ResultKey
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
    if results and results.get(ResultKey.COLLAPSED):
        return True
    if results:
        n = len(results.get(ResultKey.LABEL_NAMES) or [])
        if predicts_one_class(results.get(ResultKey.EVAL_ACCURACY),
                              results.get(ResultKey.EVAL_MACRO_F1), n):
            return True
        if results.get(ResultKey.COLLAPSED) is not None:
            return False
    return any(EventField.LOSS in (e.get(EventField.NONFINITE) or []) for e in events)


def reached_last_step(status: dict[str, Any]) -> bool:
    """Whether the run's position is its last step (a flag raised there stopped nothing)."""
    step, total = status.get("step"), status.get("total_steps")
    return isinstance(step, int) and isinstance(total, int) and total > 0 and step >= total


def stopped_by_sentinel(status: dict[str, Any], results: dict[str, Any] | None) -> bool:
    """Whether the collapse sentinel stopped the run (it ends completed, with the sentinel's
    reason, before its last step): a trial that finished early, like one hyperband stopped,
    not a full trial. One flagged at its last step ran in full: collapsed, not stopped early."""
    reason = (results or {}).get(ResultKey.COLLAPSE_REASON) or status.get("reason")
    return status.get("state") == RunState.COMPLETED.value and \
        str(reason or "").startswith(COLLAPSE_REASON_PREFIX) and not reached_last_step(status)


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
        ResultKey.COLLAPSED: False,
        ResultKey.EVAL_ACCURACY: None, ResultKey.TEST_ACCURACY: None, "runtime_s": None,
        "wall_s": None, "eta_s": None,
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
    events = summary_events(paths.metrics)  # evaluations, flags, the last train event
    state = state_of(status)
    if state in ACTIVE and state != RunState.QUEUED:
        age = heartbeat_age(paths)
        if state == RunState.RUNNING and (age is None or age > 120):
            row["stale"] = True
    stopped_by = stopped_early_by(status, results)
    row.update({
        "state": status.get("state"), "reason": status.get("reason"),
        "early_stopped": stopped_by is not None, "stopped_by": stopped_by,
        ResultKey.COLLAPSED: status.get("state") == RunState.COMPLETED.value and (
            is_collapsed(results, events)
            or str(status.get("reason") or "").startswith(COLLAPSE_REASON_PREFIX)),
        "epochs": status.get("epoch") if status.get("epoch") is not None else
        len([e for e in events if e.get(EventField.SPLIT) == Event.EVAL]),
        ResultKey.EVAL_ACCURACY: (results or {}).get(ResultKey.EVAL_ACCURACY),
        ResultKey.TEST_ACCURACY: (results or {}).get(ResultKey.TEST_ACCURACY),
        "runtime_s": (results or {}).get(ResultKey.TRAIN_RUNTIME_S),
        "wall_s": _wall_s(status), "eta_s": live_eta(status, time.time()),
    })
    if metric is not None:
        value = metric.final_value(results, events)
        row["value"] = None if value is None or math.isnan(value) else value
    return row


def _wall_s(status: dict[str, Any]) -> float | None:
    """A trial's wall time: started to ended once it ended (the study's measure), else so far."""
    started, ended = status.get("started"), status.get("ended")
    if state_of(status) in FINISHED and isinstance(started, (int, float)) \
            and isinstance(ended, (int, float)):
        return max(0.0, float(ended) - float(started))
    return live_elapsed(status, time.time())


def sweep_eta(rows: list[dict[str, Any]], planned: int | None, parallel: int) -> float | None:
    """Seconds until the sweep's last planned trial ends: the trials under way at their own
    ETA, those still to start at the trials' typical wall time (the median of the completed
    ones', else of those under way: elapsed + ETA), ``parallel`` at a time
    (core.progress.makespan). None without a planned end or anything to base it on."""
    if planned is None:
        return None
    active = [r for r in rows if r["state"] in ACTIVE]
    done = [r["wall_s"] for r in rows if r["state"] == "completed" and r["wall_s"]]
    guesses = [r["wall_s"] + r["eta_s"] for r in active
               if r["wall_s"] is not None and r["eta_s"] is not None]
    typical = statistics.median(done or guesses) if done or guesses else None
    waiting = max(0, planned - sum(1 for r in rows if r["state"] in FINISHED) - len(active))
    busy = [r["eta_s"] if r["eta_s"] is not None else
            None if typical is None else max(0.0, typical - (r["wall_s"] or 0.0))
            for r in active]
    if None in busy or (waiting and typical is None):
        return None
    return makespan([typical] * waiting, parallel, busy)


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
        # Only trials that ran to their end compete; a collapsed one only when every one
        # collapsed (then the table marks it), never ahead of a trial that learned.
        scored = [r for r in rows if r["value"] is not None and r["state"] == "completed"
                  and not r["early_stopped"]]
        healthy = [r for r in scored if not r[ResultKey.COLLAPSED]]
        if healthy or scored:
            best = (healthy or scored)[0]
    controller, liveness = controller_liveness(sweep)
    controller = controller or {}
    parallel = controller.get("max_parallel")
    parallel = parallel if isinstance(parallel, int) and parallel > 0 else 1
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
        # Only while a controller drives it: a paused or stopped sweep has no end to expect.
        "eta_s": sweep_eta(rows, spec.get("planned_total"), parallel)
        if liveness != "gone" else None,
        "controller": {
            "state": controller.get("state"), "backend": controller.get("backend"),
            "host": controller.get("host"), "pid": controller.get("pid"),
            "alive": liveness == "alive", "updated": controller.get("updated"),
            "max_parallel": parallel,
            # "unknown": its time lies in the future (a clock ahead), ahead_s by how much.
            "liveness": liveness,
            "ahead_s": future_controller(controller) if liveness == "unknown" else None,
        },
        "rows": rows,
        # Trial records that could not be read, rebuilt from their runs (sweep.store).
        "warnings": [r["warning"] for r in records if r.get("warning")],
    }
