"""Launch a tiny-model run through the form on the local backend and watch it complete.

The job is a real detached process (emotui.launch local backend) training the tiny RoBERTa on
the toy data; the TUI only reads the run directory. Quitting the TUI leaves the job running, and
a new TUI picks it up with its live state.
"""

from __future__ import annotations

import pytest
from tui_helpers import wait_for

from emotui.core.runstore import RunStore
from emotui.core.status import read_status
from emotui.launch.base import process_alive
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.widgets.run_table import RunTable

# A detached job imports torch and trains: tens of seconds on 2 cores, so it is marked slow.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def fill(screen, name: str, value: str) -> None:
    screen.query_one(f"#field-{name}").value = value


async def test_launch_tiny_run_from_the_form_and_watch_it(runs_dir, make_app, tiny_model_dir,
                                                          toy_data_dir):
    store = RunStore(runs_dir)
    app = make_app(runs_dir, live=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.press("f2")  # LoRA
        await pilot.pause(0.2)
        screen = app.screen
        fill(screen, "model_name_or_path", str(tiny_model_dir))
        for split in ("train", "validation", "test"):
            fill(screen, f"{split}_file", str(toy_data_dir / f"{split}.jsonl"))
        fill(screen, "learning_rate", "0.005")
        fill(screen, "num_train_epochs", "3")
        fill(screen, "per_device_train_batch_size", "16")
        await pilot.pause(0.2)
        assert "peft_method: lora" in screen.preview_text, screen.preview_text
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        run_id = store.run_ids()[0]
        paths = store.paths(run_id)
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: run_id in table.rows, timeout=10)
        # Its detail while it trains: log lines and plot points arrive.
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        await wait_for(pilot, lambda: detail.series.loss
                       or read_status(paths).get("state") == "failed", timeout=180)
        assert detail.series.loss, paths.stderr.read_text()[-2000:]
        await wait_for(pilot, lambda: any(detail.log_lines.values()), timeout=60)
        await wait_for(pilot, lambda: detail.series.eval_acc, timeout=120)
    # The TUI has quit; the job has not.
    status = read_status(paths)
    if status["state"] == "running":
        assert process_alive(status)
    # A new TUI shows the run with its live state and watches it complete with metrics.
    app = make_app(runs_dir, live=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: run_id in table.rows, timeout=10)

        def state() -> str:
            return getattr(table.get_cell(run_id, "state"), "plain", "")

        await wait_for(pilot, lambda: state() in ("completed", "failed"), timeout=240)
        assert state() == "completed", read_status(paths)
        await wait_for(pilot, lambda: str(table.get_cell(run_id, "test")) != "-", timeout=10)
        # Percent, as people read accuracy (tui/formatting.py).
        assert float(str(table.get_cell(run_id, "test")).rstrip("%")) > 0
        assert float(str(table.get_cell(run_id, "eval")).rstrip("%")) > 0
