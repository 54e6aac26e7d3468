"""Compare: selected runs side by side (differing config, metrics, cost), overlaid eval curves or
the Pareto view (accuracy against trainable parameters), the table exported to CSV, Markdown,
LaTeX or Typst (emotui.core.export), and the runs' report (emotui report) written as HTML."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Iterator

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Select, Static
from textual_plotext import PlotextPlot

from emotui.core import methods
from emotui.core.events import summary_events
from emotui.core.export import FILE_SUFFIXES, distinct_columns, export_rows
from emotui.core.vocabulary import Event, EventField, ResultKey
from emotui.core.run_names import legend_names
from emotui.report.pareto import pareto_front
from emotui.report.seed_rows import configurations
from emotui.tui import formatting as fmt
from emotui.tui.commands import PaletteCommand
from emotui.tui.messages import ComparisonExported, ComparisonLoaded, CurvesLoaded, ReportWritten
from emotui.tui.outcomes import deliver, notify_report, report_outcome
from emotui.tui.widgets.footer import KeysFooter
from emotui.tui.widgets.plots import draw, draw_pareto
from emotui.tui.worker_errors import WorkerErrors

EXPORT_FORMATS = (("CSV", "csv"), ("Markdown", "md"), ("LaTeX", "latex"), ("Typst", "typst"))
METRIC_KEYS = (ResultKey.BEST_EPOCH, ResultKey.EVAL_ACCURACY, ResultKey.EVAL_MACRO_F1,
               ResultKey.TEST_ACCURACY, ResultKey.TEST_MACRO_F1)
COST_KEYS = (ResultKey.TRAINABLE_PARAMS, ResultKey.TOTAL_PARAMS, ResultKey.CHECKPOINT_BYTES,
             ResultKey.TRAIN_RUNTIME_S, ResultKey.TRAIN_SAMPLES_PER_SECOND,
             ResultKey.PEAK_GPU_MEMORY_BYTES)
# Config keys never worth a comparison row: ``peft_method`` says what the method row says, and
# which settings a method's defaults filled in is bookkeeping, not a setting.
SKIP_CONFIG = {"output_dir", "overwrite_output_dir", "disable_tqdm", "run_name",
               "extra_training_args", "peft_method", methods.DEFAULTS_FIELD}
COST_FORMAT = {ResultKey.TRAINABLE_PARAMS: fmt.count, ResultKey.TOTAL_PARAMS: fmt.count,
               ResultKey.CHECKPOINT_BYTES: fmt.size, ResultKey.PEAK_GPU_MEMORY_BYTES: fmt.size,
               ResultKey.TRAIN_RUNTIME_S: fmt.duration,
               ResultKey.TRAIN_SAMPLES_PER_SECOND: lambda v: fmt.number(v, 1)}


def differing_keys(configs: list[dict[str, Any]], show_all: bool) -> list[str]:
    """The config rows: keys that differ (or all), less those owned only by methods none of
    these runs used (an IA3 run's config.yaml also holds LoRA's defaults)."""
    used = {c.get("method") for c in configs}
    keys: list[str] = []
    for config in configs:
        keys += [k for k in config if k not in keys and k not in SKIP_CONFIG
                 and (not methods.owners(k) or used & set(methods.owners(k)))]
    if show_all:
        return keys
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def comparison_rows(runs: list[dict[str, Any]], show_all: bool) -> tuple[list[str], list[dict]]:
    """(columns, one row per run) for export: id, method, config keys, metrics, cost."""
    config_keys = differing_keys([r["config"] for r in runs], show_all)
    columns = distinct_columns(["run_id", "method", *config_keys, *METRIC_KEYS, *COST_KEYS])
    rows = []
    for run in runs:
        row = {"run_id": run["run_id"], "method": run["config"].get("method")}
        row.update({k: run["config"].get(k) for k in config_keys})
        row.update({k: run["results"].get(k, run["row"].get(k)) for k in (*METRIC_KEYS,
                                                                           *COST_KEYS)})
        rows.append(row)
    return columns, rows


@dataclass(frozen=True)
class ParetoPoint:
    """A configuration of the compared runs (runs that differ only by seed: one, at their
    mean) placed by its trainable parameters and accuracy."""

    label: str
    method: str | None
    params: float
    accuracy: float
    extra: str = ""  # " +2": the seed replicas beside the run it is named by


def pareto_points(runs: list[dict[str, Any]]) -> tuple[list[ParetoPoint], list[int], str]:
    """(points, indices of the points on the Pareto front, the accuracy used): test accuracy,
    or validation accuracy where no run has a test accuracy yet. The grouping and the front
    are the report's own (report.select, report.pareto)."""
    keys = (ResultKey.TRAINABLE_PARAMS, ResultKey.TEST_ACCURACY, ResultKey.EVAL_ACCURACY)
    rows = [{"run_id": r["run_id"], "method": r["config"].get("method") or r["row"].get("method"),
             "status": r["row"].get("status"),
             **{k: r["results"].get(k, r["row"].get(k)) for k in keys}} for r in runs]
    tested = any(row[ResultKey.TEST_ACCURACY] is not None for row in rows)
    metric = ResultKey.TEST_ACCURACY if tested else ResultKey.EVAL_ACCURACY
    points = []
    for config in configurations(rows, {r["run_id"]: r["config"] for r in runs}):
        params, accuracy = config.stat(ResultKey.TRAINABLE_PARAMS).mean, config.stat(metric).mean
        if params is None or params <= 0 or accuracy is None:
            continue
        extra = f" +{len(config.runs) - 1}" if len(config.runs) > 1 else ""
        first = min(r.run_id for r in config.runs)  # the same name whatever the order
        points.append(ParetoPoint(first, config.method, params, accuracy, extra))
    # A whole part of each id (core.run_names), never its last characters.
    names = legend_names(p.label for p in points)
    points = [replace(p, label=names[p.label] + p.extra) for p in points]
    return points, pareto_front([(p.params, p.accuracy) for p in points]), metric


