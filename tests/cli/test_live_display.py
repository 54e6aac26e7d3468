"""`emotui run`'s live display: elapsed counts up and the ETA down between the job's updates, and
a narrow terminal wraps between values, never inside one."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console

from cli_store import build_cli_store
from emotui.cli.follow import RunProgress


def render(progress: RunProgress, now: float, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    console.print(progress.render(now, width=width))
    return console.file.getvalue()


def test_elapsed_counts_up_and_eta_down(tmp_path):
    now = time.time()
    store = build_cli_store(tmp_path / "runs", now=now)
    progress = RunProgress(store.paths("261121-081500-ptext-ef4g"))
    progress.poll()
    # Measured 1 s before `now`: 42 s elapsed, 98 s to go.
    first = render(progress, now, 120)
    later = render(progress, now + 10, 120)
    assert "elapsed 43s" in first and "ETA 1m37s" in first
    assert "elapsed 53s" in later and "ETA 1m27s" in later
    assert "training" in first and "step 120/400" in first and "epoch 1.20/5" in first


def test_narrow_terminal_wraps_between_values(tmp_path):
    store = build_cli_store(tmp_path / "runs")
    progress = RunProgress(store.paths("261121-081500-ptext-ef4g"))
    progress.poll()
    progress.last_train = {"loss": 0.5123, "samples_per_second": 850.0}
    progress.evals = [{"accuracy": 0.9285}]
    text = render(progress, time.time(), 40)
    lines = text.splitlines()
    # Every value whole on one line (joining the lines with spaces would hide a split one).
    for value in ("loss 0.5123", "eval acc 92.85%", "step 120/400", "850 samples/s",
                  "epoch 1.20/5"):
        assert any(value in line for line in lines), text
    assert any(re.search(r"ETA \d+m\d+s", line) for line in lines), text
    assert all(len(line) <= 40 for line in lines)
