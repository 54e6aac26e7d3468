"""A study as the TUI shows it: the phase line, budget, ETA, method and trial cells.

Pure functions of what `emotui study status` reads (emotui.study.summary: summarize_study,
list_studies); nothing here reads a file or works out a study's state again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text

from emotui.core.units import percent as percent_sign
from emotui.core.vocabulary import EventField, ResultKey
from emotui.tui import formatting as fmt

# A phase's mark in the phase line: done, under way, skipped, still to come.
PHASE_MARKS = {"done": ("✓", "green"), "running": ("▶", "bold dark_orange"),
               "skipped": ("–", "dim"), "pending": ("○", "dim")}
# A study's phase in the studies list ("done" once the last phase is).
PHASE_STYLES = {"done": "bold green", "unreadable": "bold red"}
SEARCH_STATES = {"pending": "dim", "running": "bold dark_orange", "finished": "green",
                 "stopped": "bold yellow", "skipped": "dim"}


def metric_cell(name: str | None, value: Any) -> str:
    """An accuracy or F1 as a percentage (the header does not say %), a loss as a number."""
    if value is None:
        return "-"
    if name and any(word in name for word in (EventField.ACCURACY, "f1")):
        return percent_sign(value)
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def mean_std(stat: dict[str, Any] | None) -> str:
    """92.85% ± 0.31 (n=3): a test accuracy over the confirm runs, as the study computed it."""
    if not stat or stat.get("mean") is None:
        return "-"
    text = percent_sign(stat["mean"])
    if stat.get("std") is not None:
        text += f" ± {100 * stat['std']:.2f}"
    return text + (f" (n={stat['n']})" if stat.get("n") else "")


# -- the study's head ----------------------------------------------------------------------------


def phase_segments(summary: dict[str, Any]) -> list[Text]:
    """✓ search 8/8, ✓ select, ▶ confirm 4/12, ○ test, ○ report, ○ export (fmt.pack joins
    them)."""
    segments = []
    for phase in summary["phases"]:
        mark, style = PHASE_MARKS.get(phase.get("state"), ("?", ""))
        text = Text(f"{mark} ", style=style)
        text.append(phase["phase"], style="bold" if phase.get("state") == "running" else
                    "dim" if phase.get("state") in ("pending", "skipped") else "")
        if "planned" in phase and phase.get("state") != "skipped" and phase["planned"]:
            text.append(f" {phase['finished']}/{phase['planned']}")
        segments.append(text)
    if summary.get("phase") == "done":
        segments.append(Text("✓ study done", style="bold green"))
    return segments


def study_progress(summary: dict[str, Any]) -> float | None:
    """Runs finished of the runs the study will make (search and confirm), for the progress
    bar: a search that is over (the budget stopped it) counts the trials it ran, a skipped
    confirm none; full only once the last phase is done (report and export come after the
    runs)."""
    if summary.get("phase") == "done":
        return 1.0
    planned = finished = 0
    for m in summary["methods"]:
        search, confirm = m["search"], m["confirm"]
        over = search["state"] in ("finished", "stopped", "skipped")
        planned += search["finished"] if over else max(search["planned"] or 0,
                                                       search["finished"])
        finished += search["finished"]
        if confirm["state"] != "skipped":
            planned += max(confirm["planned"] or 0, confirm["finished"])
            finished += confirm["finished"]
    if not planned:
        return None
    return min(0.99, finished / planned)


def budget_segments(summary: dict[str, Any]) -> list[Text]:
    """budget 0.42 / 1 GPU-hours (or, with no budget of device-hours, search spent 0.42
    GPU-hours), wall 22m / 1h, and whether spending it stopped search."""
    budget = summary["budget"]
    given = budget.get("device_hours") is not None or budget.get("wall_s") is not None
    # "budget" only before a budget's own figure: spent hours alone are not a budget.
    device = Text("budget " if budget.get("device_hours") is not None else "search spent ",
                  style="bold")
    device.append(f"{budget['spent_device_s'] / 3600:.2f}")
    if budget.get("device_hours") is not None:
        device.append(f" / {budget['device_hours']:g}")
    device.append(f" {budget['unit']}")
    if not given:
        device.append(" (no budget)", style="dim")
    segments = [device]
    if budget.get("wall_s") is not None or budget.get("spent_wall_s"):
        wall = Text(f"wall {fmt.duration(budget['spent_wall_s'])}")
        if budget.get("wall_s") is not None:
            wall.append(f" / {fmt.duration(budget['wall_s'])}")
        segments.append(wall)
    if budget.get("exhausted"):
        segments.append(Text("budget spent: search stopped", style="bold yellow"))
    return segments


def eta_text(summary: dict[str, Any]) -> Text:
    """The ETA of the whole study; nothing while no controller drives it (its line says how
    to go on), and no "~0s" once only the phases after the runs are left."""
    if summary.get("phase") == "done":
        return Text("finished", style="bold green")
    eta = summary.get("eta_s")
    if not (summary.get("controller") or {}).get("alive"):
        return Text(f"ETA ~{fmt.duration(eta)} once resumed", style="dim") if eta else Text("")
    if eta is None:
        return Text("ETA unknown", style="dim")
    if eta < 1:
        return Text(f"runs done, {summary.get('phase')} under way", style="bold")
    return Text(f"ETA ~{fmt.duration(eta)}", style="bold")


def controller_text(summary: dict[str, Any]) -> Text:
    """Who drives the study: a live controller, or how the last one ended and what to do."""
    ctl = summary.get("controller") or {}
    state = ctl.get("state")
    if ctl.get("alive"):
        text = Text("controller running", style="bold dark_orange")
        where = [str(ctl["backend"])] if ctl.get("backend") else []
        if (ctl.get("max_parallel") or 1) > 1:
            where.append(f"{ctl['max_parallel']} at a time")
        if ctl.get("pid"):
            where.append(f"pid {ctl['pid']} on {ctl.get('host') or '?'}")
        return text.append(f" ({', '.join(where)})" if where else "", style="")
    if summary.get("phase") == "done":
        return Text("")
    if state in (None, "running"):
        # Never started, or its process is gone without saying how it ended.
        return Text(f"no controller: emotui study resume {summary['study_id']}", style="yellow")
    # Why it failed is the first line of the notes (failure_text): too long for this line.
    return Text(f"controller {state}: emotui study resume {summary['study_id']}",
                style="bold red" if state == "failed" else "yellow")


def failure_text(summary: dict[str, Any]) -> Text:
    """Why the last controller failed (its last error in study.log), or nothing."""
    reason = (summary.get("controller") or {}).get("reason")
    if not reason:
        return Text("")
    return Text.assemble(("failed: ", "bold red"), str(reason))


def head_segments(summary: dict[str, Any]) -> list[Text]:
    """The line under the phases: budget, ETA, the controller (fmt.pack fits them)."""
    parts = [*budget_segments(summary), eta_text(summary), controller_text(summary)]
    return [part for part in parts if part.plain]


def about_segments(summary: dict[str, Any]) -> list[Text]:
    """What the study selects on, its confirm seeds, the file it came from."""
    metric = summary["metric"]
    seeds = ", ".join(str(s) for s in summary.get("confirm_seeds") or [])
    segments = [Text(f"select on {metric['name']} ({metric['goal']}, validation)"),
                Text(f"confirm seeds {seeds}" if seeds else "no confirm seeds")]
    if summary.get("source"):
        segments.append(Text(f"from {summary['source']}", style="dim"))
    return segments


# -- per method ----------------------------------------------------------------------------------


def method_stage(m: dict[str, Any]) -> tuple[str, str]:
    """(where the method is, its style): the furthest part of the study it has reached."""
    search, confirm = m["search"]["state"], m["confirm"]["state"]
    if m.get("export"):
        return "exported", "bold green"
    if m.get("test"):
        return "tested", "green"
    if confirm == "running":
        return "confirm", "bold dark_orange"
    if confirm == "finished":
        return "confirmed", "green"
    if confirm == "skipped" or (m.get("select") and not m.get("winner")):
        return "no winner", "bold red"
    if m.get("winner"):
        return "selected", "green"
    if search == "running":
        return "search", "bold dark_orange"
    if search == "stopped":
        return "searched", "yellow"
    if search == "finished":
        return "searched", "green"
    return "pending", "dim"


def _trials(part: dict[str, Any]) -> str:
    planned = part.get("planned")
    return f"{part['finished']}/{planned if planned is not None else '?'}"


def best_cell(m: dict[str, Any], metric: str) -> Text:
    """The best validation value so far and its run (the winner once selected)."""
    winner = m.get("winner")
    best = winner or m["search"].get("best")
    if not best:
        return Text("-", style="dim")
    text = Text(metric_cell(metric, best.get("value")))
    if best.get("run_id"):
        text.append(f" {str(best['run_id'])[-4:]}", style="dim")
    if best.get(ResultKey.COLLAPSED):
        text.append(" collapsed", style=fmt.COLLAPSED_STYLE)
    return text


def method_notes(m: dict[str, Any]) -> Text:
    """What a researcher must not miss about a method: a stopped search, no winner, a
    collapsed winner, failed or collapsed confirm runs, where its export is."""
    notes: list[tuple[str, str]] = []
    if m["search"]["state"] == "stopped":
        notes.append(("budget: search stopped", "yellow"))
    if m.get("select") and not m.get("winner"):
        notes.append((str(m["select"]), "bold red"))
    if (m.get("winner") or {}).get(ResultKey.COLLAPSED):
        notes.append(("every search trial collapsed", "bold red"))
    test = m.get("test") or {}
    if test.get("failed"):
        notes.append((f"{test['failed']} confirm run{'s' if test['failed'] != 1 else ''} "
                      "failed", "bold red"))
    if test.get(ResultKey.COLLAPSED):
        n = test[ResultKey.COLLAPSED]
        notes.append((f"{n} confirm run{'s' if n != 1 else ''} collapsed", "bold red"))
    collapsed = sum(1 for row in m["search"].get("rows") or () if row.get(ResultKey.COLLAPSED))
    if collapsed:
        notes.append((f"{collapsed} search trial{'s' if collapsed != 1 else ''} collapsed",
                      "red"))
    if (m.get("export") or {}).get("path"):
        notes.append((f"export/{m['method']}", "dim"))
    text = Text()
    for n, (note, style) in enumerate(notes):
        text.append("; " if n else "")
        text.append(note, style=style)
    return text


METHOD_COLUMNS = ("method", "phase", "search", "best", "confirm", "test acc", "notes")


def method_cells(m: dict[str, Any], metric: str) -> list[Text | str]:
    stage, style = method_stage(m)
    search = Text(_trials(m["search"]), style=SEARCH_STATES.get(m["search"]["state"], ""))
    confirm = "-" if m["confirm"]["state"] == "skipped" else _trials(m["confirm"])
    test = (m.get("test") or {}).get(ResultKey.TEST_ACCURACY)
    return [Text(fmt.method_label(m["method"]), style="bold"), Text(stage, style=style), search,
            best_cell(m, metric), confirm, mean_std(test), method_notes(m)]


def winner_settings(m: dict[str, Any]) -> str:
    """The selected trial's searched settings (learning_rate=2e-05, ...), or ""."""
    params = (m.get("winner") or {}).get("params") or {}
    return ", ".join(f"{k}={fmt.plain(v)}" for k, v in params.items())