class CompareScreen(WorkerErrors, Screen):
    """The chosen runs as columns; rows are config keys that differ, metrics and costs."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "toggle_all", "All/differing keys"),
        Binding("e", "export", "Export"),
        Binding("f", "cycle_format", "Format"),
        Binding("p", "toggle_pareto", "Pareto/curves"),
        Binding("r", "write_report", "Report"),
    ]

    def __init__(self, run_ids: list[str]):
        super().__init__()
        self.run_ids = run_ids
        self.show_all = False
        self.runs: list[dict[str, Any]] = []
        self.curves: dict[str, list] | None = None
        self.pareto = False  # the plot shows the Pareto view instead of the eval curves

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compare-body"):
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield PlotextPlot(id="compare-plot")
        with Horizontal(id="compare-bar"):
            yield Static("", id="compare-status")
            yield Select(EXPORT_FORMATS, value="csv", allow_blank=False, compact=True,
                         id="export-format")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = "compare"
        self.sub_title = f"{len(self.run_ids)} runs"
        self.load_runs()

    def palette_commands(self) -> Iterator[PaletteCommand]:
        """The palette's names for this screen's actions, one export per format among them."""
        n = len(self.run_ids)
        yield PaletteCommand(f"Report of the {n} compared runs", "emotui report, written as "
                             f"HTML to {self.app.export_dir} (r)", self.action_write_report,
                             ("write_report",))
        for label, key in EXPORT_FORMATS:
            yield PaletteCommand(f"Export {label}", f"The table as {label}, written to "
                                 f"{self.app.export_dir}", partial(self.export, key))
        yield PaletteCommand("Show the config keys that differ" if self.show_all
                             else "Show all config keys", "The table's config rows (a)",
                             self.action_toggle_all, ("toggle_all",))
        yield PaletteCommand("Show the eval curves" if self.pareto else "Show the Pareto view",
                             "Accuracy against trainable parameters, or the eval curves (p)",
                             self.action_toggle_pareto, ("toggle_pareto",))

    @work(thread=True, name="load-compare", group="compare", exclusive=True, exit_on_error=False)
    def load_runs(self) -> None:
        runs, curves = [], {}
        for rid in self.run_ids:
            detail = self.app.source.detail(rid)
            # A run without files (W&B) is reported as the source gave it (control.write_report).
            runs.append({"run_id": rid, "config": detail.config, "results": detail.results,
                         "row": detail.row, "local": detail.metrics_path is not None,
                         "events": detail.events})
            # Only the evaluations are drawn: read a piece at a time, training lines never
            # parsed (a metrics file may be hundreds of MB).
            events = summary_events(detail.metrics_path) if detail.metrics_path \
                else detail.events
            curves[rid] = [(e.get("epoch") or e["step"], e[EventField.ACCURACY])
                           for e in events or [] if e.get(EventField.SPLIT) == Event.EVAL
                           and e.get(EventField.ACCURACY) is not None]
        self.post_message(ComparisonLoaded(runs))
        self.post_message(CurvesLoaded(curves))

    @on(ComparisonLoaded)
    def _paint_runs(self, message: ComparisonLoaded) -> None:
        self.runs = message.runs
        self.paint_table()
        if self.pareto:
            self.paint_plot()

    @on(CurvesLoaded)
    def _paint_curves(self, message: CurvesLoaded) -> None:
        self.curves = message.curves
        if not self.pareto:
            self.paint_plot()

    def paint_plot(self) -> None:
        """The eval-accuracy curves, or the Pareto view (p toggles)."""
        plot = self.query_one(PlotextPlot)
        if not self.pareto:
            curves = self.curves or {}
            names = legend_names(curves)
            draw(plot, "eval accuracy", "epoch",
                 [(names[rid], points) for rid, points in curves.items()], percent=True)
            return
        points, front, metric = pareto_points(self.runs)
        series: dict[str, list[tuple[float, float]]] = {}
        for point in points:
            series.setdefault(fmt.method_label(point.method), []).append(
                (point.params, point.accuracy))
        name = metric.replace("_", " ")
        draw_pareto(plot, f"{name} vs trainable parameters (Pareto front: "
                    f"{', '.join(points[i].label for i in front) or '-'})",
                    "trainable parameters (log)", name, list(series.items()),
                    [(points[i].params, points[i].accuracy) for i in front])

    def action_toggle_pareto(self) -> None:
        self.pareto = not self.pareto
        self.paint_plot()
        self._paint_status()

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
        if key in METRIC_KEYS and key != ResultKey.BEST_EPOCH:
            numbers = [v for v in values if v is not None]
            best = max(numbers) if numbers else None
            return [Text(fmt.percent(v), style="bold green" if v == best and v is not None
                         else "") for v in values]
        return [fmt.plain(v) if not isinstance(v, str) else v for v in values]

    def _paint_status(self) -> None:
        mode = "all config keys" if self.show_all else "config keys that differ"
        plot = "curves" if self.pareto else "Pareto"
        self.query_one("#compare-status", Static).update(
            f"{len(self.runs)} runs · {mode} · a: toggle · p: {plot} · r: report · e: export as")

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
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        path = self.app.export_dir / f"compare-{stamp}{FILE_SUFFIXES[fmt_key]}"
        self.export_comparison(rows, columns, fmt_key, path)

    @work(thread=True, name="export-comparison", group="export", exit_on_error=False)
    def export_comparison(self, rows: list[dict[str, Any]], columns: list[str], fmt_key: str,
                          path: Path) -> None:
        """Write the table off the UI thread (the export folder may be on a network share)."""
        text = export_rows(rows, columns, fmt_key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.post_message(ComparisonExported(fmt_key, path, f"could not write {path}: "
                                                 f"{exc.strerror or exc}"))
        else:
            self.post_message(ComparisonExported(fmt_key, path))

    def action_write_report(self) -> None:
        if not self.runs:
            self.notify("Still loading the runs.", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.app.clock()))
        self.write_report(list(self.runs), self.app.export_dir / f"report-{stamp}.html")

    @work(thread=True, name="write-report", group="report", exit_on_error=False)
    def write_report(self, runs: list[dict[str, Any]], path: Path) -> None:
        """`emotui report` of the compared runs (drawing its figures takes a few seconds)."""
        self.post_message(report_outcome(
            self.app.source.store, [r["run_id"] for r in runs if r["local"]], path,
            shown=[r for r in runs if not r["local"]]))

    @on(ReportWritten)
    def _report_written(self, message: ReportWritten) -> None:
        notify_report(self, message)

    @on(ComparisonExported)
    def _exported(self, message: ComparisonExported) -> None:
        if message.error:
            self.notify(message.error, title="Not exported", severity="error")
        else:
            self.notify(str(message.path), title=f"Exported {message.format}")
            deliver(self, message.path)
