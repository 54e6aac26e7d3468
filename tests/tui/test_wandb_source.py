"""A W&B project beside the local store in the TUI, against the local W&B stand-in (never the live
service): merged and W&B-only rows in the table, a W&B run's detail and curves, comparing a
local run with a W&B run, read-only W&B rows, and a failing W&B that leaves the TUI usable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tui_helpers import wait_for
from fixture_store import FROZEN_NOW, RUNS, SWEEP_RUNS

sys.path.insert(0, str(Path(__file__).parents[1] / "tracking"))

from tracking_helpers import PLANTED_KEY, closed_port_url, isolate_wandb  # noqa: E402
from wandb_standin import StandIn, study_run  # noqa: E402

from emotui.tracking.wandb_api import (  # noqa: E402
    ProjectRuns, PublicApiClient, WandbProject, save_cache,
)
from emotui.tui.app import EmotuiApp, make_source, wandb_project_choice  # noqa: E402
from emotui.tui.screens.compare import CompareScreen  # noqa: E402
from emotui.tui.screens.confirm import ConfirmScreen  # noqa: E402
from emotui.tui.screens.detail import RunDetailScreen  # noqa: E402
from emotui.tui.sources import LocalRunSource, ReadOnlyRunSource, RowBatch  # noqa: E402
from emotui.tui.sources.combined import CombinedRunSource  # noqa: E402
from emotui.tui.sources.wandb import WandbRunSource  # noqa: E402
from emotui.tui.widgets.run_table import RunTable  # noqa: E402

pytestmark = pytest.mark.anyio
STUDY = "study-team/emotion"
LOCAL = "251120-091500-full-ab2c"  # a completed local fixture run, logged to W&B as well
ALL_LOCAL = len(RUNS) + len(SWEEP_RUNS)


def study_runs() -> list[dict]:
    return [
        study_run("full1", lr=2e-5, peft=None, eval_acc=0.938, test_acc=0.9285),
        study_run("lora1", lr=2e-3, peft="lora", lora_r=8, eval_acc=0.939, test_acc=0.933),
        # The local run's W&B twin: emotui logs under the run id and names it in the config.
        study_run(LOCAL, lr=2e-5, peft=None, eval_acc=0.929, test_acc=0.925,
                  extra_config={"emotui_run_id": LOCAL},
                  extra_summary={"train/global_step": 1250}),
    ]


@pytest.fixture(autouse=True)
def wandb_sandbox(monkeypatch, tmp_path) -> Path:
    """Private HOME and caches, no W&B settings from outside (as in tests/tracking)."""
    home = isolate_wandb(monkeypatch, tmp_path / "home")
    return home


@pytest.fixture
def standin(monkeypatch):
    with StandIn({STUDY: study_runs()}, api_key=PLANTED_KEY) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
        yield server


@pytest.fixture(name="closed_port_url")
def closed_port_url_fixture() -> str:
    return closed_port_url()


def make_combined_app(root: Path, tmp_path: Path) -> EmotuiApp:
    clock = lambda: FROZEN_NOW  # noqa: E731
    local = LocalRunSource(root, ask_backends_every=None, clock=clock)
    remote = WandbRunSource(WandbProject("study-team", "emotion", PublicApiClient(timeout=10)))
    return EmotuiApp(CombinedRunSource(local, remote), clock=clock,
                     export_dir=tmp_path / "exports", poll_interval=0.2, store_label="runs")


def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_wandb_rows_beside_local_runs_detail_and_compare(standin, fixture_runs, tmp_path):
    app = make_combined_app(fixture_runs, tmp_path)
    async with app.run_test(size=(150, 36)) as pilot:
        screen = app.screen
        table = screen.query_one(RunTable)
        # Every local run, plus the two W&B-only runs; the linked W&B run merged into its twin.
        await wait_for(pilot, lambda: table.row_count == ALL_LOCAL + 2, timeout=30)
        assert {"full1", "lora1"} <= set(table.rows_by_id)
        assert table.rows_by_id["full1"]["source"] == "wandb"
        merged = screen.all_rows[LOCAL]
        assert merged["source"] == "local+wandb"
        assert merged["wandb_url"].endswith(f"/{STUDY}/runs/{LOCAL}")
        assert merged["test_accuracy"] == 0.9250  # the local results win over W&B's summary
        assert table.get_cell("full1", "id").plain == "full1 W&B"
        assert table.get_cell(LOCAL, "id").plain == f"{LOCAL} +W&B"
        assert screen.all_rows["lora1"]["method"] == "lora"
        # Newest first across sources: the W&B runs (May 2025) below the local ones (Nov 2025).
        order = [row.key.value for row in table.ordered_rows]
        assert order[-2:] == ["lora1", "full1"] and order[0].startswith("2511")
        # W&B knows the start and the training time (HF's train_runtime), not the end.
        assert table.get_cell("full1", "elapsed").plain == "3m27s"

        # A W&B row is read-only: delete refuses with a notice, no confirmation is asked.
        table.move_cursor(row=table.get_row_index("full1"))
        await pilot.press("d")
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("read-only" in n for n in notices(app))
        # The filter finds W&B rows by their source.
        await pilot.press("slash", *"wandb", "enter")
        assert set(table.rows_by_id) >= {"full1", "lora1", LOCAL}
        assert table.row_count == 3
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == ALL_LOCAL + 2)

        # Its detail: curves from the W&B history, the summary says where it lives.
        table.move_cursor(row=table.get_row_index("full1"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        detail = app.screen
        await wait_for(pilot, lambda: len(detail.series.eval_acc) == 5, timeout=20)
        assert detail.series.eval_acc[-1] == (5, 0.938)
        assert detail.series.loss[0] == (250, 1.5)
        summary = str(detail.query_one("#detail-summary").render())
        assert "completed" in summary and f"/{STUDY}/runs/full1" in summary
        assert "learning_rate: 2.0e-05" in app.source.detail("full1").config_text
        await pilot.press("4")
        assert "test accuracy 92.85" in str(detail.query_one("#results-note").render())
        await pilot.press("x")  # cancel: refused for a W&B run
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")

        # Compare a local run with a W&B run: both columns, both curves.
        table = app.screen.query_one(RunTable)
        table.move_cursor(row=table.get_row_index(LOCAL))
        await pilot.press("space")
        table.move_cursor(row=table.get_row_index("lora1"))
        await pilot.press("space", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        await wait_for(pilot, lambda: compare.curves is not None and len(compare.runs) == 2,
                       timeout=20)
        assert len(compare.curves[LOCAL]) == 5 and len(compare.curves["lora1"]) == 5
        by_id = {r["run_id"]: r for r in compare.runs}
        assert by_id["lora1"]["results"]["test_accuracy"] == 0.933
        assert by_id[LOCAL]["results"]["test_accuracy"] == 0.9250
        assert by_id["lora1"]["config"]["method"] == "lora"


async def test_rejected_key_leaves_the_tui_usable_with_one_notice(standin, fixture_runs,
                                                                  tmp_path):
    standin.mode = "unauthorized"
    app = make_combined_app(fixture_runs, tmp_path)
    async with app.run_test(size=(150, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == ALL_LOCAL)
        await wait_for(pilot, lambda: any(n.startswith(f"W&B {STUDY}:") for n in notices(app)),
                       timeout=30)
        [notice] = [n for n in notices(app) if n.startswith("W&B")]
        assert "\n" not in notice
        assert table.row_count == ALL_LOCAL  # local runs only, every action still there
        table.move_cursor(row=table.get_row_index(LOCAL))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await wait_for(pilot, lambda: app.screen.series.eval_acc)


async def test_unreachable_wandb_shows_the_cached_rows(monkeypatch, closed_port_url,
                                                       fixture_runs, tmp_path):
    monkeypatch.setenv("WANDB_BASE_URL", closed_port_url)
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    record = {"id": "old1", "name": "old", "entity": "study-team", "project": "emotion",
              "state": "finished", "config": {"learning_rate": 1e-5},
              "summary": {"eval/accuracy": 0.9, "test/accuracy": 0.89}, "source": "wandb"}
    save_cache(ProjectRuns("study-team", "emotion", [record], FROZEN_NOW - 3600), "study-team")
    app = make_combined_app(fixture_runs, tmp_path)
    async with app.run_test(size=(150, 36)) as pilot:
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: table.row_count == ALL_LOCAL + 1)
        assert table.rows_by_id["old1"]["test_accuracy"] == 0.89
        await wait_for(pilot, lambda: any("unreachable" in n for n in notices(app)), timeout=20)
        assert any("showing cached runs" in n for n in notices(app))
        # The cached run's detail opens; its curves were never fetched: the summary says why.
        table.move_cursor(row=table.get_row_index("old1"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await wait_for(pilot, lambda: "curves unavailable" in str(
            app.screen.query_one("#detail-summary").render()), timeout=20)


class FakeRemote(ReadOnlyRunSource):
    """A remote source whose rows the test sets between polls."""

    name = "wandb:e/p"

    def __init__(self):
        self.rows: dict[str, dict] = {}
        self.seen: dict[str, dict] = {}

    def poll(self):
        batch = RowBatch(removed=[r for r in self.seen if r not in self.rows],
                         changed=[r for k, r in self.rows.items() if self.seen.get(k) != r])
        self.seen = dict(self.rows)
        yield batch


def remote_row(run_id: str, linked: str | None = None, **values) -> dict:
    return {"run_id": run_id, "source": "wandb", "linked_run_id": linked, "status": "completed",
            "wandb_run_id": run_id, "wandb_url": f"https://wandb.test/{run_id}", **values}


def drain(source) -> tuple[dict[str, dict], set[str]]:
    changed, removed = {}, set()
    for batch in source.poll():
        for rid in batch.removed:
            removed.add(rid)
            changed.pop(rid, None)
        changed.update({r["run_id"]: r for r in batch.changed})
    return changed, removed


def test_combined_source_links_and_unlinks_remote_rows(fixture_runs):
    remote = FakeRemote()
    source = CombinedRunSource(LocalRunSource(fixture_runs, ask_backends_every=None), remote)
    remote.rows = {"w1": remote_row("w1"), "w2": remote_row("w2", linked=LOCAL, eval_accuracy=1)}
    changed, _ = drain(source)
    assert len(changed) == ALL_LOCAL + 1  # w2 merged into its local run
    assert changed["w1"]["source"] == "wandb" and "w2" not in changed
    assert changed[LOCAL]["source"] == "local+wandb"
    assert changed[LOCAL]["wandb_url"] == "https://wandb.test/w2"
    assert source.is_controllable(LOCAL) and not source.is_controllable("w1")
    # The W&B run now names another local run: the first goes back to local-only.
    other = RUNS[1][0]
    remote.rows["w2"] = remote_row("w2", linked=other)
    changed, removed = drain(source)
    assert changed[LOCAL]["source"] == "local" and changed[other]["source"] == "local+wandb"
    # A W&B run disappears from the project: its row goes; a linked one leaves its local row.
    del remote.rows["w1"], remote.rows["w2"]
    changed, removed = drain(source)
    assert removed == {"w1"} and changed[other]["source"] == "local"
    # A local run deleted while its W&B twin stays: the twin becomes a row of its own.
    remote.rows["w3"] = remote_row("w3", linked=other)
    drain(source)
    import shutil

    shutil.rmtree(fixture_runs / other)
    source.local.full_scan_every = 1
    changed, removed = drain(source)
    assert other in removed and changed["w3"]["source"] == "wandb"
    assert not source.is_controllable("w3")


def test_project_choice_from_flag_or_user_config(monkeypatch, tmp_path, fixture_runs):
    config = tmp_path / "config.yaml"
    config.write_text("wandb:\n  project: emotui\n  tui_project: team/study\n", encoding="utf-8")
    monkeypatch.setenv("EMOTUI_CONFIG", str(config))
    assert wandb_project_choice(None) == "team/study"
    assert wandb_project_choice("other/proj") == "other/proj"
    assert wandb_project_choice("none") is None
    source = make_source(fixture_runs, None)
    assert isinstance(source, CombinedRunSource) and source.remote.path == "team/study"
    assert isinstance(make_source(fixture_runs, "none"), LocalRunSource)
    # tui_project is emotui's key, not a wandb.init setting: runs still resolve their settings.
    from emotui.tracking.settings import resolve

    assert resolve().project == "emotui"
