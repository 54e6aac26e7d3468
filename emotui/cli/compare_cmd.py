"""`emotui compare`: local runs, W&B offline runs and a W&B project's runs in one table."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from emotui.core.errors import ConfigError

DESCRIPTION = """\
Compare runs side by side: key hyperparameters, validation/test accuracy and macro-F1, size
and speed. RUN is a run id (or unique prefix/suffix) or a folder/file of W&B offline runs
(wandb/offline-run-*), read in place without syncing. Without RUN: every local run.
--wandb adds a W&B project's runs (the study's runs map onto the same columns); a W&B run
linked to a local run is merged into its row. W&B runs are cached in ~/.cache/emotui/wandb
and shown from there until --refresh.
"""
EPILOG = """\
examples:
  emotui compare --filter 'method=lora and test_accuracy>0.9' --format md
  emotui compare 0412-lora-ab12 0412-full-cd34 --format latex > table.tex
  emotui compare --wandb my-team/emotion --refresh --format csv
  emotui compare ../study/wandb --sort -test_accuracy
"""

METRIC_COLUMNS = ("eval_accuracy", "eval_macro_f1", "test_accuracy", "test_macro_f1",
                  "trainable_params", "checkpoint_bytes", "train_runtime_s",
                  "train_samples_per_second")
LEAD_COLUMNS = ("run_id", "source", "method", "status")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "compare", parents=[common], help="compare runs (local, W&B offline, W&B project)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", metavar="RUN", nargs="*",
                        help="run ids, or paths holding W&B offline runs")
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", nargs="?", const="", default=None,
                        help="add a W&B project's runs (bare --wandb: the configured project)")
    parser.add_argument("--filter", metavar="EXPR", action="append", default=[],
                        help="keep rows matching e.g. 'method=lora and lr<1e-3' "
                             "(OP: = != > >= < <= ~; repeatable)")
    parser.add_argument("--format", default="table",
                        choices=("table", "csv", "md", "markdown", "latex", "typst", "json"),
                        help="output format (default: a table on the terminal)")
    parser.add_argument("--columns", metavar="A,B,...",
                        help="exactly these columns, in this order")
    parser.add_argument("--sort", metavar="[-]COLUMN",
                        help="sort by a column (leading '-': descending)")
    parser.add_argument("--refresh", action="store_true",
                        help="fetch the W&B project now instead of using the cache")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write to FILE instead of standard output")
    parser.set_defaults(handler=handle)


def gather_rows(args: argparse.Namespace,
                notes: list[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, warnings) from the named runs / offline paths / the W&B project; notes collects
    what is worth knowing but not a problem (the age of cached W&B rows)."""
    from emotui.core.runstore import RunStore
    from emotui.tracking.sources import is_offline_path, local_row, merge_rows, offline_rows

    store = RunStore(args.runs_dir)
    local: list[dict[str, Any]] = []
    remote: list[dict[str, Any]] = []
    warnings: list[str] = []
    seen: set[str] = set()
    refs = list(args.runs)
    for ref in refs:
        if is_offline_path(ref):
            remote += offline_rows(ref)
            continue
        paths = store.find(ref)
        if paths.run_id not in seen:
            seen.add(paths.run_id)
            local.append(local_row(paths))
    if not refs:
        local = [local_row(p) for p in store]
    if args.wandb is not None:
        from emotui.tracking.sources import project_rows
        from emotui.tracking.wandb_api import WandbProject, age_text

        notes = notes if notes is not None else []
        project = WandbProject.from_path(args.wandb)
        runs = project.load(refresh=args.refresh)
        if runs.warning:
            warnings.append(runs.warning)
        elif runs.fetched and not args.refresh and time.time() - runs.fetched > 60:
            notes.append(f"W&B runs of {runs.path} as cached {age_text(runs.fetched)}; "
                         "--refresh fetches them again")
        remote += project_rows(runs)
    return merge_rows(local, remote), warnings


def choose_columns(rows: list[dict[str, Any]], requested: str | None) -> list[str]:
    from emotui.core.results import KEY_HYPERPARAMETERS

    known = set().union(*(r.keys() for r in rows)) if rows else set(LEAD_COLUMNS)
    if requested:
        columns = [c.strip() for c in requested.split(",") if c.strip()]
        unknown = [c for c in columns if c not in known]
        if unknown and rows:
            raise ConfigError(f"--columns: unknown column(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return columns
    columns = [c for c in LEAD_COLUMNS
               if c != "source" or len({r.get("source") for r in rows}) > 1]
    for key in KEY_HYPERPARAMETERS:
        values = [r.get(key) for r in rows if r.get(key) is not None]
        # Show what tells the runs apart; the learning rate always (it is the study's axis).
        if values and (key == "learning_rate" or len({str(v) for v in values}) > 1):
            columns.append(key)
    columns += [c for c in METRIC_COLUMNS if any(r.get(c) is not None for r in rows)]
    return columns


def sort_rows(rows: list[dict[str, Any]], spec: str | None) -> list[dict[str, Any]]:
    if not spec:
        return rows
    descending = spec.startswith("-")
    column = spec.lstrip("-+")
    present = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]

    def key(row: dict[str, Any]) -> tuple:
        value = row.get(column)
        return (0, float(value)) if isinstance(value, (int, float)) else (1, str(value))

    return sorted(present, key=key, reverse=descending) + missing


def handle(args: argparse.Namespace) -> int:
    from emotui.core.export import export_rows
    from emotui.core.rowfilter import filter_rows

    notes: list[str] = []
    rows, warnings = gather_rows(args, notes)
    for warning in warnings:
        print(f"emotui: warning: {warning}", file=sys.stderr)
    for note in notes:
        print(f"emotui: {note}", file=sys.stderr)
    known = set().union(*(r.keys() for r in rows)) if rows else None
    rows = filter_rows(rows, args.filter, known)
    rows = sort_rows(rows, args.sort)
    columns = choose_columns(rows, args.columns)
    if args.format == "json" and not args.columns:
        # For scripts: whole rows, the table's columns first.
        columns += [k for row in rows for k in row if k not in columns]
        columns = list(dict.fromkeys(columns))
    if args.format == "table":
        if not rows:
            print("no runs to compare", file=sys.stderr)
            return 0
        from rich.console import Console

        if args.output:
            with open(args.output, "w", encoding="utf-8") as fh:
                Console(file=fh, width=200).print(rich_table(rows, columns))
        else:
            Console().print(rich_table(rows, columns))
        return 0
    text = export_rows(rows, columns, args.format)
    if args.output:
        from pathlib import Path

        from emotui.core.runstore import atomic_write_text

        atomic_write_text(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def rich_table(rows: list[dict[str, Any]], columns: list[str]):
    from rich.table import Table
    from rich.text import Text

    from emotui.core.export import format_value, is_numeric_column

    table = Table(show_edge=False, header_style="bold")
    for column in columns:
        numeric = is_numeric_column(rows, column)
        table.add_column(column.replace("_", " "), justify="right" if numeric else "left",
                         overflow="fold", no_wrap=column == "run_id")
    best = {c: max((r[c] for r in rows if isinstance(r.get(c), (int, float))), default=None)
            for c in ("eval_accuracy", "test_accuracy", "eval_macro_f1", "test_macro_f1")}
    for row in rows:
        cells = []
        for column in columns:
            top = best.get(column) is not None and row.get(column) == best[column] and len(rows) > 1
            # Text, not markup: values (prompt texts, names) may hold square brackets.
            cells.append(Text(format_value(row.get(column)), style="bold green" if top else ""))
        table.add_row(*cells)
    return table
