"""A run as the detail screen's header shows it: two lines packed to the screen's width.

The first line says where the run is (state, method, progress, epoch, elapsed, ETA); the second
what it does and where it reports (step, throughput, padding, best evaluation, test accuracy,
backend, trackers, the reason of its state). A pure function of the run's row and its curves
(``MetricSeries``: the last training event, the evaluations); nothing here reads a file.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from emotui.core.vocabulary import ResultKey
from emotui.tui import formatting as fmt
from emotui.tui.widgets.plots import MetricSeries


def summary_text(row: dict[str, Any], series: MetricSeries, now: float, width: int) -> Text:
    """The header of ``row`` at ``now``: values are never broken across lines (fmt.pack)."""
    first: list[Text | str] = [
        fmt.phase_state(row), fmt.method_label(row.get("method")),
        fmt.progress_bar(row.get("progress"))]
    epochs = row.get("num_train_epochs")
    first.append(f"epoch {fmt.epoch_label(row)}" + (f"/{epochs:g}" if isinstance(
        epochs, (int, float)) else ""))
    first.append(f"elapsed {fmt.duration(fmt.elapsed(row, now))}")
    eta = fmt.eta(row, now)
    if eta is not None:
        first.append(Text(f"ETA {fmt.duration(eta)}", style="bold"))
    parts = []
    if row.get("step") is not None and row.get("total_steps"):
        parts.append(f"step {row['step']}/{row['total_steps']}")
    last = series.last_train
    rate = last.get("samples_per_second") or row.get("samples_per_second")
    if rate:
        parts.append(f"{rate:.0f} samples/s")
    if last.get("tokens_per_s"):
        parts.append(f"{fmt.count(last['tokens_per_s'])} tokens/s")
    if last.get("pad_fraction") is not None:
        parts.append(f"{100 * float(last['pad_fraction']):.0f}% padding")
    best = row.get(ResultKey.EVAL_ACCURACY)
    if best is None and series.eval_acc:
        best = max(a for _, a in series.eval_acc)
    if best is not None:
        parts.append(f"best eval {fmt.percent_sign(best)}")
    if row.get(ResultKey.TEST_ACCURACY) is not None:
        parts.append(f"test {fmt.percent_sign(row[ResultKey.TEST_ACCURACY])}")
    parts.append(fmt.backend_label(row))
    trackers = str(row.get("source") or "").split("+")
    if "wandb" in trackers:
        parts.append(f"W&B {row.get('wandb_url') or row.get('wandb_project') or ''}".strip())
    if "trackio" in trackers:
        parts.append(f"trackio {row.get('trackio_project') or ''}".strip())
    if row.get("reason"):
        parts.append(f"reason: {row['reason']}")
    text = fmt.pack(first, width, "  ")
    text.append("\n")
    text.append_text(fmt.pack(parts, width, " · "))
    return text
