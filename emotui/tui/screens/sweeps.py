"""Sweeps: trials grouped under their sweep, with progress, best so far and collapsed trials;
r writes the report (emotui report) of the sweep under the cursor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, Static, Tree

from emotui.core.errors import ConfigError
from emotui.core.lifecycle import FINISHED
from emotui.core.runstore import read_json
from emotui.core.vocabulary import ResultKey
from emotui.sweep.store import SweepStore
from emotui.tui import formatting as fmt
from emotui.tui.commands import PaletteCommand
from emotui.tui.messages import ReportWritten
from emotui.tui.outcomes import notify_report, report_outcome
from emotui.tui.trial_order import SORTS, ordered, sort_label
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.worker_errors import WorkerErrors


def sweep_info(root, sweep_id: str) -> dict[str, Any]:
    """spec.json of a sweep written by emotui.sweep ({} when absent: e.g. a W&B-run sweep)."""
    if root is None:
        return {}
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
    scored = [t for t in trials if t.get(ResultKey.EVAL_ACCURACY) is not None]
    # A collapsed trial is "best" only when no trial learned (then it says so).
    healthy = [t for t in scored if not fmt.collapsed(t)]
    best = max(healthy or scored, key=lambda t: t[ResultKey.EVAL_ACCURACY]) if scored else None
    collapsed = sum(1 for t in trials if fmt.collapsed(t))
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
        label.append(f"  best {fmt.percent(best[ResultKey.EVAL_ACCURACY])} "
                     f"({best['run_id'][-4:]})"
                     + (" collapsed" if fmt.collapsed(best) else ""),
                     style="bold red" if fmt.collapsed(best) else "green")
    if collapsed:
        label.append(f"  {collapsed} collapsed", style="bold red")
    return label


def trial_label(trial: dict[str, Any]) -> Text:
    """id, state (or the collapse mark), eval and test accuracy, then hyperparameters (cut
    first at 80 cols)."""
    label = Text(f"{trial['run_id']}  ")
    state = Text("✗ collapsed", style="bold red") if fmt.collapsed(trial) \
        else fmt.state_text(trial)
    state.pad_right(12 - len(state.plain))
    label.append_text(state)
    label.append(f"eval {fmt.percent(trial.get(ResultKey.EVAL_ACCURACY)):>6}  "
                 f"test {fmt.percent(trial.get(ResultKey.TEST_ACCURACY)):>6}")
    label.append(f"  {fmt.hyperparameters(trial)}", style="dim")
    return label


class SweepsScreen(WorkerErrors, Screen):
    """A tree of sweeps; refreshed from the home screen's live rows (no extra file reads)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "open", "Open trial", show=False),
        Binding("r", "write_report", "Report"),
        Binding("c", "compare_trials", "Compare trials"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
    ]

    def __init__(self, rows: Callable[[], dict[str, dict[str, Any]]]):
        super().__init__()
        # The home screen's live rows (a callable, so each refresh sees the latest ones).
        self.live_rows = rows
        self.rows = rows()
        self._painted: Any = None
        # Trials by the sweep's metric, best first (s: another order, S: reversed).
        self.sort, self.sort_reverse = SORTS[0], False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tree("sweeps", id="sweep-tree")
        yield Static("", id="sweeps-status", classes="status-line")
        yield KeysFooter()

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
        fingerprint = [(sid, [(t["run_id"], t.get("status"), t.get(ResultKey.EVAL_ACCURACY),
                               t.get(ResultKey.TEST_ACCURACY), t.get(ResultKey.COLLAPSED))
                              for t in trials])
                       for sid, trials in sweeps.items()] + [(self.sort, self.sort_reverse)]
        if fingerprint == self._painted:
            return  # nothing changed: keep the tree (and its cursor) as it is
        self._painted = fingerprint
        tree = self.query_one(Tree)
        store = self.app.source.store
        root = store.root if store is not None else None
        expanded = {n.data for n in tree.root.children if n.is_expanded}
        # The cursor stays on its sweep or trial while a live sweep repaints the tree.
        current = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        tree.root.expand()
        spec: dict[str, Any] = {}
        target = None
        for sid, trials in sweeps.items():
            spec = sweep_info(root, sid)
            node = tree.root.add(sweep_label(sid, trials, spec), data=sid,
                                 expand=not expanded or sid in expanded)
            target = node if sid == current else target
            for trial in ordered(trials, spec, self.sort, self.sort_reverse):
                leaf = node.add_leaf(trial_label(trial), data=trial["run_id"])
                target = leaf if trial["run_id"] == current else target
        if target is not None:  # once the new nodes have their lines
            tree.call_after_refresh(tree.move_cursor, target)
        self.query_one("#sweeps-status", Static).update(
            f"{fmt.plural(len(sweeps), 'sweep')} · trials by {sort_label(self.sort, spec, self.sort_reverse)} "
            "· enter opens a trial · r: the sweep's report" if sweeps else
            "No sweeps yet: launch one from the new-run screen (n, then a sweep file).")

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.sort_reverse = False
        self.paint()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.paint()

    def action_compare_trials(self) -> None:
        """The compare screen on the trials of the sweep under the cursor, in the order shown."""
        sweep_id = self._sweep_at_cursor()
        node = next((n for n in self.query_one(Tree).root.children if n.data == sweep_id), None)
        trials = [str(leaf.data) for leaf in node.children] if node is not None else []
        if len(trials) < 2:
            self.notify("Move the cursor to a sweep with two or more trials first.",
                        severity="warning")
            return
        # lazy: a screen loads when first opened (113 ms)
        from emotui.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(trials))

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected) -> None:
        rid = event.node.data
        if rid in self.rows:
            # lazy: a screen loads when first opened (149 ms)
            from emotui.tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(rid))

    def action_open(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is not None and node.data in self.rows:
            # lazy: a screen loads when first opened (157 ms)
            from emotui.tui.screens.detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(node.data))

    def _sweep_at_cursor(self) -> str | None:
        node = self.query_one(Tree).cursor_node
        while node is not None and node.parent is not None and node.parent.parent is not None:
            node = node.parent  # a trial: its sweep
        return node.data if node is not None and node.data not in self.rows else None

    def palette_commands(self) -> Iterator[PaletteCommand]:
        """The palette's names for this screen's actions, on the sweep under the cursor."""
        sweep = self._sweep_at_cursor() or "the sweep under the cursor"
        yield PaletteCommand(f"Report of {sweep}", "emotui report, written as HTML to "
                             f"{self.app.export_dir} (r)", self.action_write_report,
                             ("write_report",))
        yield PaletteCommand(f"Compare the trials of {sweep}", "The compare screen on its "
                             "trials, in the order shown (c)", self.action_compare_trials,
                             ("compare_trials",))

    def action_write_report(self) -> None:
        sweep_id = self._sweep_at_cursor()
        if sweep_id is None:
            self.notify("Move the cursor to a sweep (or one of its trials) first.",
                        severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        self.write_report(sweep_id, self.app.export_dir / f"report-{sweep_id}-{stamp}.html")

    @work(thread=True, name="write-sweep-report", group="report", exit_on_error=False)
    def write_report(self, sweep_id: str, path: Path) -> None:
        """`emotui report SWEEP` (drawing its figures takes a few seconds)."""
        self.post_message(report_outcome(self.app.source.store, [sweep_id], path))

    @on(ReportWritten)
    def _report_written(self, message: ReportWritten) -> None:
        notify_report(self, message)
