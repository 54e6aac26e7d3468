"""Sweeps: trials grouped under their sweep, with progress, best so far and collapsed trials."""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree

from emotui.core.runstore import read_json
from emotui.tui import formatting as fmt

FINISHED = ("completed", "failed", "cancelled")


def sweep_info(root, sweep_id: str) -> dict[str, Any]:
    """spec.json of a sweep written by emotui.sweep ({} when absent: e.g. a W&B-run sweep)."""
    if root is None:
        return {}
    from emotui.core.errors import ConfigError
    from emotui.sweep.store import SweepStore

    try:
        paths = SweepStore(root).paths(sweep_id)
    except ConfigError:  # a W&B sweep name that is no emotui sweep id
        return {}
    return read_json(paths.spec) or {}


def planned_total(spec: dict[str, Any], trials: list[dict[str, Any]]) -> int | None:
    """How many trials the sweep runs in all: spec.json's planned_total (a grid's size, capped
    by run_cap; a random or bayes sweep's run_cap), never fewer than the trials seen. None when
    unbounded (run with --count) or unknown (a sweep emotui did not write)."""
    total = spec.get("planned_total")
    if total is None:
        total = spec.get("run_cap")
    if not isinstance(total, int) or total <= 0:
        return None
    return max(total, len(trials))


def group_by_sweep(rows: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    sweeps: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows.values(), key=lambda r: r["run_id"]):
        if row.get("sweep_id"):
            sweeps.setdefault(row["sweep_id"], []).append(row)
    return sweeps


def sweep_label(sweep_id: str, trials: list[dict[str, Any]], spec: dict[str, Any]) -> Text:
    done = sum(1 for t in trials if t.get("status") in FINISHED)
    running = sum(1 for t in trials if t.get("status") == "running")
    total = planned_total(spec, trials)
    scored = [t for t in trials if t.get("eval_accuracy") is not None]
    best = max(scored, key=lambda t: t["eval_accuracy"]) if scored else None
    collapsed = sum(1 for t in trials if t.get("collapsed"))
    label = Text(sweep_id, style="bold")
    if spec.get("method"):
        label.append(f"  {spec['method']}", style="dim")
    label.append("  ")
    label.append_text(fmt.progress_bar(done / total if total else None))
    if total:
        label.append(f"  {done}/{total} done, {running} running")
    else:
        label.append(f"  {done} done of {len(trials)} so far, {running} running")
    if best is not None:
        label.append(f"  best {fmt.percent(best['eval_accuracy'])} ({best['run_id'][-4:]})",
                     style="green")
    if collapsed:
        label.append(f"  {collapsed} collapsed", style="bold red")
    return label


def trial_label(trial: dict[str, Any]) -> Text:
    """id, state, eval accuracy, the collapse mark, then hyperparameters (cut first at 80 cols)."""
    label = Text(f"{trial['run_id']}  ")
    state = fmt.state_text(trial)
    state.pad_right(10 - len(state.plain))
    label.append_text(state)
    label.append(f"eval {fmt.percent(trial.get('eval_accuracy')):>5}")
    if trial.get("collapsed"):
        label.append("  ✗ collapsed", style="bold red")
    label.append(f"  {fmt.hyperparameters(trial)}", style="dim")
    return label


class SweepsScreen(Screen):
    """A tree of sweeps; refreshed from the home screen's live rows (no extra file reads)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open trial", show=False),
    ]

    def __init__(self, rows: Callable[[], dict[str, dict[str, Any]]]):
        super().__init__()
        # The home screen's live rows (a callable, so each refresh sees the latest ones).
        self.live_rows = rows
        self.rows = rows()
        self._painted: Any = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tree("sweeps", id="sweep-tree")
        yield Static("", id="sweeps-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "sweeps"
        self.paint()
        self.set_interval(2.0, self._refresh_rows)
        self.query_one(Tree).focus()

    def _refresh_rows(self) -> None:
        self.rows = self.live_rows()
        self.paint()

    def paint(self) -> None:
        sweeps = group_by_sweep(self.rows)
        fingerprint = [(sid, [(t["run_id"], t.get("status"), t.get("eval_accuracy"),
                               t.get("collapsed")) for t in trials])
                       for sid, trials in sweeps.items()]
        if fingerprint == self._painted:
            return  # nothing changed: keep the tree (and its cursor) as it is
        self._painted = fingerprint
        tree = self.query_one(Tree)
        root = getattr(self.app.source, "root", None)
        expanded = {n.data for n in tree.root.children if n.is_expanded}
        tree.clear()
        tree.root.expand()
        for sid, trials in sweeps.items():
            node = tree.root.add(sweep_label(sid, trials, sweep_info(root, sid)), data=sid,
                                 expand=not expanded or sid in expanded)
            for trial in trials:
                node.add_leaf(trial_label(trial), data=trial["run_id"])
        self.query_one("#sweeps-status", Static).update(
            f"{len(sweeps)} sweeps · enter opens a trial" if sweeps else
            "No sweeps yet: launch one from the new-run screen (n, then a sweep file).")

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected) -> None:
        rid = event.node.data
        if rid in self.rows:
            from emotui.tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(rid))

    def action_open(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.data in self.rows:
            from emotui.tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(node.data))
