"""What `emotui study status` and `study ls` show, read from the study's files and its sweeps.

Readers never write. Progress is live: each method's search and confirm trials come from their
sweeps' records and run directories (sweep.summary), the best so far from the search trials
(validation, collapse-aware: study.select), the budget spent from the run directories.
"""

from __future__ import annotations

import statistics
from typing import Any

from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.lifecycle import FINISHED
from emotui.core.progress import makespan
from emotui.core.runstore import RunStore, read_json
from emotui.core.status import read_status
from emotui.core.vocabulary import ResultKey
from emotui.study import budget as money
from emotui.study.select import best_so_far, search_rows
from emotui.study.spec import StudySpec, from_json
from emotui.study.store import PHASES, StudyPaths, StudyStore, controller_alive, read_state
from emotui.sweep.estimate import estimate_trials
from emotui.sweep.runner import dry_run
from emotui.sweep.space import representative_values
from emotui.sweep.spec import parse_sweep
from emotui.sweep.store import SweepStore, read_trials


def load_spec(paths: StudyPaths) -> StudySpec:
    data = read_json(paths.spec)
    if data is None:
        raise ConfigError(f"{paths.root} holds no study (spec.json missing or unreadable)")
    return from_json(data, str(paths.spec))


def _finished(rows: list[dict[str, Any]]) -> int:
    return sum(1 for r in rows if r["state"] in FINISHED)


def _durations(store: RunStore, rows: list[dict[str, Any]]) -> list[float]:
    out = []
    for row in rows:
        if row["state"] != "completed" or not row.get("run_id"):
            continue
        status = read_status(store.paths(row["run_id"]))
        if isinstance(status.get("started"), (int, float)) and \
                isinstance(status.get("ended"), (int, float)):
            out.append(float(status["ended"]) - float(status["started"]))
    return out


def summarize_study(paths: StudyPaths, store: RunStore, *,
                    trials: bool = False) -> dict[str, Any]:
    """The study's status; ``trials``: each method's search and confirm also list their trial
    rows (``rows``: sweep.summary.trial_row, valued by the study's metric), for the TUI."""
    spec = load_spec(paths)
    state = read_state(paths)
    sweeps = SweepStore(store.root)
    controller = read_json(paths.controller) or {}
    k = controller.get("runs_per_device") or 1
    methods = []
    spent_device = 0.0
    devices: list[str] = []
    for method, search in spec.methods.items():
        record = state["methods"][method]
        search_paths = sweeps.paths(record["search"]["sweep_id"])
        rows = search_rows(search_paths, store, spec.metric)
        confirm_paths = sweeps.paths(record["confirm"]["sweep_id"])
        confirm_rows = search_rows(confirm_paths, store, spec.metric)
        device_s = sum(money.run_device_seconds(store, r["run_id"], trials_per_gpu=k)
                       for r in rows if r.get("run_id") and (store.root / r["run_id"]).is_dir())
        spent_device += device_s
        for row in rows + confirm_rows:
            if row.get("run_id") and row["state"] == "completed":
                device = (read_json(store.paths(row["run_id"]).results) or {}).get(ResultKey.DEVICE)
                if device:
                    devices.append(str(device))
        test = record.get("test") or {}
        methods.append({
            "method": method, "label": search.label, "origin": search.origin,
            "search": {
                "sweep_id": record["search"]["sweep_id"], "state": record["search"]["state"],
                "trials": len(rows), "finished": _finished(rows),
                "planned": search.planned, "best": best_so_far(rows, spec.metric),
                "device_s": device_s, "wall_s": record["search"].get("wall_s") or 0.0,
                "durations": _durations(store, rows),
                **({"rows": rows} if trials else {}),
            },
            "winner": record.get("winner"),
            "select": record.get("select"),
            "confirm": {
                "sweep_id": record["confirm"]["sweep_id"], "state": record["confirm"]["state"],
                "runs": len(confirm_rows), "finished": _finished(confirm_rows),
                "planned": len(spec.confirm_seeds),
                "durations": _durations(store, confirm_rows),
                **({"rows": confirm_rows} if trials else {}),
            },
            "test": {key: test.get(key) for key in (
                ResultKey.TEST_ACCURACY, ResultKey.TEST_MACRO_F1, ResultKey.EVAL_ACCURACY,
                "completed", "failed", ResultKey.COLLAPSED, "best_run", "source")}
            if test else None,
            "export": record.get("export"),
        })
    alive = controller_alive(paths) is not None
    summary = {
        "study_id": paths.study_id,
        "source": spec.source,
        "phase": state.get("phase"),
        "ending": state.get("ending"),
        "created": state.get("created"),
        "updated": state.get("updated"),
        "metric": {"name": spec.metric.name, "goal": spec.metric.goal},
        "confirm_seeds": spec.confirm_seeds,
        "phases": [{"phase": p, **state["phases"][p]} for p in PHASES],
        "methods": methods,
        "budget": {
            "device_hours": spec.budget.device_hours, "wall_s": spec.budget.wall_s,
            "spent_device_s": spent_device,
            "spent_wall_s": float((state.get("budget") or {}).get("wall_s") or 0.0),
            "unit": money.unit(devices),
            "exhausted": bool((state.get("budget") or {}).get("exhausted")),
        },
        "notes": state.get("notes") or [],
        "report": state.get("report"),
        "controller": {"state": controller.get("state"), "alive": alive,
                       "backend": controller.get("backend"), "host": controller.get("host"),
                       "pid": controller.get("pid"), "updated": controller.get("updated"),
                       "max_parallel": controller.get("max_parallel"),
                       "reason": failure_reason(paths) if controller.get("state") == "failed"
                       and not alive else None},
    }
    summary["eta_s"] = eta_seconds(summary, spec, store)
    for phase in summary["phases"]:
        if phase["phase"] in ("search", "confirm"):
            part = phase["phase"]
            phase["finished"] = sum(m[part]["finished"] for m in methods)
            phase["planned"] = sum((m[part]["planned"] or 0) for m in methods)
    return summary


