"""`emotui study` output: the dry-run plan, a study's status and the store's studies.

On a terminal: summary lines and tables in human units (emotui.cli.tables). Piped: the summary
lines become `# ` comments and each table TSV with whole values in machine units.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from emotui.cli import units
from emotui.cli.sweep_table import metric_text
from emotui.cli.tables import Column, for_scripts, print_table
from emotui.core.vocabulary import ResultKey

PHASE_STYLES = {"done": "green", "running": "cyan", "skipped": "dim", "pending": ""}


def _lines(console: Console, lines: list[str]) -> None:
    piped = for_scripts(console)
    for n, line in enumerate(lines):
        if piped:
            console.file.write(f"# {line}\n")
        else:
            console.print(Text(line, style="bold" if n == 0 else ""))
    if piped:
        console.file.flush()


def _stat(stat: dict[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return units.MISSING
    text = units.percent(stat["mean"])
    return text + (f" ± {100 * stat['std']:.2f}" if stat.get("std") is not None else "")


def _hours(seconds: float | None) -> str:
    return units.MISSING if seconds is None else f"{seconds / 3600:.2f}"


# -- the plan ---------------------------------------------------------------------------------

PLAN_COLUMNS = [
    Column("method", "method", lambda r: r["method"]),
    Column("search", "search", lambda r: r["search"], drop=2),
    Column("search_trials", "search trials", lambda r: str(r["search_trials"]), numeric=True),
    Column("confirm_runs", "confirm runs", lambda r: str(r["confirm_runs"]), numeric=True),
    Column("swept", "searched", lambda r: ", ".join(r["swept"]) or "(its defaults)",
           machine=lambda r: ",".join(r["swept"]), drop=1, free_text=True),
    Column("confirm_changes", "confirm changes", lambda r: _changes(r["confirm_changes"]),
           drop=2, free_text=True),
    Column("origin", "from", lambda r: r["origin"], drop=3),
]


CHANGE_NAMES = {"max_train_samples": "train", "max_eval_samples": "validation",
                "max_predict_samples": "test", "num_train_epochs": "epochs",
                "learning_rate": "lr", "per_device_train_batch_size": "batch"}


def _changes(settings: dict[str, Any]) -> str:
    """"train=all, epochs=2": what a method's confirm runs change, short."""
    return ", ".join(f"{CHANGE_NAMES.get(k, k)}="
                     + ("all" if v is None and k.startswith("max_") else units.plain(v))
                     for k, v in settings.items())


def plan_lines(study_id: str, plan: Any, spec: Any, exists: bool) -> list[str]:
    seeds = ", ".join(str(s) for s in spec.confirm_seeds)
    lines = [
        f"study {study_id}: {len(plan.methods)} method{'s' if len(plan.methods) != 1 else ''}; "
        f"search {plan.search_trials} trials, confirm {plan.confirm_runs} runs"
        + (f" (seeds {seeds})" if seeds else " (no confirm seeds)")
        + f"; {plan.total} runs in all" + (" (exists: the command continues it)" if exists else ""),
        f"phases: search -> select on {spec.metric.name} ({spec.metric.goal}, validation) -> "
        "confirm -> test -> report -> export",
    ]
    if spec.budget.given:
        parts = []
        if spec.budget.device_hours is not None:
            parts.append(f"{spec.budget.device_hours:g} GPU-hours (CPU-hours on a CPU)")
        if spec.budget.wall_s is not None:
            parts.append(f"wall time {units.duration(spec.budget.wall_s)}")
        lines.append(f"budget: {' and '.join(parts)} for search (an equal share per method, "
                     "at least one trial each); search stops when spent, confirm always runs")
    return lines


def print_plan(console: Console, study_id: str, plan: Any, spec: Any, exists: bool,
               estimate_lines: list[str]) -> None:
    _lines(console, plan_lines(study_id, plan, spec, exists))
    print_table(console, PLAN_COLUMNS, [m.as_json() for m in plan.methods])
    _lines(console, estimate_lines) if estimate_lines else None


# -- status -----------------------------------------------------------------------------------


def status_lines(summary: dict[str, Any]) -> list[str]:
    ctl = summary["controller"]
    metric = summary["metric"]
    lines = [f"study {summary['study_id']}  phase {summary['phase']}  "
             f"metric {metric['name']} ({metric['goal']}, validation)  controller: "
             f"{ctl.get('state') or '-'}{' (alive)' if ctl.get('alive') else ''}"]
    if ctl.get("reason"):  # study.log's last error: why `study resume` is needed
        lines.append(f"failed: {ctl['reason']}")
    lines.append("phases: " + "  ".join(
        f"{p['phase']} {p['state']}" + (f" {p['finished']}/{p['planned']}" if "planned" in p
                                         and p["state"] != "skipped" else "")
        for p in summary["phases"]))
    budget = summary["budget"]
    unit = budget["unit"]
    parts = [f"{_hours(budget['spent_device_s'])}"
             + (f" / {budget['device_hours']:g}" if budget["device_hours"] is not None else "")
             + f" {unit}"]
    if budget["wall_s"] is not None or budget["spent_wall_s"]:
        parts.append(f"wall {units.duration(budget['spent_wall_s'])}"
                     + (f" / {units.duration(budget['wall_s'])}" if budget["wall_s"] else ""))
    line = "search spent: " + ", ".join(parts)
    if budget["exhausted"]:
        line += " (budget spent: search stopped, confirm goes on)"
    if summary.get("eta_s") is not None:
        line += f"  ETA ~{units.duration(summary['eta_s'])}"
    lines.append(line)
    return lines


