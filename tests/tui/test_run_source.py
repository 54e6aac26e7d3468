"""The TUI depends only on the RunSource interface: a source without files (like W&B) works."""

from __future__ import annotations

import pytest
from tui_helpers import wait_for

from emotui.tui.app import EmotuiApp
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.sources import LocalRunSource, ReadOnlyRunSource, RowBatch, RunDetail
from emotui.tui.widgets.run_table import RunTable

pytestmark = pytest.mark.anyio
ROW = {"run_id": "wandb-abc123", "status": "completed", "method": "lora", "learning_rate": 1e-3,
       "eval_accuracy": 0.9, "test_accuracy": 0.89, "sweep_id": None, "source": "wandb"}
EVENTS = [{"split": "train", "step": 10, "loss": 1.2, "learning_rate": 1e-3},
          {"split": "eval", "step": 20, "epoch": 1.0, "accuracy": 0.9, "macro_f1": 0.88}]


class RemoteSource(ReadOnlyRunSource):
    """A stand-in remote source: rows and details from memory, nothing to control."""

    name = "remote"

    def __init__(self):
        self.sent = False

    def poll(self):
        if not self.sent:
            self.sent = True
            yield RowBatch(changed=[dict(ROW)], known=1, complete=True)
        else:
            yield RowBatch(known=1, complete=True)

    def detail(self, run_id):
        return RunDetail(run_id=run_id, row=dict(ROW), status={}, config={"method": "lora"},
                         config_text="method: lora\n", results={}, events=EVENTS)


async def test_a_source_without_files_shows_rows_and_plots():
    app = EmotuiApp(RemoteSource(), poll_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("x")  # not controllable: a warning, nothing else
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.series.eval_acc)
        assert app.screen.series.loss == [(10, 1.2)]


def test_local_source_polls_incrementally(fixture_runs):
    source = LocalRunSource(fixture_runs, ask_backends_every=None, first_batch_size=3)
    batches = list(source.poll())
    assert len(batches[0].changed) == 3 and not batches[0].complete  # first screenful first
    assert sum(len(b.changed) for b in batches) == 10 and batches[-1].complete
    assert sum(len(b.changed) for b in source.poll()) == 0  # nothing changed, nothing re-read
    (fixture_runs / "251120-091500-full-ab2c" / "status.json").write_text(
        '{"state": "failed", "reason": "x"}')
    import os
    os.utime(fixture_runs / "251120-091500-full-ab2c" / "status.json", ns=(1, 10**18))
    for _ in range(source.full_scan_every):  # finished runs are re-checked on a full scan
        changed = [r for b in source.poll() for r in b.changed]
        if changed:
            break
    assert [r["status"] for r in changed] == ["failed"]
    import shutil
    shutil.rmtree(fixture_runs / "251121-111500-lora-mn7p")
    assert [b.removed for b in source.poll()][0] == ["251121-111500-lora-mn7p"]


def test_run_tui_refuses_a_file_as_store(tmp_path):
    from emotui.core.errors import ConfigError
    from emotui.tui.app import run_tui

    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        run_tui(str(not_a_folder))
