"""Rich renderables for runs: the results summary, the per-class table, the runs list."""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text

from emotui.cli.follow import STATE_STYLES, fmt_pct, format_duration


def human_count(n: Any) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{int(n)}"


def human_bytes(n: Any) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def results_table(results: dict[str, Any]) -> Group:
    summary = Table(title=f"run {results.get('run_id')} — {results.get('method')}",
                    show_header=False, box=None, padding=(0, 2))
    summary.add_column(style="dim")
    summary.add_column()
    rows = [
        ("status", results.get("status")),
        ("model", results.get("model")),
        ("best epoch", results.get("best_epoch")),
        ("eval accuracy / macro-F1",
         f"{fmt_pct(results.get('eval_accuracy'))} / {fmt_pct(results.get('eval_macro_f1'))}"),
        ("test accuracy / macro-F1",
         f"{fmt_pct(results.get('test_accuracy'))} / {fmt_pct(results.get('test_macro_f1'))}"),
        ("trainable / total params",
         f"{human_count(results.get('trainable_params'))} / "
         f"{human_count(results.get('total_params'))}"),
        ("checkpoint", human_bytes(results.get("checkpoint_bytes"))),
        ("train time", format_duration(results.get("train_runtime_s"))),
        ("train samples/s", _num(results.get("train_samples_per_second"))),
        ("peak GPU memory", human_bytes(results.get("peak_gpu_memory_bytes"))),
    ]
    if results.get("collapsed"):
        rows.append(("warning", Text("collapsed: accuracy at the majority-class rate or a "
                                     "non-finite loss", style="bold red")))
    for key, value in rows:
        summary.add_row(key, value if isinstance(value, Text) else str(value if value is not None
                                                                          else "-"))
    parts: list[Any] = [summary]
    if results.get("per_class"):
        parts.append(per_class_table(results["per_class"]))
    return Group(*parts)


def per_class_table(per_class: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="test set, per class", box=None, padding=(0, 2))
    for name in ("label", "precision", "recall", "f1", "support"):
        table.add_column(name, justify="left" if name == "label" else "right")
    for label, m in per_class.items():
        table.add_row(label, _num(m.get("precision"), 3), _num(m.get("recall"), 3),
                      _num(m.get("f1"), 3), str(m.get("support", "-")))
    return table


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def runs_table(rows: Iterable[dict[str, Any]], now: float) -> Table:
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for name in ("run", "state", "method", "lr", "epoch", "eval acc", "test acc", "elapsed",
                 "backend", "reason"):
        table.add_column(name, no_wrap=name != "reason")
    for row in rows:
        state = row.get("status") or "?"
        started, ended = row.get("started"), row.get("ended")
        elapsed = (ended or now) - started if started else None
        lr = row.get("learning_rate")
        backend = row.get("backend") or "-"
        if row.get("job_id"):
            backend += f":{row['job_id']}"
        table.add_row(
            row["run_id"], Text(state, style=STATE_STYLES.get(state, "")), row.get("method") or "-",
            f"{lr:g}" if isinstance(lr, (int, float)) else "-",
            str(row.get("epoch") if row.get("epoch") is not None else "-"),
            fmt_pct(row.get("eval_accuracy")), fmt_pct(row.get("test_accuracy")),
            format_duration(elapsed), backend, row.get("reason") or "",
        )
    return table
