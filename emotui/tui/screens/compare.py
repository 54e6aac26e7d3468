"""Compare: selected runs side by side (differing config, metrics, cost), overlaid eval curves,
and the table exported to CSV, Markdown, LaTeX or Typst (emotui.core.export)."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static
from textual_plotext import PlotextPlot

from emotui.core.events import read_all
from emotui.core.export import FILE_SUFFIXES, export_rows
from emotui.tui import formatting as fmt
from emotui.tui.messages import CurvesLoaded
from emotui.tui.widgets.plots import draw

EXPORT_FORMATS = (("CSV", "csv"), ("Markdown", "md"), ("LaTeX", "latex"), ("Typst", "typst"))
METRIC_KEYS = ("best_epoch", "eval_accuracy", "eval_macro_f1", "test_accuracy", "test_macro_f1")
COST_KEYS = ("trainable_params", "total_params", "checkpoint_bytes", "train_runtime_s",
             "train_samples_per_second", "peak_gpu_memory_bytes")
# Config keys never worth a comparison row.
SKIP_CONFIG = {"output_dir", "overwrite_output_dir", "disable_tqdm", "run_name",
               "extra_training_args"}
COST_FORMAT = {"trainable_params": fmt.count, "total_params": fmt.count,
               "checkpoint_bytes": fmt.byte_size, "peak_gpu_memory_bytes": fmt.byte_size,
               "train_runtime_s": fmt.duration,
               "train_samples_per_second": lambda v: fmt.number(v, 1)}


def differing_keys(configs: list[dict[str, Any]], show_all: bool) -> list[str]:
    keys: list[str] = []
    for config in configs:
        keys += [k for k in config if k not in keys and k not in SKIP_CONFIG]
    if show_all:
        return keys
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def comparison_rows(runs: list[dict[str, Any]], show_all: bool) -> tuple[list[str], list[dict]]:
    """(columns, one row per run) for export: id, method, config keys, metrics, cost."""
    config_keys = differing_keys([r["config"] for r in runs], show_all)
    columns = ["run_id", "method", *config_keys, *METRIC_KEYS, *COST_KEYS]
    rows = []
    for run in runs:
        row = {"run_id": run["run_id"], "method": run["config"].get("method")}
        row.update({k: run["config"].get(k) for k in config_keys})
        row.update({k: run["results"].get(k, run["row"].get(k)) for k in (*METRIC_KEYS,
                                                                           *COST_KEYS)})
        rows.append(row)
    return columns, rows


class CompareScreen(Screen):
    """The chosen runs as columns; rows are config keys that differ, metrics and costs."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "toggle_all", "All/differing keys"),
        Binding("e", "export", "Export"),
        Binding("f", "cycle_format", "Format"),
    ]

    def __init__(self, run_ids: list[str]):
        super().__init__()
        self.run_ids = run_ids
        self.show_all = False
        self.runs: list[dict[str, Any]] = []
        self.curves: dict[str, list] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compare-body"):
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield PlotextPlot(id="compare-plot")
        with Horizontal(id="compare-bar"):
            yield Static("", id="compare-status")
            yield Select(EXPORT_FORMATS, value="csv", allow_blank=False, compact=True,
                         id="export-format")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "compare"
        self.sub_title = f"{len(self.run_ids)} runs"
        self.load_runs()

    def extra_commands(self):
        """Palette-only commands: one export per format."""
        for label, key in EXPORT_FORMATS:
            yield f"Export {label}", f"Export the comparison as {label}", (
                lambda key=key: self.export(key))

    @work(thread=True, name="load-compare", group="compare", exclusive=True)
    def load_runs(self) -> None:
        runs, curves = [], {}
        for rid in self.run_ids:
            detail = self.app.source.detail(rid)
            runs.append({"run_id": rid, "config": detail.config, "results": detail.results,
                         "row": detail.row})
            events = read_all(detail.metrics_path) if detail.metrics_path else detail.events
            curves[rid] = [(e.get("epoch") or e["step"], e["accuracy"]) for e in events or []
                           if e.get("split") == "eval" and e.get("accuracy") is not None]
        self.app.call_from_thread(self._set_runs, runs)
        self.post_message(CurvesLoaded(curves))

    def _set_runs(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        self.paint_table()

    @on(CurvesLoaded)
    def _paint_curves(self, message: CurvesLoaded) -> None:
        self.curves = message.curves
        draw(self.query_one(PlotextPlot), "eval accuracy", "epoch",
             [(rid[-9:], points) for rid, points in message.curves.items()])

    def paint_table(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        table.add_column("", key="key")
        for run in self.runs:
            table.add_column(run["run_id"], key=run["run_id"])
        columns, rows = comparison_rows(self.runs, self.show_all)
        section = None
        for key in columns[1:]:
            kind = "metrics" if key in METRIC_KEYS else "cost" if key in COST_KEYS else "config"
            if kind != section:
                section = kind
                title = "config (all)" if kind == "config" and self.show_all else \
                    "config (differs)" if kind == "config" else kind
                table.add_row(Text(title, style="bold"), *[""] * len(rows))
            values = [r.get(key) for r in rows]
            table.add_row(key, *self._cells(key, values))
        self._paint_status()

    def _cells(self, key: str, values: list[Any]) -> list[Any]:
        if key in COST_FORMAT:
            return [COST_FORMAT[key](v) for v in values]
        if key in METRIC_KEYS and key != "best_epoch":
            numbers = [v for v in values if v is not None]
            best = max(numbers) if numbers else None
            return [Text(fmt.percent(v), style="bold green" if v == best and v is not None
                         else "") for v in values]
        return [fmt.compact_float(v) if not isinstance(v, str) else v for v in values]

    def _paint_status(self) -> None:
        mode = "all config keys" if self.show_all else "config keys that differ"
        self.query_one("#compare-status", Static).update(
            f"{len(self.runs)} runs · {mode} · a: toggle · e: export as")

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.paint_table()

    def action_cycle_format(self) -> None:
        select = self.query_one("#export-format", Select)
        keys = [k for _, k in EXPORT_FORMATS]
        select.value = keys[(keys.index(select.value) + 1) % len(keys)]

    def action_export(self) -> None:
        self.export(str(self.query_one("#export-format", Select).value))

    def export(self, fmt_key: str) -> None:
        if not self.runs:
            self.notify("Still loading the runs.", severity="warning")
            return
        columns, rows = comparison_rows(self.runs, self.show_all)
        text = export_rows(rows, columns, fmt_key)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        out_dir = self.app.export_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"compare-{stamp}{FILE_SUFFIXES[fmt_key]}"
        path.write_text(text, encoding="utf-8")
        self.notify(str(path), title=f"Exported {fmt_key}")
