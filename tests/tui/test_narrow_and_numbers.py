"""The TUI at 80x24 and its numbers: columns by importance, a footer that fits, one plot at a
time, percentages by one rule, compare legends and rows, the empty store's hint, where files
are written, the remembered form's paths, the detail header's phase."""

from __future__ import annotations

import os

import pytest

from fixture_store import FROZEN_NOW, RUNS, SWEEP_RUNS
from tui_helpers import wait_for

from emotui.tui import formatting as fmt
from emotui.tui.app import default_export_dir
from emotui.tui.screens.compare import differing_keys, pareto_points
from emotui.tui.screens.detail import RunDetailScreen
from emotui.tui.widgets.footer import FooterKey, KeysFooter
from emotui.tui.widgets.plot_grid import PlotGrid
from emotui.tui.widgets.plots import MetricPlot, percent_ticks
from emotui.tui.widgets.run_columns import COLUMNS, column_order
from emotui.tui.widgets.run_table import RunTable

ALL = len(RUNS) + len(SWEEP_RUNS)
pytestmark = pytest.mark.anyio


async def _home(pilot) -> RunTable:
    await wait_for(pilot, lambda: pilot.app.screen.query(RunTable)
                   and pilot.app.screen.query_one(RunTable).row_count == ALL
                   and not pilot.app.screen.scanning)
    await pilot.pause()
    return pilot.app.screen.query_one(RunTable)


def _header(table: RunTable) -> str:
    return table.render_line(0).text


