"""Turning run rows into short cell text: states, numbers, durations, progress bars.

Pure functions of a row and a clock, so the table, the compare screen and the tests agree.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

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
METHOD_LABELS = {
    "full": "full",
    "lora": "lora",
    "prompt_tuning_text": "ptext",
    "prompt_tuning_random": "prand",
}
METHODS = tuple(METHOD_LABELS)


def state_text(row: dict[str, Any]) -> Text:
    state = row.get("status") or "?"
    label = state + ("?" if row.get("stale") else "")
    return Text(label, style=STATE_STYLES.get(state, "dim"))


# Where a row comes from, as a short mark after its run id (local rows have none).
SOURCE_BADGES = {"wandb": "W&B", "wandb-offline": "W&B offline", "local+wandb": "+W&B"}


def run_id_text(row: dict[str, Any]) -> Text:
    text = Text(str(row["run_id"]))
    badge = SOURCE_BADGES.get(row.get("source") or "")
    if badge:
        text.append(f" {badge}", style="bold yellow" if badge.startswith("W") else "yellow")
    return text


def id_sort_value(row: dict[str, Any]) -> str:
    """What the run column sorts on: the run id, which starts with its creation time
    (yymmdd-hhmmss, local time); a W&B run's id does not, so its creation time is put first
    and runs of both sources interleave newest first."""
    run_id = str(row["run_id"])
    created = row.get("created")
    if row.get("source") in ("wandb", "wandb-offline") and isinstance(created, (int, float)):
        import time

        return time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + "-" + run_id
    return run_id


def can_control(source: Any, run_id: str) -> bool:
    """Whether the TUI may cancel, resume or delete this run (a W&B-only row: no)."""
    check = getattr(source, "is_controllable", None)
    if check is not None:
        return bool(check(run_id))
    return bool(getattr(source, "controllable", False))


def method_label(method: str | None) -> str:
    return METHOD_LABELS.get(method or "", method or "-")


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}"


def compact_float(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def elapsed(row: dict[str, Any], now: float) -> float | None:
    started = row.get("started")
    if started is None:
        return None
    end = row.get("ended")
    if end is None and row.get("status") not in ("running",):
        return None if row.get("status") == "queued" else 0.0
    return (end if end is not None else now) - float(started)


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
    parts = [f"lr={compact_float(row.get('learning_rate'))}",
             f"bs={compact_float(row.get('per_device_train_batch_size'))}"]
    method = row.get("method")
    if method == "lora":
        parts.append(f"r={compact_float(row.get('lora_r'))}")
        parts.append(f"a={compact_float(row.get('lora_alpha'))}")
    elif method in ("prompt_tuning_text", "prompt_tuning_random"):
        parts.append(f"vt={compact_float(row.get('prompt_tuning_num_virtual_tokens'))}")
    return " ".join(parts)


def backend_label(row: dict[str, Any]) -> str:
    backend = row.get("backend") or "-"
    job = row.get("job_id")
    return f"{backend}:{job}" if job else backend


def byte_size(value: Any) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}GB"  # pragma: no cover


def count(value: Any) -> str:
    if value is None:
        return "-"
    value = int(value)
    if value >= 1_000_000:
        return f"{value / 1e6:.1f}M"
    if value >= 1_000:
        return f"{value / 1e3:.1f}k"
    return str(value)


def epoch_label(row: dict[str, Any]) -> str:
    epoch = row.get("epoch")
    return "-" if epoch is None else f"{float(epoch):.1f}"


def sort_key(value: Any) -> tuple:
    """Sort None last, numbers as numbers, everything else as text."""
    if isinstance(value, Text):
        value = value.plain
    if value is None or value == "-":
        return (2, 0, "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, str(value))
