"""What `ls`, `show` and a finished run print: the runs list, a run's results and per-class table.

Terminal cells use human units (emotui.cli.units); the runs list is a emotui.cli.tables table,
so piped it becomes TSV with whole values in machine units.
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from emotui.cli import units
from emotui.cli.follow import STATE_STYLES
from emotui.cli.tables import Column, print_table
from emotui.core import methods
from emotui.core.export import tsv_cell
from emotui.core.layout import pack_plain
from emotui.core.progress import live_elapsed, live_eta, phase_text
from emotui.core.vocabulary import ResultKey
from emotui.core.results import backend_label, row_collapsed, shown_state


def results_table(results: dict[str, Any]) -> Group:
    summary = Table(title=f"run {results.get('run_id')} — {results.get('method')}",
                    show_header=False, box=None, padding=(0, 2))
    summary.add_column(style="dim")
    summary.add_column()
    rows = [
        ("status", results.get("status")),
        ("model", results.get("model")),
        ("best epoch", results.get(ResultKey.BEST_EPOCH)),
        ("eval accuracy / macro-F1",
         f"{units.percent(results.get(ResultKey.EVAL_ACCURACY))} / "
         f"{units.percent(results.get(ResultKey.EVAL_MACRO_F1))}"),
        ("test accuracy / macro-F1",
         f"{units.percent(results.get(ResultKey.TEST_ACCURACY))} / "
         f"{units.percent(results.get(ResultKey.TEST_MACRO_F1))}"),
        ("trainable / total params",
         f"{units.count(results.get(ResultKey.TRAINABLE_PARAMS))} / "
         f"{units.count(results.get(ResultKey.TOTAL_PARAMS))}"),
        ("checkpoint", units.size(results.get(ResultKey.CHECKPOINT_BYTES))),
        ("train time", units.duration(results.get(ResultKey.TRAIN_RUNTIME_S))),
        ("train samples/s", units.number(results.get(ResultKey.TRAIN_SAMPLES_PER_SECOND))),
        ("peak GPU memory", units.size(results.get(ResultKey.PEAK_GPU_MEMORY_BYTES))),
    ]
    if results.get(ResultKey.COLLAPSED):
        rows.append(("warning", Text("collapsed: accuracy at the majority-class rate or a "
                                     "non-finite loss", style="bold red")))
    for key, value in rows:
        summary.add_row(key, value if isinstance(value, Text) else str(value if value is not None
                                                                          else "-"))
    parts: list[Any] = [summary]
    if results.get(ResultKey.PER_CLASS):
        parts.append(per_class_table(results[ResultKey.PER_CLASS]))
    return Group(*parts)


def per_class_table(per_class: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="test set, per class", box=None, padding=(0, 2))
    for name in ("label", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "label" else "right")
    for label, m in per_class.items():
        # Percentages, as every accuracy a person reads (core.units); --json has fractions.
        table.add_row(label, units.percent(m.get("precision")), units.percent(m.get("recall")),
                      units.percent(m.get("f1")), str(m.get("support", "-")))
    return table


def with_live_times(rows: Iterable[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """Rows whose elapsed_s/eta_s are as of ``now`` (elapsed counts up, the ETA down while a
    run works; emotui.core.progress), for people and scripts alike."""
    out = []
    for row in rows:
        live = dict(row, state=row.get("status"))  # as status.json names it, for core.progress
        elapsed, eta = live_elapsed(live, now), live_eta(live, now)
        del live["state"]
        live.update(elapsed_s=None if elapsed is None else round(elapsed, 1),
                    eta_s=None if eta is None else round(eta, 1), position_time=now)
        out.append(live)
    return out


def _state(row: dict[str, Any]) -> Text:
    state = row.get("status") or "?"
    word = shown_state(row)  # "collapsed" for a completed run that learned nothing
    return Text(word, style=STATE_STYLES.get(word, STATE_STYLES.get(state, "")))


def _epoch(row: dict[str, Any]) -> str:
    epoch, total = row.get("epoch"), row.get("num_train_epochs")
    if not isinstance(epoch, (int, float)):
        return units.MISSING
    shown = f"{epoch:.1f}" if isinstance(epoch, float) and not epoch.is_integer() else f"{epoch:g}"
    return f"{shown}/{total:g}" if isinstance(total, (int, float)) else shown


def _done(row: dict[str, Any]) -> str:
    progress = row.get("progress")
    return f"{100 * float(progress):.0f}%" if isinstance(progress, (int, float)) else units.MISSING


def _lr(row: dict[str, Any]) -> str:
    lr = row.get("learning_rate")
    return f"{lr:g}" if isinstance(lr, (int, float)) else units.MISSING


def run_columns(rows: list[dict[str, Any]]) -> list[Column]:
    """The runs list: machine names and values for scripts, short cells for the terminal. A
    narrow terminal leaves columns out by importance (``drop``, highest first): the backend,
    the learning rate, the epoch and the seed group go first, then the times; the id, state,
    method, accuracies and the reason stay longest (an 80-column terminal keeps them)."""
    columns = [
        Column("run_id", "run", lambda r: str(r["run_id"])),
        Column("status", "state", _state),
        Column("method", "method", lambda r: methods.short_label(r.get("method")), drop=1),
        Column("learning_rate", "lr", _lr, numeric=True, drop=8),
        Column("epoch", "epoch", _epoch, numeric=True, drop=7),
        Column("progress", "done", _done, numeric=True, drop=4),
        # Validation accuracy is what a run is chosen by (and what moves while it runs): it
        # stays longest.
        Column(ResultKey.EVAL_ACCURACY, "eval acc",
               lambda r: units.percent(r.get(ResultKey.EVAL_ACCURACY)), numeric=True, drop=1),
        Column(ResultKey.TEST_ACCURACY, "test acc",
               lambda r: units.percent(r.get(ResultKey.TEST_ACCURACY)), numeric=True, drop=2),
        Column("elapsed_s", "elapsed", lambda r: units.duration(r.get("elapsed_s")),
               numeric=True, drop=5),
        Column("eta_s", "ETA", lambda r: units.duration(r.get("eta_s")) if r.get("eta_s")
               is not None else "", numeric=True, drop=4),
        Column("backend", "backend", backend_label, drop=9),
        Column("job_id", "job", lambda r: r.get("job_id") or "", terminal=False),
    ]
    # Seed groups (emotui run --seeds): columns only when some run belongs to one.
    if any(row.get("group") for row in rows):
        columns += [
            Column("group", "group", lambda r: r.get("group") or units.MISSING, drop=6),
            Column("seed", "seed", lambda r: str(r.get("seed")) if r.get("group")
                   else units.MISSING, numeric=True, drop=6),
        ]
    columns.append(Column("reason", "reason", lambda r: r.get("reason") or "", drop=3,
                          free_text=True))
    # For scripts (last, so the columns before it keep their places): the status column holds
    # the lifecycle state ("completed"); this says whether that run learned nothing (the
    # terminal's state reads "collapsed").
    columns.append(Column(ResultKey.COLLAPSED, ResultKey.COLLAPSED, lambda r: "",
                          machine=row_collapsed, terminal=False))
    return columns


def print_runs(console: Console, rows: list[dict[str, Any]]) -> None:
    """The runs list (rows with their live times: with_live_times): a fitted table on a
    terminal, TSV (whole values) when piped."""
    print_table(console, run_columns(rows), rows)


def run_header(row: dict[str, Any]) -> Text:
    """`emotui show`'s first line: id, state, method, where, elapsed, ETA and the reason."""
    text = Text.assemble((str(row["run_id"]), "bold"), "  ", _state(row), "  ",
                         methods.find(row.get("method")).label if methods.find(row.get("method"))
                         else (row.get("method") or units.MISSING),
                         "  ", backend_label(row), "  ", f"elapsed {units.duration(row.get('elapsed_s'))}")
    if row.get("eta_s") is not None:
        text.append(f"  ETA {units.duration(row['eta_s'])}")
    if row.get("reason"):
        text.append(f"  ({row['reason']})", style="dim")
    return text