async def test_home_at_80_columns_orders_columns_by_importance(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        header = _header(await _home(pilot))
        shown = header[:80]
        for name in ("state", "method", "eval acc", "test acc"):
            assert name in shown, header
        keys = [COLUMNS[i].key for i in column_order(app.screen.query_one(RunTable).size.width)]
        order = [keys.index(k) for k in ("state", "method", "eval", "test", "reason",
                                         "elapsed", "backend")]
        assert order == sorted(order), keys
        # The footer: whole keys that fit, the rest behind "^p more".
        keys = [k for k in app.screen.query(FooterKey) if k.display]
        assert keys and all(k.region.right <= 80 for k in keys)
        assert any(k.key_display == "^p" for k in keys)
    async with make_app(fixture_runs).run_test(size=(160, 45)) as pilot:
        header = _header(await _home(pilot))
        assert header.index("progress") < header.index("eval acc")  # the wide order
        assert "elapsed" in header and "backend" in header


async def test_accuracy_is_a_percentage_everywhere(fixture_runs, make_app):
    assert fmt.percent(0.8167) == "81.67%" == fmt.percent_sign(0.8167)
    assert percent_ticks(0.78, 0.86)[1] == ["78%", "80%", "82%", "84%", "86%"]
    async with make_app(fixture_runs).run_test(size=(160, 45)) as pilot:
        table = await _home(pilot)
        cell = table.get_cell("251120-091500-full-ab2c", "eval").plain
        assert cell.endswith("%"), cell


async def test_detail_at_80x24_shows_one_plot_at_a_time(fixture_runs, make_app):
    app = make_app(fixture_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _home(pilot)
        table.move_cursor(row=table.get_row_index("251120-091500-full-ab2c"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                       and app.screen.series.eval_acc)
        await pilot.pause()
        grid = app.screen.query_one(PlotGrid)
        assert grid.single

        def shown() -> list[str]:
            return [p.id for p in grid.query(MetricPlot) if p.display and p.region.height]
        assert shown() == ["plot-loss"]
        assert app.screen.query_one("#plot-loss", MetricPlot).region.height >= 12
        await pilot.press("p")
        await pilot.pause()
        assert shown() == ["plot-eval"]
    async with make_app(fixture_runs).run_test(size=(160, 45)) as pilot:
        await _home(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen))
        await pilot.pause()
        assert not pilot.app.screen.query_one(PlotGrid).single


def test_detail_header_names_the_phase_and_its_count():
    row = {"status": "running", "phase": "evaluating", "pass_done": 640, "pass_total": 2000}
    assert fmt.phase_state(row).plain == "evaluating 640/2,000"
    assert fmt.state_text(row).plain == "evaluating"  # a table cell stays short
    assert fmt.phase_state({"status": "completed", "collapsed": True}).plain == "collapsed"


def test_compare_legends_and_rows():
    def run(run_id, method, params, acc, **config):
        return {"run_id": run_id, "config": {"method": method, **config},
                "row": {"status": "completed"},
                "results": {"trainable_params": params, "test_accuracy": acc}}
    runs = [run("251202-101600-ptext-8wkg", "prompt-text", 30000, 0.8, seed=1),
            run("251202-101700-lora-ab12", "lora", 30000, 0.85, seed=2)]
    labels = sorted(p.label for p in pareto_points(runs)[0])
    assert labels == ["lora-ab12", "ptext-8wkg"]  # whole parts of the ids, never "text-8wkg"
    configs = [{"method": "lora", "peft_method": "LORA", "method_defaults": ["learning_rate"],
                "lora_r": 8, "prefix_num_virtual_tokens": 20},
               {"method": "ia3", "peft_method": "IA3", "method_defaults": [],
                "lora_r": 8, "prefix_num_virtual_tokens": 30}]
    keys = differing_keys(configs, show_all=True)
    assert "peft_method" not in keys and "method_defaults" not in keys
    assert "prefix_num_virtual_tokens" not in keys  # neither run is a prefix-tuning run


async def test_pareto_with_equal_parameter_counts_has_x_ticks():
    from textual.app import App
    from textual_plotext import PlotextPlot

    from emotui.tui.widgets.plots import draw_pareto

    class One(App):
        def compose(self):
            yield PlotextPlot(id="p")  # as the compare screen draws it

    async with One().run_test(size=(100, 30)) as pilot:
        plot = pilot.app.query_one(PlotextPlot)
        draw_pareto(plot, "t", "trainable parameters (log)", "acc",
                    [("lora", [(30000.0, 0.8), (30000.0, 0.85)])], [(30000.0, 0.85)])
        await pilot.pause()
        text = "\n".join(plot.render_line(y).text for y in range(plot.size.height))
        assert "30.0k" in text, text
        assert "85%" in text or "84%" in text, text


async def test_an_empty_store_says_how_to_start(tmp_path, make_app):
    async with make_app(tmp_path / "empty").run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: not pilot.app.screen.scanning)
        await pilot.pause()
        status = str(pilot.app.screen.query_one("#runs-status").render())
        assert "n starts a new run" in status and "emotui demo" in status


def test_files_go_under_the_store_or_the_configured_folder(tmp_path, monkeypatch):
    from emotui.tui.sources import LocalRunSource

    source = LocalRunSource(tmp_path / "runs", ask_backends_every=None)
    monkeypatch.delenv("EMOTUI_EXPORT_DIR", raising=False)
    assert default_export_dir(source) == (tmp_path / "runs").absolute() / "exports"
    monkeypatch.setenv("EMOTUI_EXPORT_DIR", str(tmp_path / "mine"))
    assert default_export_dir(source) == tmp_path / "mine"
    assert os.getcwd() not in str(default_export_dir(source)) or \
        str(tmp_path).startswith(os.getcwd())


def test_remembered_paths_are_absolute(tmp_path, monkeypatch):
    from emotui.tui import form_start, memory

    monkeypatch.setattr(memory, "user_state_dir", lambda: tmp_path / "state", raising=False)
    saved = {}
    monkeypatch.setattr(form_start, "remember", lambda **kw: saved.update(kw))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\n")
    (tmp_path / "sweep.yaml").write_text("method: grid\n")
    monkeypatch.chdir(tmp_path)
    form_start.remember_submitted(form_start.FormStart(
        "lora", {"train_file": "data/train.csv", "model_name_or_path": "org/hub-model"},
        sweep_file="sweep.yaml"))
    kept = saved[form_start.MEMORY_KEY]
    assert kept["values"]["train_file"] == str(tmp_path / "data" / "train.csv")
    assert kept["values"]["model_name_or_path"] == "org/hub-model"  # a Hub id, as typed
    assert kept["sweep_file"] == str(tmp_path / "sweep.yaml")


def test_frozen_clock_is_the_fixtures():
    assert FROZEN_NOW > 0  # the snapshots' time (keeps the import honest)
