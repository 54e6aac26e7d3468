"""Turning run rows into short cell text: states, numbers, durations, progress bars.

Pure functions of a row and a clock, so the table, the compare screen and the tests agree.
"""

from __future__ import annotations

from typing import Any, Sequence

from rich.text import Text

from emotui.core import methods
from emotui.core.config import FIELDS
from emotui.core.layout import line_starts
from emotui.core.lifecycle import ACTIVE
from emotui.core.progress import format_duration, live_elapsed, live_eta, phase_text
from emotui.core.results import row_collapsed, shown_state
# Shared with the CLI (core owns them); the screens use them through this module.
from emotui.core.results import backend_label  # noqa: F401
from emotui.core.units import count, plain, plural, size  # noqa: F401
# One rule for every accuracy a person reads: "81.40%" (percent below is the same function).
from emotui.core.units import percent as percent_sign  # noqa: F401
from emotui.core.vocabulary import ResultKey

# Rich colours that read on both the light and the dark theme (DataTable cells are Rich text).
STATE_STYLES = {
    "queued": "bold blue",
    "running": "bold dark_orange",
    "completed": "bold green",
    "failed": "bold red",
    "cancelled": "bold magenta",
    "preempted": "bold yellow",
}
STATES = tuple(STATE_STYLES)
# What a row shows instead of its state: a cancel asked for and not yet done, a run that
# completed without learning (core.results: the collapse flag or the sentinel's reason).
STOPPING_STYLE = "bold magenta"
COLLAPSED_STYLE = "bold red"
METHODS = methods.names()


def pack(segments: Sequence[Text | str], width: int, sep: str) -> Text:
    """The segments joined by ``sep``, with a line break instead where the next segment would
    not fit in ``width`` cells (core.layout): a value ("best eval 81.40%", "ETA 18m20s") never
    splits across lines. ``width`` <= 0: one line."""
    texts = [Text(s) if isinstance(s, str) else s for s in segments]
    packed = Text()
    for index, (text, start) in enumerate(zip(
            texts, line_starts([t.cell_len for t in texts], width, len(sep)))):
        if index:
            packed.append("\n" if start else sep)
        packed.append_text(text)
    return packed


def collapsed(row: dict[str, Any]) -> bool:
    """A completed run that learned nothing (core.results.row_collapsed decides, for every
    table and export alike)."""
    return row_collapsed(row)


def stopping(row: dict[str, Any]) -> bool:
    """A cancel was asked for (the launch layer's marker) and the run has not stopped yet."""
    return bool(row.get("cancel_requested")) and row.get("status") in ACTIVE


def outcome(row: dict[str, Any]) -> str | None:
    """How a run ended, as people name it: its final state, or "collapsed"."""
    return ResultKey.COLLAPSED if collapsed(row) else row.get("status")


def state_text(row: dict[str, Any]) -> Text:
    """The state; a running run's phase when it is not training; stopping; collapsed."""
    state = row.get("status") or "?"
    if stopping(row):
        return Text("stopping", style=STOPPING_STYLE)
    if row.get("still_stopping"):
        return Text(shown_state(row), style=STOPPING_STYLE)
    if collapsed(row):
        return Text(ResultKey.COLLAPSED, style=COLLAPSED_STYLE)
    label = state
    if state == "running" and row.get("phase") not in (None, "training"):
        label = str(row["phase"])  # starting, evaluating, predicting, saving
    label += "?" if row.get("stale") else ""
    return Text(label, style=STATE_STYLES.get(state, "dim"))


def phase_state(row: dict[str, Any]) -> Text:
    """state_text with the phase's position where a pass counts examples ("evaluating
    640/2,000", core.progress.phase_text): the detail header's first word."""
    text = state_text(row)
    phase = phase_text(_as_status(row)) if row.get("status") == "running" else None
    if phase and row.get("phase") not in (None, "training") and text.plain == row.get("phase"):
        return Text(phase + ("?" if row.get("stale") else ""), style=text.style)
    return text


# Where a row comes from, as a short mark after its run id (local rows have none): a tracker's
# own row "W&B", "trackio"; a local row with its tracker runs merged in "+W&B", "+W&B+trackio".
SOURCE_BADGES = {"wandb": "W&B", "wandb-offline": "W&B offline", "trackio": "trackio"}


def source_badge(source: Any) -> str | None:
    parts = str(source or "").split("+")
    if parts[0] in ("", "local"):
        return "".join(f"+{SOURCE_BADGES.get(p, p)}" for p in parts[1:]) or None
    return SOURCE_BADGES.get(parts[0], parts[0])


