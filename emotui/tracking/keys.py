"""Names on both sides: emotui's metric events and results <-> W&B history, summary and config.

emotui logs under the keys the study's runs have (HF Trainer's WandbCallback: ``train/loss``,
``train/learning_rate``, ``eval/accuracy``, ``test/accuracy``, x-axis ``train/global_step``), so
emotui runs and the study's runs share W&B dashboards, and both map back onto emotui's summary
columns (``emotui.core.results.summarize``) through the same tables here.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any, Iterable, Mapping

from emotui.core.methods import method_of
from emotui.core.results import KEY_HYPERPARAMETERS, SUMMARY_METRICS
from emotui.core.vocabulary import Event, EventField, ResultKey

STEP_KEY = "train/global_step"
EPOCH_KEY = "train/epoch"
LINK_KEY = "emotui_run_id"  # config key tying a W&B run to its emotui run directory
# The events emotui logs to W&B, in the order history_to_events rebuilds them (system
# telemetry is W&B's own).
_LOGGED = (Event.TRAIN, Event.EVAL, Event.TEST)
_EVENT_META = frozenset({EventField.TIME, EventField.SPLIT, EventField.STEP, EventField.NONFINITE,
                         EventField.EPOCH})

# emotui results.json key -> W&B summary key (what finish() writes).
RESULTS_TO_SUMMARY = {
    ResultKey.EVAL_ACCURACY: "eval/accuracy",
    ResultKey.EVAL_MACRO_F1: "eval/macro_f1",
    ResultKey.TEST_ACCURACY: "test/accuracy",
    ResultKey.TEST_MACRO_F1: "test/macro_f1",
    ResultKey.BEST_EPOCH: ResultKey.BEST_EPOCH,
    ResultKey.TRAINABLE_PARAMS: ResultKey.TRAINABLE_PARAMS,
    ResultKey.TOTAL_PARAMS: ResultKey.TOTAL_PARAMS,
    ResultKey.CHECKPOINT_BYTES: ResultKey.CHECKPOINT_BYTES,
    ResultKey.TRAIN_RUNTIME_S: "train_runtime",
    ResultKey.TRAIN_SAMPLES_PER_SECOND: ResultKey.TRAIN_SAMPLES_PER_SECOND,
    ResultKey.EVAL_SAMPLES_PER_SECOND: "eval/samples_per_second",
    ResultKey.PEAK_GPU_MEMORY_BYTES: ResultKey.PEAK_GPU_MEMORY_BYTES,
    ResultKey.EPOCHS_COMPLETED: ResultKey.EPOCHS_COMPLETED,
    ResultKey.COLLAPSED: ResultKey.COLLAPSED,
}

# emotui summary column -> W&B summary keys that may hold it, best first. The later names are
# what the study's train.py (HF Trainer + WandbCallback) and older transformers versions wrote.
SUMMARY_CANDIDATES: dict[str, tuple[str, ...]] = {
    ResultKey.EVAL_ACCURACY: ("eval/accuracy", ResultKey.EVAL_ACCURACY, "best/eval_accuracy"),
    ResultKey.EVAL_MACRO_F1: ("eval/macro_f1", "eval/f1_macro", "eval/f1", ResultKey.EVAL_MACRO_F1),
    ResultKey.TEST_ACCURACY: ("test/accuracy", "predict/accuracy", ResultKey.TEST_ACCURACY),
    ResultKey.TEST_MACRO_F1: ("test/macro_f1", "test/f1_macro", "test/f1", ResultKey.TEST_MACRO_F1),
    ResultKey.BEST_EPOCH: (ResultKey.BEST_EPOCH,),
    ResultKey.TRAINABLE_PARAMS: (ResultKey.TRAINABLE_PARAMS, "model/trainable_parameters",
                                 "trainable_parameters"),
    ResultKey.TOTAL_PARAMS: (ResultKey.TOTAL_PARAMS, "model/num_parameters", "num_parameters"),
    ResultKey.CHECKPOINT_BYTES: (ResultKey.CHECKPOINT_BYTES,),
    ResultKey.TRAIN_RUNTIME_S: ("train_runtime", "train/train_runtime"),
    ResultKey.TRAIN_SAMPLES_PER_SECOND: (ResultKey.TRAIN_SAMPLES_PER_SECOND,
                                         "train/train_samples_per_second"),
    ResultKey.PEAK_GPU_MEMORY_BYTES: (ResultKey.PEAK_GPU_MEMORY_BYTES,),
    "epoch": (EPOCH_KEY, EventField.EPOCH, ResultKey.EPOCHS_COMPLETED),
}

# W&B run state -> emotui RunState value.
STATE_MAP = {
    "finished": "completed",
    "running": "running",
    "crashed": "failed",
    "failed": "failed",
    "killed": "cancelled",
    "preempted": "preempted",
    "preempting": "preempted",
    "pending": "queued",
}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# emotui -> W&B
# ---------------------------------------------------------------------------------------------


def event_to_wandb(event: Mapping[str, Any]) -> dict[str, Any]:
    """One metrics.jsonl event as a W&B log row: ``{split}/{metric}`` + step and epoch."""
    split = str(event.get(EventField.SPLIT) or Event.TRAIN)
    row: dict[str, Any] = {}
    nonfinite = set(event.get(EventField.NONFINITE) or ())
    for key, value in event.items():
        if key in _EVENT_META:
            continue
        if key in nonfinite and value is None:
            value = math.nan  # a diverged loss: W&B shows NaN, where the JSON line holds null
        if is_number(value):
            row[f"{split}/{key}"] = value
    if not row:
        return {}
    if event.get(EventField.STEP) is not None:
        row[STEP_KEY] = int(event[EventField.STEP])
    if is_number(event.get(EventField.EPOCH)):
        row[EPOCH_KEY] = event[EventField.EPOCH]
    return row


def results_to_summary(results: Mapping[str, Any]) -> dict[str, Any]:
    """results.json as W&B summary keys (scalars only; per-class F1 flattened per label)."""
    summary: dict[str, Any] = {}
    for key, wandb_key in RESULTS_TO_SUMMARY.items():
        value = results.get(key)
        if is_number(value) or isinstance(value, bool):
            summary[wandb_key] = value
    per_class = results.get(ResultKey.PER_CLASS)
    items: Iterable[tuple[str, Any]] = ()
    if isinstance(per_class, Mapping):
        items = per_class.items()
    elif isinstance(per_class, list):
        names = results.get(ResultKey.LABEL_NAMES) or []
        items = ((entry.get("label") or (names[i] if i < len(names) else str(i)), entry)
                 for i, entry in enumerate(per_class) if isinstance(entry, Mapping))
    for label, metrics in items:
        if isinstance(metrics, Mapping):
            for metric, value in metrics.items():
                if is_number(value) and metric != "label":
                    summary[f"test/per_class/{label}/{metric}"] = value
        elif is_number(metrics):
            summary[f"test/per_class/{label}/f1"] = metrics
    return summary


def wandb_config(config_dict: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The resolved run config for W&B: the study's field names, plus the link to the run dir."""
    out = {k: v for k, v in config_dict.items() if k != "extra_training_args"}
    out.update(config_dict.get("extra_training_args") or {})
    out[LINK_KEY] = run_id
    return out


