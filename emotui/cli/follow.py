"""Live progress of one run in the terminal, read from its run directory (works for any backend).

The display only reads files (status.json, metrics.jsonl), so following an inline run, a detached
local process or a Slurm job on another node is the same code.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from emotui.core.events import MetricsReader
from emotui.core.runstore import RunPaths
from emotui.core.status import RunState, read_status, state_of

STATE_STYLES = {
    "queued": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "magenta",
    "preempted": "yellow",
}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}%"


class RunProgress:
    """What the live display knows about a run, updated by polling its files."""

    def __init__(self, paths: RunPaths):
        self.paths = paths
        self.reader = MetricsReader(paths.metrics)
        self.status: dict[str, Any] = {}
        self.last_train: dict[str, Any] = {}
        self.evals: list[dict[str, Any]] = []

    def poll(self) -> None:
        events = self.reader.poll()
        if self.reader.restarted:
            self.evals, self.last_train = [], {}
        for event in events:
            if event.get("split") == "train":
                self.last_train = event
            elif event.get("split") == "eval":
                self.evals.append(event)
        self.status = read_status(self.paths)

    @property
    def state(self) -> RunState | None:
        return state_of(self.status)

    def render(self) -> Group:
        status = self.status
        state = status.get("state") or "queued"
        header = Text.assemble(
            ("run ", "dim"), (self.paths.run_id, "bold"), "  ",
            (state, STATE_STYLES.get(state, "")),
        )
        if status.get("reason"):
            header.append(f"  ({status['reason']})", style="dim")
        progress = float(status.get("progress") or 0.0)
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=1.0, completed=progress, width=40), f"{100 * progress:5.1f}%")
        line = Table.grid(padding=(0, 2))
        epoch = status.get("epoch")
        total_epochs = status.get("num_epochs")
        cells = [
            f"epoch {epoch if epoch is not None else '-'}"
            + (f"/{total_epochs}" if total_epochs else ""),
            f"step {status.get('step', '-')}" + (f"/{status['total_steps']}"
                                                 if status.get("total_steps") else ""),
        ]
        if self.last_train.get("loss") is not None:
            cells.append(f"loss {self.last_train['loss']:.4f}")
        if self.evals and self.evals[-1].get("accuracy") is not None:
            cells.append(f"eval acc {fmt_pct(self.evals[-1]['accuracy'])}")
        if status.get("eval_accuracy") is not None:
            cells.append(f"best {fmt_pct(status['eval_accuracy'])}")
        if self.last_train.get("samples_per_second"):
            cells.append(f"{self.last_train['samples_per_second']:.0f} samples/s")
        if status.get("eta_s") is not None and state == "running":
            cells.append(f"ETA {format_duration(status['eta_s'])}")
        line.add_row(*cells)
        return Group(header, bar, line)


def follow_run(
    paths: RunPaths,
    console: Console,
    *,
    done: Callable[[], bool] | None = None,
    interval: float = 0.5,
    live: bool = True,
) -> dict[str, Any]:
    """Show progress until the run finishes (or ``done()`` says so). Returns the last status.

    A preempted run is not finished: a Slurm requeue brings it back, so we keep following.
    """
    progress = RunProgress(paths)
    finished = done or (lambda: bool(progress.state and progress.state.finished))
    if not live or not console.is_terminal:
        while True:
            progress.poll()
            if finished():
                progress.poll()
                return progress.status
            time.sleep(interval)
    with Live(progress.render(), console=console, refresh_per_second=4, transient=False) as view:
        while True:
            progress.poll()
            view.update(progress.render())
            if finished():
                progress.poll()
                view.update(progress.render())
                return progress.status
            time.sleep(interval)