def failure_reason(paths: StudyPaths) -> str | None:
    """Why the study's last controller failed: the error it logged last (the controller
    writes it only to study.log, whose tail is read; a long log is never read whole)."""
    try:
        with open(paths.log, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 16384))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    marker, started = " study failed: ", f" study {paths.study_id}: running on "
    for line in reversed(tail.splitlines()):
        if marker in line:
            return line.split(marker, 1)[1].strip() or None
        if started in line:  # the last controller logged no error: an older one's is no answer
            return None
    return None


def eta_seconds(summary: dict[str, Any], spec: StudySpec, store: RunStore) -> float | None:
    """Roughly how long the runs still to come take: per method, the runs left in search
    (within what the budget leaves) and confirm, each as long as the method's finished runs
    of that phase took (or the study's, or sweep.estimate's measured rate), max_parallel at
    a time (core.progress.makespan, as a sweep's ETA). None when the study is done or nothing
    is known to base it on."""
    if summary["phase"] == "done":
        return None
    all_search = [d for m in summary["methods"] for d in m["search"]["durations"]]
    all_confirm = [d for m in summary["methods"] for d in m["confirm"]["durations"]]
    search: list[float] = []
    confirm: list[float] = []
    unknown = False
    for m in summary["methods"]:
        if m["search"]["state"] not in ("finished", "stopped"):
            left = max(0, (m["search"]["planned"] or 0) - m["search"]["finished"])
            typical = _median(m["search"]["durations"]) or _median(all_search) or \
                _estimated(spec, spec.methods[m["method"]].spec, store)
            unknown |= typical is None and left > 0
            search += [typical or 0.0] * left
        if spec.confirm_seeds and m["confirm"]["state"] not in ("finished", "skipped") and \
                not (m["select"] and m["winner"] is None):
            left = max(0, len(spec.confirm_seeds) - m["confirm"]["finished"])
            typical = _median(m["confirm"]["durations"]) or _median(all_confirm) or \
                _estimated_confirm(spec, m["method"], store)
            unknown |= typical is None and left > 0
            confirm += [typical or 0.0] * left
    budget = summary["budget"]
    parallel = max(1, int(summary["controller"].get("max_parallel") or 1))
    search_s = makespan(search, parallel)
    if budget["device_hours"] is not None and sum(search) > 0:
        # The budget stops search once it has spent what is left of it.
        left_s = max(0.0, budget["device_hours"] * 3600 - budget["spent_device_s"])
        search_s *= min(1.0, left_s / sum(search))
    if budget["wall_s"] is not None:
        search_s = min(search_s, max(0.0, budget["wall_s"] - budget["spent_wall_s"]))
    total = search_s + makespan(confirm, parallel)
    if unknown and total == 0:
        return None
    return total


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _estimated(spec: StudySpec, sweep_spec: Any, store: RunStore) -> float | None:
    trials = dry_run(sweep_spec, None, count=None, max_parallel=1, limit=1)
    estimate = estimate_trials(trials, store, 1)
    done = estimate.estimated
    return done[0].wall_s if done else None


def _estimated_confirm(spec: StudySpec, method: str, store: RunStore) -> float | None:
    search = spec.methods[method].spec
    values = search.parameter_values(representative_values(search))
    confirm = parse_sweep(spec.confirm_sweep(method, values), source="confirm")
    return _estimated(spec, confirm, store)


def unreadable_reason(paths: StudyPaths, exc: BaseException) -> str:
    """One line for a study whose study.json or spec.json holds something emotui never
    writes (a missing key, a value of another type)."""
    return (f"study {paths.study_id}: study.json or spec.json is not as emotui writes it "
            f"({type(exc).__name__}: {exc})")


def list_studies(store: RunStore) -> list[dict[str, Any]]:
    """One row per study in the store, oldest first; a study that cannot be read says why
    (its row's phase is "unreadable"), and never hides the others."""
    rows = []
    for paths in StudyStore(store.root):
        try:
            rows.append(_ls_row(paths, store))
        except EmotuiError as exc:
            rows.append({"study_id": paths.study_id, "phase": "unreadable", "reason": str(exc)})
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            rows.append({"study_id": paths.study_id, "phase": "unreadable",
                         "reason": unreadable_reason(paths, exc)})
    rows.sort(key=lambda r: r["created"] if isinstance(r.get("created"), (int, float)) else 0)
    return rows


def _ls_row(paths: StudyPaths, store: RunStore) -> dict[str, Any]:
    state = read_state(paths)
    spec = load_spec(paths)
    sweeps = SweepStore(store.root)
    search_done = confirm_done = 0
    for method in spec.methods:
        record = state["methods"][method]
        for part in ("search", "confirm"):
            sweep_paths = sweeps.paths(record[part]["sweep_id"])
            count = sum(1 for r in read_trials(sweep_paths) if r.get("state"))
            if part == "search":
                search_done += count
            else:
                confirm_done += count
    controller = read_json(paths.controller) or {}
    return {
        "study_id": paths.study_id, "phase": state.get("phase"),
        "methods": len(spec.methods),
        "search_done": search_done,
        "search_planned": sum(s.planned or 0 for s in spec.methods.values()),
        "confirm_done": confirm_done,
        "confirm_planned": len(spec.confirm_seeds) * len(spec.methods),
        "controller": controller.get("state"), "alive": controller_alive(paths) is not None,
        "created": state.get("created"), "source": spec.source, "reason": None,
    }