def method_run(m: dict[str, Any]) -> str | None:
    """The run a method row opens: its exported best, else its winner, else its best so far."""
    for run in ((m.get("test") or {}).get("best_run"), (m.get("winner") or {}).get("run_id"),
                (m["search"].get("best") or {}).get("run_id")):
        if run:
            return str(run)
    return None


# -- per trial -----------------------------------------------------------------------------------


TRIAL_COLUMNS = ("run", "part", "trial", "state", "value", "test acc", "settings")


def trial_rows(m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(part, row) of the method's search trials, then its confirm runs."""
    return [(part, row) for part in ("search", "confirm") for row in m[part].get("rows") or ()]


def trial_cells(part: str, row: dict[str, Any], metric: str,
                winner: str | None) -> list[Text | str]:
    state = fmt.state_text({"status": row.get("state"),
                            ResultKey.COLLAPSED: row.get(ResultKey.COLLAPSED),
                            "stale": row.get("stale")})
    if row.get("early_stopped"):
        state = Text(f"stopped ({row.get('stopped_by') or 'early'})", style="yellow")
    elif row.get("state") in ("planned", "lost"):
        state = Text(str(row["state"]), style="dim")
    run = Text(str(row.get("run_id") or "-"))
    if winner and row.get("run_id") == winner:
        run.append(" ★", style="bold green")
    settings = ", ".join(f"{k}={fmt.plain(v)}" for k, v in (row.get("params") or {}).items())
    return [run, part, str(row.get("trial")), state, metric_cell(metric, row.get("value")),
            metric_cell(ResultKey.TEST_ACCURACY, row.get(ResultKey.TEST_ACCURACY)),
            Text(settings, style="dim")]


# -- notes, report, exports ----------------------------------------------------------------------


def shown_path(path: str | Path, root: Path, base: str) -> str:
    """``path`` under the run store ``root`` as ``base``/relative (base: how the store is
    named on screen); any other path whole."""
    try:
        return str(Path(base) / Path(path).relative_to(root))
    except ValueError:
        return str(path)


def notes_text(summary: dict[str, Any], root: Path, base: str) -> Text:
    """Why the controller failed, where the report and exports are (``root``: the run store,
    shown as ``base``), then the study's notes (study.json): what must stay in view first."""
    text = failure_text(summary)
    if text.plain:
        text.append("\n")
    files = [Path(f) for f in (summary.get("report") or {}).get("files") or []]
    if files:
        text.append("report: ", style="bold")
        text.append(f"{shown_path(files[0].parent, root, base)} "
                    f"({', '.join(f.name for f in files)})\n")
    exports = [Path(m["export"]["path"]) for m in summary["methods"]
               if (m.get("export") or {}).get("path")]
    if exports:
        text.append("exports: ", style="bold")
        text.append(f"{shown_path(exports[0].parent, root, base)} "
                    f"({', '.join(e.name for e in exports)})\n")
    for note in summary.get("notes") or []:
        text.append("note: ", style="bold yellow")
        text.append(f"{note.get('text')}\n")
    if not text.plain:
        text.append(f"state in {shown_path(root / 'studies' / summary['study_id'], root, base)}",
                    style="dim")
    text.rstrip()
    return text


# -- the studies list ----------------------------------------------------------------------------


STUDY_COLUMNS = ("study", "phase", "progress", "methods", "search", "confirm", "controller",
                 "from")


def list_progress(row: dict[str, Any]) -> float | None:
    """Runs finished of the runs planned, search and confirm (a finished study: all; past
    search, the search trials that ran are all there will be, e.g. a budget stopped it)."""
    if row.get("phase") == "done":
        return 1.0
    searched = row.get("search_done") or 0
    search = searched if row.get("phase") not in (None, "search") \
        else max(searched, row.get("search_planned") or 0)
    planned = search + (row.get("confirm_planned") or 0)
    done = searched + (row.get("confirm_done") or 0)
    return min(0.99, done / planned) if planned else None


def study_cells(row: dict[str, Any]) -> list[Text | str]:
    phase = str(row.get("phase") or "-")
    if row.get("reason"):
        return [row["study_id"], Text(phase, style=PHASE_STYLES["unreadable"]), "", "", "", "",
                "", Text(str(row["reason"]), style="red")]
    controller = str(row.get("controller") or "-") + (" (alive)" if row.get("alive") else "")
    controller_style = "bold dark_orange" if row.get("alive") else \
        "bold red" if row.get("controller") == "failed" and phase != "done" else "dim"
    return [Text(row["study_id"], style="bold"),
            Text(phase, style=PHASE_STYLES.get(phase, "bold dark_orange")),
            fmt.progress_bar(list_progress(row)), fmt.plain(row.get("methods")),
            f"{row.get('search_done', 0)}/{row.get('search_planned', '?')}",
            f"{row.get('confirm_done', 0)}/{row.get('confirm_planned', '?')}",
            Text(controller, style=controller_style),
            Text(str(row.get("source") or ""), style="dim")]
