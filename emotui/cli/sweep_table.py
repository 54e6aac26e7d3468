"""`emotui sweep status` and `sweep ls`: a sweep's trials and the store's sweeps as tables.

On a terminal: a summary line, the best trial, then the trials in human units, fitted to the
terminal (emotui.cli.tables). Piped: the summary lines become `# ` comments and the table TSV
with whole values in machine units (pandas: ``read_csv(sep="\\t", comment="#")``).
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from emotui.cli import units
from emotui.cli.follow import STATE_STYLES
from emotui.cli.tables import Column, for_scripts, print_table
from emotui.core.vocabulary import EventField, ResultKey
from emotui.core.results import COLLAPSE_REASON_PREFIX


def metric_text(name: str | None, value: Any) -> str:
    """An accuracy or F1 as a percentage, anything else (a loss) as a plain number."""
    if name and any(word in name for word in (EventField.ACCURACY, "f1")):
        return units.percent(value)
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return units.MISSING if value is None else str(value)


def _collapse_note(reason: str) -> str:
    """The sentinel's reason without its prefix and its advice (the table says the rest)."""
    return str(reason).removeprefix(COLLAPSE_REASON_PREFIX).split("; stopped")[0].strip()


def trial_note(row: dict[str, Any]) -> str:
    notes = []
    if row[ResultKey.COLLAPSED]:
        notes.append("COLLAPSED")
    if row.get("stale"):
        notes.append("heartbeat stale")
    if row.get("stopped_by") == "collapse" and row.get("reason"):
        notes.append("stopped by the collapse sentinel: " + _collapse_note(row["reason"]))
    elif row["early_stopped"] and row.get("reason"):
        notes.append(str(row["reason"]).replace("early-stopped by hyperband ", ""))
    elif row["state"] == "failed" and row.get("reason"):
        notes.append(str(row["reason"]))
    return " ".join(notes)


def trial_state(row: dict[str, Any]) -> str:
    """The state word, as `ls` and the TUI say it: "collapsed" for a completed trial that
    learned nothing (a sentinel's stop before the last step reads "early-stopped")."""
    if row["early_stopped"]:
        return "early-stopped"
    if row[ResultKey.COLLAPSED] and row["state"] == "completed":
        return ResultKey.COLLAPSED
    return row["state"] or units.MISSING


def trial_columns(rows: list[dict[str, Any]], metric_name: str | None) -> list[Column]:
    params: list[str] = []
    for row in rows:
        params += [key for key in row["params"] if key not in params]
    columns = [
        Column("trial", "#", lambda r: str(r["trial"]), numeric=True),
        Column("run_id", "run", lambda r: r["run_id"] or units.MISSING),
        Column("state", "state", lambda r: Text(trial_state(r), style=STATE_STYLES.get(
                   trial_state(r), STATE_STYLES.get(r["state"] or "", ""))),
               machine=trial_state),
    ]
    for key in params:
        columns.append(Column(key, key, lambda r, k=key: units.plain(r["params"].get(k)),
                              machine=lambda r, k=key: r["params"].get(k), numeric=True,
                              drop=1))
    columns += [
        Column("value", metric_name or "metric", lambda r: metric_text(metric_name, r["value"]),
               numeric=True),
        Column(ResultKey.TEST_ACCURACY, "test acc",
               lambda r: units.percent(r[ResultKey.TEST_ACCURACY]), numeric=True, drop=2),
        Column("epochs", "epochs", lambda r: units.plain(r["epochs"]), numeric=True, drop=3),
        Column("note", "note", lambda r: Text(trial_note(r), style="red" if r[ResultKey.COLLAPSED]
                                              else ""),
               machine=trial_note, drop=3, free_text=True),
    ]
    return columns


def summary_lines(summary: dict[str, Any]) -> list[str]:
    metric = summary.get("metric") or {}
    counts = ", ".join(f"{v} {k.replace('_', '-')}" for k, v in sorted(summary["counts"].items()))
    planned = summary.get("planned")
    ctl = summary["controller"]
    lines = [
        f"sweep {summary['sweep_id']}  {summary['method']}  "
        f"{summary['finished']}/{planned if planned is not None else '?'} finished"
        + (f" ({counts})" if counts else "")
        + (f"  metric {metric.get('name')} ({metric.get('goal')})" if metric else "")
        + f"  controller: {ctl.get('state') or '-'}{_liveness(ctl)}"
        + (f"  ETA ~{units.duration(summary['eta_s'])}" if summary.get("eta_s") is not None
           else "")
    ]
    best = summary.get("best")
    if best:
        lines.append(f"best: trial {best['trial']}  {best['run_id']}  {metric.get('name')} = "
                     f"{metric_text(metric.get('name'), best['value'])}"
                     # Chosen only when no trial learned (sweep.summary): said, not hidden.
                     + ("  (collapsed, as every finished trial)"
                        if best[ResultKey.COLLAPSED] else ""))
    return lines


def _liveness(ctl: dict[str, Any]) -> str:
    if ctl.get("alive"):
        return " (alive)"
    if ctl.get("liveness") == "unknown":
        return (f" (alive or not: its time is {ctl.get('ahead_s') or 0:.0f} s ahead of this "
                "clock; sweep resume --force takes it over)")
    return ""


def print_status(console: Console, summary: dict[str, Any]) -> None:
    piped = for_scripts(console)
    for n, line in enumerate(summary_lines(summary)):
        if piped:
            console.file.write(f"# {line}\n")
        else:
            console.print(Text(line, style="bold" if n == 0 else ""))
    rows = summary["rows"]
    if not rows:
        if piped:
            console.file.write("# no trials yet\n")
        else:
            console.print("no trials yet")
        return
    metric = summary.get("metric") or {}
    print_table(console, trial_columns(rows, metric.get("name")), rows)


SWEEP_COLUMNS = [
    Column("sweep_id", "sweep", lambda s: s["sweep_id"]),
    Column("method", "method", lambda s: s["method"] or "", drop=2),
    Column("finished", "progress", lambda s: f"{s['finished']}/"
           f"{s['planned'] if s['planned'] is not None else '?'}", numeric=True),
    Column("planned", "planned", lambda s: "", terminal=False),
    Column("controller", "controller", lambda s: (s["controller"] or "")
           + (" (alive)" if s["alive"] else ""), drop=3),
    Column("alive", "alive", lambda s: "", terminal=False),
    Column("metric", "metric", lambda s: s["metric"] or "", drop=1),
    Column("best_value", "best", lambda s: metric_text(s["metric"], s["best_value"]),
           numeric=True),
    Column("best_run", "best run", lambda s: s["best_run"] or "", drop=1),
]


def print_sweeps(console: Console, items: list[dict[str, Any]]) -> None:
    if not items:
        print("no sweeps yet: emotui sweep FILE", file=sys.stderr)
        return
    print_table(console, SWEEP_COLUMNS, items)