def position_line(row: dict[str, Any]) -> Text | None:
    """Where an active run is: phase, step, epoch, progress, speed (the header has the times)."""
    if row.get("status") not in ("running", "queued", "preempted"):
        return None
    parts = [phase_text(row) or row.get("status")]
    if row.get("total_steps"):
        parts.append(f"step {row.get('step') or 0}/{row['total_steps']}")
    if row.get("epoch") is not None:
        parts.append(f"epoch {_epoch(row)}")
    if isinstance(row.get("progress"), (int, float)):
        parts.append(_done(row))
    if row.get("samples_per_second"):
        parts.append(f"{units.number(row['samples_per_second'], 0)} samples/s")
    return Text("  ".join(str(p) for p in parts))


def flat_items(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    """(dotted key, scalar) pairs of nested dicts: per_class.joy.f1 -> 0.93."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flat_items(f"{prefix}.{key}" if prefix else str(key), inner)
    else:
        yield prefix, value


def show_for_scripts(payload: dict[str, Any]) -> str:
    """`emotui show` piped: one `key<TAB>value` line per value, each whole (machine units)."""
    skip = {"status_detail", "config", "results", "stderr_tail", "run_dir"}
    lines = [f"{key}\t{tsv_cell(value)}" for key, value in payload.items() if key not in skip]
    for section in ("config", "results"):
        lines += [f"{key}\t{tsv_cell(value)}"
                  for key, value in flat_items(section, payload.get(section) or {})]
    lines.append(f"run_dir\t{payload.get('run_dir')}")
    return "\n".join(lines) + "\n"


def config_lines(config: dict[str, Any], width: int) -> list[str]:
    """`show`'s config paragraph, wrapped to ``width`` between settings, never inside one:
    the settings that apply to the run's method (not other methods' options), set ones only,
    the values its method's defaults filled in marked "(method default)"."""
    method = config.get("method")
    filled = set(config.get(methods.DEFAULTS_FIELD) or ())
    items = []
    for key, value in config.items():
        if value in (None, {}, "") or key in ("method", methods.DEFAULTS_FIELD):
            continue
        owners = methods.owners(key)
        if owners and method not in owners:
            continue
        item = f"{key}={value!r}" if isinstance(value, str) and value.strip() != value \
            else f"{key}={value}"
        if key in filled:
            item += " (method default)"
        items.append(item)
    if not items:
        return []
    items[0] = f"config: {items[0]}"
    return pack_plain(items, width, ", ")
