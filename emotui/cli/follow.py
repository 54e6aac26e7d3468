"""Live progress of one run in the terminal, read from its run directory (works for any backend).

The display only reads files (status.json, metrics.jsonl, stdout.log), so following an inline
run, a detached local process or a Slurm job on another node is the same code. On a terminal it
is a live view whose elapsed time counts up and ETA counts down between the job's updates;
piped or redirected (`emotui run ... > log`), it is the run's training log (stdout.log: a line
per logging step, evaluation, checkpoint and the outcome), copied line by line as it grows.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from emotui.cli.units import duration, percent
from emotui.core.events import FileFollower, MetricsReader
from emotui.core.layout import pack_plain
from emotui.core.lifecycle import RunState, state_of
from emotui.core.progress import live_elapsed, live_eta, phase_text
from emotui.core.results import load_config_dict
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.core.vocabulary import Event, EventField, ResultKey

STATE_STYLES = {
    "queued": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "magenta",
    "preempted": "yellow",
    ResultKey.COLLAPSED: "bold red",  # core.results.shown_state: completed without learning
}


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
            if event.get(EventField.SPLIT) == Event.TRAIN:
                self.last_train = event
            elif event.get(EventField.SPLIT) == Event.EVAL:
                self.evals.append(event)
        self.status = read_status(self.paths)

    def num_epochs(self) -> float | None:
        if not hasattr(self, "_num_epochs"):
            config = load_config_dict(self.paths)
            value = config.get("num_train_epochs")
            # max_steps > 0 ends the run before num_train_epochs: no epoch total to show.
            limited = isinstance(config.get("max_steps"), int) and config["max_steps"] > 0
            self._num_epochs = value if isinstance(value, (int, float)) and not limited else None
        return self._num_epochs

    @property
    def state(self) -> RunState | None:
        return state_of(self.status)

    def render(self, now: float | None = None, width: int = 0) -> Group:
        now = time.time() if now is None else now
        status = self.status
        state = status.get("state") or "queued"
        header = Text.assemble(
            ("run ", "dim"), (self.paths.run_id, "bold"), "  ",
            (state, STATE_STYLES.get(state, "")),
        )
        if state == "running" and phase_text(status):
            header.append(f"  {phase_text(status)}", style="dim")
        if status.get("reason"):
            header.append(f"  ({status['reason']})", style="dim")
        progress = float(status.get("progress") or 0.0)
        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=1.0, completed=progress, width=40), f"{100 * progress:5.1f}%")
        epoch = status.get("epoch")
        total_epochs = self.num_epochs()
        shown_epoch = f"{epoch:.2f}" if isinstance(epoch, float) else str(epoch)
        cells = [
            f"epoch {shown_epoch if epoch is not None else '-'}"
            + (f"/{total_epochs:g}" if isinstance(total_epochs, (int, float)) else ""),
            f"step {status.get('step', '-')}" + (f"/{status['total_steps']}"
                                                 if status.get("total_steps") else ""),
        ]
        if self.last_train.get(EventField.LOSS) is not None:
            cells.append(f"loss {self.last_train[EventField.LOSS]:.4f}")
        if self.evals and self.evals[-1].get(EventField.ACCURACY) is not None:
            cells.append(f"eval acc {percent(self.evals[-1][EventField.ACCURACY])}")
        if status.get(ResultKey.EVAL_ACCURACY) is not None:
            cells.append(f"best {percent(status[ResultKey.EVAL_ACCURACY])}")
        speed = status.get("samples_per_second") or self.last_train.get("samples_per_second")
        if speed:
            cells.append(f"{speed:.0f} samples/s")
        elapsed = live_elapsed(status, now)
        if elapsed is not None:
            cells.append(f"elapsed {duration(elapsed)}")
        eta = live_eta(status, now)
        if eta is not None:
            cells.append(f"ETA {duration(eta)}")
        # Wrapped between cells on a narrow terminal (``width``), never inside a value.
        return Group(header, bar, Text("\n".join(pack_plain(cells, width, "  "))))


class LogEcho:
    """Copies the run's training log (stdout.log) to a stream as it grows, whole lines only."""

    def __init__(self, paths: RunPaths, stream: Any):
        self.follower = FileFollower(paths.stdout)
        self.stream = stream

    def copy(self) -> None:
        chunk = self.follower.read_complete()
        if chunk:
            self.stream.write(chunk.decode("utf-8", errors="replace"))
            self.stream.flush()  # a redirected log shows each line as it happens


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
        echo = LogEcho(paths, console.file)
        while True:
            progress.poll()
            echo.copy()
            if finished():
                progress.poll()
                echo.copy()
                return progress.status
            time.sleep(interval)
    def view_now() -> Group:
        return progress.render(width=console.width)

    with Live(view_now(), console=console, refresh_per_second=4, transient=False) as view:
        while True:
            progress.poll()
            view.update(view_now())
            if finished():
                progress.poll()
                view.update(view_now())
                return progress.status
            time.sleep(interval)
