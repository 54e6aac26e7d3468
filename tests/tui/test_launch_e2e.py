"""Launch a tiny-model run through the form on the local backend and watch it complete.

The job is a real detached process (emotui.launch local backend) training the tiny RoBERTa on
the toy data; the TUI only reads the run directory. Quitting the TUI leaves the job running.
"""

from __future__ import annotations

import pytest
from conftest import wait_for

from emotui.core.status import read_status
from emotui.core.runstore import RunStore
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.screens.launch import LaunchScreen
from emotui.tui.widgets.run_table import RunTable

# A detached job imports torch and trains: tens of seconds on 2 cores, so it is marked slow.
pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def fill(screen, name: str, value: str) -> None:
    screen.query_one(f"#field-{name}").value = value


async def test_launch_tiny_run_from_the_form_and_watch_it(runs_dir, make_app, tiny_model_dir,
                                                          toy_data_dir):
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
        fill(screen, "num_train_epochs", "2")
        fill(screen, "per_device_train_batch_size", "32")
        await pilot.pause(0.2)
        assert "peft_method: lora" in screen.preview_text, screen.preview_text
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        run_id = RunStore(runs_dir).run_ids()[0]
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: run_id in table.rows, timeout=10)
        # Open its detail while it trains: log lines and plot points arrive.
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        await wait_for(pilot, lambda: detail.series.loss or
                       read_status(RunStore(runs_dir).paths(run_id)).get("state") == "failed",
                       timeout=120)
        assert detail.series.loss, RunStore(runs_dir).paths(run_id).stderr.read_text()[-2000:]
        await wait_for(pilot, lambda: any(detail.log_lines.values()), timeout=60)
        await wait_for(pilot, lambda: len(detail.series.eval_acc) == 2, timeout=180)
        await pilot.press("escape")
        # Back home: the row completes with its metrics.
        table = app.screen.query_one(RunTable)

        def state() -> str:
            return getattr(table.get_cell(run_id, "state"), "plain", "")

        await wait_for(pilot, lambda: state() in ("completed", "failed"), timeout=180)
        assert state() == "completed", read_status(RunStore(runs_dir).paths(run_id))
        await wait_for(pilot, lambda: table.get_cell(run_id, "test") != "-", timeout=10)
        assert float(table.get_cell(run_id, "test")) > 0
        assert float(table.get_cell(run_id, "eval")) > 0