def _winner(m: dict[str, Any], metric: str) -> str:
    winner = m.get("winner")
    if not winner:
        return "none" if m.get("select") else units.MISSING
    text = f"#{winner['trial']} {metric_text(metric, winner['value'])}"
    return text + (" COLLAPSED" if winner.get(ResultKey.COLLAPSED) else "")


def method_columns(metric: str) -> list[Column]:
    return [
        Column("method", "method", lambda m: m["method"]),
        Column("search_state", "search", lambda m: Text(
            m["search"]["state"], style=PHASE_STYLES.get(m["search"]["state"], "")),
            machine=lambda m: m["search"]["state"], drop=3),
        Column("search_finished", "trials", lambda m: f"{m['search']['finished']}/"
               f"{m['search']['planned'] if m['search']['planned'] is not None else '?'}",
               machine=lambda m: m["search"]["finished"], numeric=True),
        Column("search_planned", "planned", lambda m: "",
               machine=lambda m: m["search"]["planned"], terminal=False),
        Column("best", f"best {metric}", lambda m: metric_text(
            metric, (m["search"]["best"] or {}).get("value")),
            machine=lambda m: (m["search"]["best"] or {}).get("value"), numeric=True),
        Column("winner", "winner", lambda m: _winner(m, metric),
               machine=lambda m: (m.get("winner") or {}).get("run_id"), drop=2),
        Column("confirm_finished", "confirm", lambda m: f"{m['confirm']['finished']}/"
               f"{m['confirm']['planned']}", machine=lambda m: m["confirm"]["finished"],
               numeric=True),
        Column(ResultKey.TEST_ACCURACY, "test acc", lambda m: _stat((m["test"] or {}).get(
            ResultKey.TEST_ACCURACY)), machine=lambda m: _test_stat(m, "mean"), numeric=True),
        Column("test_accuracy_std", "std", lambda m: "",
               machine=lambda m: _test_stat(m, "std"), terminal=False),
        Column("export", "export", lambda m: _short_export(m),
               machine=lambda m: (m.get("export") or {}).get("path"), drop=4, free_text=True),
    ]


def _test_stat(m: dict[str, Any], key: str) -> float | None:
    """The test accuracy's mean or std, rounded far below what was measured: a study recorded
    before study.outcome rounded them says 0.763, not the float sum's 0.7629999999999999."""
    value = ((m["test"] or {}).get(ResultKey.TEST_ACCURACY) or {}).get(key)
    return round(value, 10) if isinstance(value, float) else value


def _short_export(m: dict[str, Any]) -> str:
    path = (m.get("export") or {}).get("path")
    return f"export/{m['method']}" if path else ""


def print_status(console: Console, summary: dict[str, Any]) -> None:
    _lines(console, status_lines(summary))
    print_table(console, method_columns(summary["metric"]["name"]), summary["methods"])
    notes = [f"note: {n['text']}" for n in summary["notes"]]
    report = summary.get("report") or {}
    if report.get("files"):
        from pathlib import Path

        files = [Path(f) for f in report["files"]]
        notes.append(f"report: {files[0].parent} ("
                     + ", ".join(f.name for f in files) + ")")
    if notes:
        _lines(console, [""] + notes if not for_scripts(console) else notes)


# -- ls ---------------------------------------------------------------------------------------

STUDY_COLUMNS = [
    Column("study_id", "study", lambda s: s["study_id"]),
    Column("phase", "phase", lambda s: s["phase"] or ""),
    Column("methods", "methods", lambda s: units.plain(s.get("methods")), numeric=True,
           drop=2),
    Column("search_done", "search", lambda s: f"{s.get('search_done', 0)}/"
           f"{s.get('search_planned', '?')}", numeric=True),
    Column("search_planned", "planned", lambda s: "", terminal=False),
    Column("confirm_done", "confirm", lambda s: f"{s.get('confirm_done', 0)}/"
           f"{s.get('confirm_planned', '?')}", numeric=True),
    Column("confirm_planned", "confirm planned", lambda s: "", terminal=False),
    Column("controller", "controller", lambda s: (s.get("controller") or "")
           + (" (alive)" if s.get("alive") else ""), drop=3),
    Column("alive", "alive", lambda s: "", terminal=False),
    Column("source", "from", lambda s: s.get("source") or s.get("reason") or "", drop=1,
           free_text=True),
]


def print_studies(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        import sys

        print("no studies yet: emotui study FILE", file=sys.stderr)
        return
    print_table(console, STUDY_COLUMNS, rows)