# ---------------------------------------------------------------------------------------------
# W&B -> emotui
# ---------------------------------------------------------------------------------------------


def _first(mapping: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            return value
    return None


def parse_time(value: Any) -> float | None:
    """W&B's createdAt ('2025-01-01T00:00:00' UTC, maybe with Z) or a number -> epoch seconds."""
    if value is None:
        return None
    if is_number(value):
        return float(value)
    try:
        text = str(value).replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        from datetime import timezone

        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def record_to_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A W&B run record (API, cache or offline file; see ``wandb_api.normalize_run``), or
    another tracker's in the same shape, as a row with summarize()'s columns, plus source/link
    columns."""
    config = record.get("config") or {}
    summary = record.get("summary") or {}
    state = STATE_MAP.get(str(record.get("state") or "").lower(), record.get("state"))
    row: dict[str, Any] = {
        "run_id": record.get("id"),
        "status": state,
        "reason": record.get("reason"),
        "method": method_of(config),
        "backend": None,
        "job_id": None,
        "sweep_id": record.get("sweep") or record.get("group"),
        "created": parse_time(record.get("created")),
        "started": parse_time(record.get("created")),
        "ended": None,
        "epoch": _first(summary, SUMMARY_CANDIDATES["epoch"]),
        "progress": 1.0 if state == "completed" else None,
    }
    for key in KEY_HYPERPARAMETERS:
        value = config.get(key)
        if value is None and key == "model_name_or_path":
            value = config.get("_name_or_path")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        row[key] = value
    for key in SUMMARY_METRICS:
        candidates = SUMMARY_CANDIDATES.get(key, (key,))
        row[key] = _first(summary, candidates)
        if row[key] is None:
            row[key] = _first(config, candidates)  # HF puts model/num_parameters in the config
    # The link columns are the tracker's: wandb_run_id, wandb_url, wandb_project for W&B,
    # trackio_run_id, ... for a record that names its tracker (emotui.tracking.trackio_store).
    tracker = str(record.get("tracker") or "wandb")
    row.update({
        "source": record.get("source", tracker),
        "name": record.get("name"),
        f"{tracker}_run_id": record.get("id"),
        f"{tracker}_url": record.get("url"),
        f"{tracker}_project": "/".join(
            p for p in (record.get("entity"), record.get("project")) if p) or None,
        "linked_run_id": config.get(LINK_KEY),
        "tags": list(record.get("tags") or []),
    })
    return row


def history_to_events(history: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """W&B history rows back into metrics.jsonl-shaped events (for plots of imported runs)."""
    events: list[dict[str, Any]] = []
    for row in history:
        step = row.get(STEP_KEY, row.get("_step", 0))
        stamp = row.get("_timestamp", time.time())
        by_split: dict[str, dict[str, Any]] = {}
        for key, value in row.items():
            if key.startswith("_") or "/" not in key or key in (STEP_KEY, EPOCH_KEY):
                continue
            split, metric = key.split("/", 1)
            if split in _LOGGED and "/" not in metric and is_number(value):
                by_split.setdefault(split, {})[metric] = value
        for split in _LOGGED:
            if split in by_split:
                event = {EventField.TIME: stamp, EventField.SPLIT: split,
                         EventField.STEP: int(step or 0)}
                if is_number(row.get(EPOCH_KEY)):
                    event[EventField.EPOCH] = row[EPOCH_KEY]
                event.update(by_split[split])
                events.append(event)
    return events
