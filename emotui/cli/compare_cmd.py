"""`emotui compare`: local runs, W&B offline runs and W&B or trackio projects' runs in one
table."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from emotui.cli.flags import DashValue
from emotui.cli.tables import for_scripts, print_table
from emotui.core.errors import ConfigError
from emotui.core.runstore import RunPaths
from emotui.core.vocabulary import Event, ResultKey
from emotui.core.export import export_rows
from emotui.core.results import KEY_HYPERPARAMETERS, row_collapsed
from emotui.core.runstore import RunStore, atomic_write_text
from emotui.core.runview import read_yaml_object
from emotui.core.trackers import TRACKERS
from emotui.tracking.trackers import tracker as load_tracker

DESCRIPTION = """\
Compare runs side by side: key hyperparameters, validation/test accuracy and macro-F1, size
and speed. RUN is a run id (or unique prefix/suffix) or a folder/file of W&B offline runs
(wandb/offline-run-*), read in place without syncing. Without RUN: every local run.
--wandb adds a W&B project's runs (the study's runs map onto the same columns), --trackio a
trackio project's (read from trackio's local database, $TRACKIO_DIR); a tracker's run linked
to a local run is merged into its row. W&B runs are cached in ~/.cache/emotui/wandb and shown
from there until --refresh.
--by-seed folds runs that differ only by seed (emotui run --seeds, a sweep's seed values)
into one row per configuration: a `seeds` count and each metric as mean ± sample std.
"""
EPILOG = """\
examples:
  emotui compare --filter 'method=lora and test_accuracy>0.9' --format md
  emotui compare 0412-lora-ab12 0412-full-cd34 --format latex > table.tex
  emotui compare --wandb my-team/emotion --refresh --format csv
  emotui compare --trackio emotion-study --sort -eval_accuracy
  emotui compare ../study/wandb --sort -test_accuracy
  emotui compare --by-seed --filter method=lora --sort -eval_accuracy
"""

METRIC_COLUMNS = (ResultKey.EVAL_ACCURACY, ResultKey.EVAL_MACRO_F1, ResultKey.TEST_ACCURACY,
                  ResultKey.TEST_MACRO_F1, ResultKey.TRAINABLE_PARAMS, ResultKey.CHECKPOINT_BYTES,
                  ResultKey.TRAIN_RUNTIME_S, ResultKey.TRAIN_SAMPLES_PER_SECOND)
# "collapsed": core.results.row_collapsed, true for a completed run that learned nothing; the
# terminal shows it as the state ("collapsed"), files as a column of its own.
LEAD_COLUMNS = ("run_id", "source", "method", "status", ResultKey.COLLAPSED)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "compare", parents=[common], help="compare runs (local, W&B offline, W&B project)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_sources(parser, "RUN", "run ids, or paths holding W&B offline runs")
    parser.add_argument("--filter", metavar="EXPR", action="append", default=[],
                        help="keep rows matching e.g. 'method=lora and lr<1e-3' "
                             "(OP: = != > >= < <= ~; repeatable)")
    parser.add_argument("--format", default="table",
                        choices=("table", "csv", "tsv", "md", "markdown", "latex", "typst", "json"),
                        help="output format (default: a table on the terminal; piped, TSV)")
    parser.add_argument("--columns", metavar="A,B,...",
                        help="exactly these columns, in this order")
    parser.add_argument("--sort", metavar="[-]COLUMN", action=DashValue,
                        help="sort by a column (leading '-': descending)")
    parser.add_argument("--by-seed", "--by_seed", dest="by_seed", action="store_true",
                        help="one row per configuration: runs that differ only by seed folded "
                        "into a seeds count and mean ± std (filters apply to the runs first)")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write to FILE instead of standard output")
    parser.set_defaults(handler=handle)


def add_run_sources(parser: argparse.ArgumentParser, metavar: str, runs_help: str) -> None:
    """RUN..., --wandb and --refresh: where `emotui compare` and `emotui report` read runs from
    (gather_rows and report.gather take the same three)."""
    parser.add_argument("runs", metavar=metavar, nargs="*", help=runs_help)
    for spec in TRACKERS:  # --wandb ENTITY/PROJECT, --trackio PROJECT, ...
        parser.add_argument(f"--{spec.name}", metavar=spec.project_metavar, nargs="?", const="",
                            default=None, help=f"add a {spec.label} project's runs (bare "
                            f"--{spec.name}: the configured project)")
    parser.add_argument("--refresh", action="store_true",
                        help="fetch the W&B project now instead of using the cache")


def gather_rows(args: argparse.Namespace, notes: list[str] | None = None,
                configs: dict[str, dict[str, Any]] | None = None,
                ) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, warnings) from the named runs / offline paths / the W&B project; notes collects
    what is worth knowing but not a problem (the age of cached W&B rows); ``configs`` gets each
    run's full config by run id (what tells seed replicas apart)."""
    # lazy: keeps `emotui --help` fast (11 ms)
    from emotui.tracking.keys import record_to_row
    from emotui.tracking.sources import (
        is_offline_path,
        local_row,
        local_rows,
        merge_rows,
        offline_runs,
    )

    store = RunStore(args.runs_dir)
    local: list[dict[str, Any]] = []
    remote: list[dict[str, Any]] = []
    warnings: list[str] = []
    seen: set[str] = set()
    configs = configs if configs is not None else {}

    def local_run(paths) -> dict[str, Any]:
        # Read once for the row and the seed grouping; a config.yaml that does not read as a
        # mapping is left to the row to read again and report (core.runview).
        config, problem = read_yaml_object(paths.config)
        configs[paths.run_id] = config or {}
        return local_row(paths, config if config is not None and problem is None else None)

    def lazy_configs(rows: list[dict[str, Any]]) -> None:
        # A listing of the whole store reads its rows from the run index; a run's full config
        # (what tells seed replicas apart) is read only when asked for (--by-seed, the table's
        # replica note), never for a CSV of every run.
        if isinstance(configs, RunConfigs):
            for row in rows:
                configs.defer(str(row["run_id"]), store.root)

    def remote_rows(records) -> list[dict[str, Any]]:
        rows = [record_to_row(record) for record in records]
        for row, record in zip(rows, records):
            configs.setdefault(str(row["run_id"]), dict(record.get("config") or {}))
        return rows

    refs = list(args.runs)
    for ref in refs:
        if is_offline_path(ref):
            remote += remote_rows([run.to_record() for run in offline_runs(ref)])
            continue
        paths = store.find(ref)
        if paths.run_id not in seen:
            seen.add(paths.run_id)
            local.append(local_run(paths))
    if not refs:
        local = local_rows(store.root)
        lazy_configs(local)
    for spec in TRACKERS:
        chosen = getattr(args, spec.name, None)
        if chosen is None:
            continue
        from emotui.tracking.wandb_api import age_text

        tracker = load_tracker(spec.name)
        notes = notes if notes is not None else []
        runs = tracker.project(chosen).load(refresh=args.refresh)
        if runs.warning:
            warnings.append(runs.warning)
        elif runs.fetched and not args.refresh and time.time() - runs.fetched > 60:
            notes.append(f"{tracker.label} runs of {runs.path} as cached "
                         f"{age_text(runs.fetched)}; --refresh fetches them again")
        remote += remote_rows(runs.records)
    # The local rows are this listing's own (fresh dicts): merged in place, not copied.
    rows = merge_rows(local, remote) if remote else local
    for row in rows:
        row[ResultKey.COLLAPSED] = row_collapsed(row)
    return rows, warnings


class RunConfigs(dict):
    """Run id -> its full config, for the seed grouping: a local run's config.yaml is read the
    first time it is asked for (``defer``), so a listing that never asks reads none."""

    def __init__(self) -> None:
        super().__init__()
        self._deferred: dict[str, Any] = {}

    def defer(self, run_id: str, store_root: Path) -> None:
        """The run's config.yaml (under ``store_root``) is read if it is asked for: its path is
        made then (100,000 paths made up front cost a second)."""
        self._deferred[run_id] = store_root

    def _load(self, run_id: Any) -> None:
        root = self._deferred.pop(run_id, None)
        if root is not None and not dict.__contains__(self, run_id):
            config, _problem = read_yaml_object(RunPaths(root / str(run_id)).config)
            self[run_id] = config or {}

    def __getitem__(self, run_id: Any) -> Any:
        self._load(run_id)
        return super().__getitem__(run_id)

    def get(self, run_id: Any, default: Any = None) -> Any:
        self._load(run_id)
        return super().get(run_id, default)

    def setdefault(self, run_id: Any, default: Any = None) -> Any:
        self._load(run_id)
        return super().setdefault(run_id, default)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._deferred or super().__contains__(run_id)


def choose_columns(rows: list[dict[str, Any]], requested: str | None) -> list[str]:
    if requested:
        known = set().union(*(r.keys() for r in rows)) if rows else set(LEAD_COLUMNS)
        columns = [c.strip() for c in requested.split(",") if c.strip()]
        unknown = [c for c in columns if c not in known]
        if unknown and rows:
            raise ConfigError(f"--columns: unknown column(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return columns
    columns = [c for c in LEAD_COLUMNS
               if c != "source" or len({r.get("source") for r in rows}) > 1]
    for key in KEY_HYPERPARAMETERS:
        # Show what tells the runs apart; the learning rate always (it is the study's axis).
        if _values_differ(rows, key, any_value=key == "learning_rate"):
            columns.append(key)
    columns += [c for c in METRIC_COLUMNS if any(r.get(c) is not None for r in rows)]
    return columns


# Rows looked at first for two different values: a column that differs mostly does so early,
# and only one that does not is read whole (25 columns of 100,000 rows are half a second).
_PROBE_ROWS = 512


def _values_differ(rows: list[dict[str, Any]], key: str, *, any_value: bool = False) -> bool:
    """Whether the rows hold two different values of ``key`` as a table shows them (with
    ``any_value``: one at all)."""
    if len(rows) > _PROBE_ROWS and _differ(rows[:_PROBE_ROWS], key, any_value):
        return True
    return _differ(rows, key, any_value)


def _differ(rows: list[dict[str, Any]], key: str, any_value: bool) -> bool:
    values = [row.get(key) for row in rows]
    try:
        distinct = set(values)  # in C: a column that holds one value is the common case
    except TypeError:  # an unhashable value (a list from a W&B config): one by one below
        pass
    else:
        distinct.discard(None)
        if any_value or len(distinct) < 2:
            return any_value and bool(distinct)
        values = list(distinct)  # unequal values; the texts tell (1 and "1" read the same)
    first = first_text = None
    for value in values:
        if value is None or value == first:
            continue
        if any_value:
            return True
        if first_text is None:
            first, first_text = value, str(value)
        elif str(value) != first_text:  # as a table shows them: 1 and 1.0 read the same
            return True
    return False


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
    # lazy: keeps `emotui --help` fast (27 ms)
    from emotui.core.rowfilter import filter_rows

    from emotui.report import seed_rows

    notes: list[str] = []
    configs = RunConfigs()
    rows, warnings = gather_rows(args, notes, configs)
    for warning in warnings:
        print(f"emotui: warning: {warning}", file=sys.stderr)
    for note in notes:
        print(f"emotui: {note}", file=sys.stderr)
    # The columns a --filter or --sort may name (every key of 100,000 rows: asked only then).
    known = set().union(*(r.keys() for r in rows)) if rows and (args.filter or args.sort) \
        else None
    rows = filter_rows(rows, args.filter, known)
    if args.by_seed:
        rows = seed_rows.fold_by_seed(rows, configs)
    elif args.format == "table":
        replicas, groups = seed_rows.replica_count(rows, configs)
        if replicas:
            print(f"emotui: {replicas} runs are seed replicas of {groups} configuration"
                  f"{'s' if groups > 1 else ''}; --by-seed shows each configuration once "
                  "(mean ± std)", file=sys.stderr)
    if args.sort and known is not None:
        from emotui.core.rowfilter import column_name

        folded = set().union(*(r.keys() for r in rows)) if rows else set()
        column = column_name(args.sort.lstrip("-+"), known | folded, "--sort")
        args.sort = args.sort[: len(args.sort) - len(args.sort.lstrip("-+"))] + column
    rows = sort_rows(rows, args.sort)
    if args.sort and args.sort.lstrip("-+").startswith(Event.TEST):
        print(f"emotui: warning: sorted by {args.sort.lstrip('-+')}, a test metric: choosing a "
              "run from this order is optimistic; sort by eval_accuracy to choose",
              file=sys.stderr)
    columns = choose_columns(rows, args.columns)
    if args.by_seed and not args.columns:
        columns = seed_rows.with_spread_columns(columns, rows)
    if args.format == "json" and not args.columns:
        # For scripts: whole rows, the table's columns first.
        columns += [k for row in rows for k in row if k not in columns]
        columns = list(dict.fromkeys(columns))
    fmt = args.format
    if fmt == "table":
        if not rows:
            print("no runs to compare", file=sys.stderr)
            return 0
        from rich.console import Console

        from emotui.cli.compare_table import compare_columns

        console = Console()
        if not args.output and not for_scripts(console):
            print_table(console, compare_columns(rows, columns), rows,
                        hint="| cat or --format csv shows all")
            return 0
        fmt = "tsv"  # piped or to a file: every value whole, in machine units
    text = export_rows(rows, columns, fmt)
    if args.output:
        from pathlib import Path

        atomic_write_text(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0