def run_id_text(row: dict[str, Any]) -> Text:
    text = Text(str(row["run_id"]))
    badge = source_badge(row.get("source"))
    if badge:
        text.append(f" {badge}", style="yellow" if badge.startswith("+") else "bold yellow")
    return text


def id_sort_value(row: dict[str, Any]) -> str:
    """What the run column sorts on: the run id, which starts with its creation time
    (yymmdd-hhmmss, local time); a tracker's run's id may not, so its creation time is put first
    and runs of both sources interleave newest first."""
    run_id = str(row["run_id"])
    created = row.get("created")
    remote = source_badge(row.get("source")) not in (None, "") and \
        not str(row.get("source")).startswith("local")
    if remote and isinstance(created, (int, float)):
        import time

        return time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + "-" + run_id
    return run_id


def method_label(method: str | None) -> str:
    return methods.short_label(method)


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def percent(value: Any) -> str:
    """An accuracy or F1 (a fraction) as people read it everywhere: 81.67% (core.units), in a
    cell as in a header or a notice, so a number never changes form between two places."""
    return percent_sign(value)


def duration(seconds: float | None) -> str:
    """Whole seconds gone by (a clock shows 3m27s until 3m28s has passed), core.progress's
    format."""
    return "-" if seconds is None or seconds < 0 else format_duration(int(seconds))


def _as_status(row: dict[str, Any]) -> dict[str, Any]:
    """A row read as the status.json it came from (its state is under "status")."""
    return dict(row, state=row.get("status"))


def elapsed(row: dict[str, Any], now: float) -> float | None:
    """This attempt's wall time as of now: counts up while the run runs (core.progress)."""
    return live_elapsed(_as_status(row), now)


def eta(row: dict[str, Any], now: float) -> float | None:
    """Seconds left as of now: the job's estimate counted down since it was measured. A run
    whose job writes no estimate (an older emotui) is extrapolated from its progress."""
    status = _as_status(row)
    left = live_eta(status, now)
    if left is None and row.get("status") == "running" and "eta_s" not in row:
        progress, spent = row.get("progress"), live_elapsed(status, now)
        if isinstance(progress, (int, float)) and 0 < progress < 1 and spent:
            left = spent * (1 - progress) / progress
    return left


def gpu_text(row: dict[str, Any]) -> str:
    """A running run's latest GPU reading ("87% 12.1/80.0G"); empty without one (no GPU)."""
    if row.get("status") != "running":
        return ""
    parts = []
    if row.get("gpu_util") is not None:
        parts.append(f"{float(row['gpu_util']):.0f}%")
    used, total = row.get("gpu_mem_used_bytes"), row.get("gpu_mem_total_bytes")
    if used is not None:
        gib = 1024 ** 3
        parts.append(f"{used / gib:.1f}/{total / gib:.0f}G" if total else f"{used / gib:.1f}G")
    return " ".join(parts)


def progress_bar(value: Any, width: int = 8) -> Text:
    if value is None:
        return Text("-", style="dim")
    fraction = min(max(float(value), 0.0), 1.0)
    filled = round(fraction * width)
    bar = Text("█" * filled, style="green")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {100 * fraction:3.0f}%")
    return bar


def hyperparameters(row: dict[str, Any]) -> str:
    """The settings that tell runs apart at a glance, for the row's method."""
    parts = [f"lr={plain(row.get('learning_rate'))}",
             f"bs={plain(row.get('per_device_train_batch_size'))}"]
    spec = methods.find(row.get("method"))
    for shown in spec.shown if spec else ():
        if shown.short:
            value = row.get(shown.field)
            if value is None and shown.field.endswith("num_virtual_tokens"):
                # Left unset (text init), the count is the init text's length: the job
                # records the one it used.
                value = row.get(ResultKey.NUM_VIRTUAL_TOKENS)
            if FIELDS[shown.field].type is bool:
                if value in (True, "true"):
                    parts.append(shown.short)  # a switch: its name when on, nothing when off
                continue
            parts.append(f"{shown.short}={plain(value)}")
    return " ".join(parts)


def epoch_label(row: dict[str, Any]) -> str:
    """Epochs done, to a tenth, rounded down: 0.9 at 96% of the first epoch, never 1.0."""
    epoch = row.get("epoch")
    return "-" if epoch is None else f"{int(float(epoch) * 10 + 1e-6) / 10:.1f}"


def sort_key(value: Any) -> tuple:
    """Sort None last, numbers as numbers, everything else as text."""
    if isinstance(value, Text):
        value = value.plain
    if value is None or value == "-":
        return (2, 0, "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value))
