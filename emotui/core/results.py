"""The results contract (results.json, `--json`) and the one-row summary every listing shows."""

from __future__ import annotations

from typing import Any

from emotui.core.runstore import RunPaths, read_json
from emotui.core.status import read_status

# Keys results.json always has (null when not applicable, e.g. peak GPU memory on CPU).
RESULT_KEYS = (
    "run_id", "status", "method", "model", "best_epoch",
    "eval_accuracy", "eval_macro_f1", "test_accuracy", "test_macro_f1",
    "per_class", "confusion_matrix", "label_names",
    "trainable_params", "total_params", "checkpoint_bytes",
    "train_runtime_s", "train_samples_per_second", "eval_samples_per_second",
    "peak_gpu_memory_bytes", "epochs_completed", "collapsed",
)

# Columns of `emotui ls --json`, the TUI's table and `compare` (besides hyperparameters).
SUMMARY_METRICS = (
    "best_epoch", "eval_accuracy", "eval_macro_f1", "test_accuracy", "test_macro_f1",
    "trainable_params", "total_params", "checkpoint_bytes", "train_runtime_s",
    "train_samples_per_second", "peak_gpu_memory_bytes",
)

# Config keys that identify a run at a glance (the TUI and `ls` show those that apply).
KEY_HYPERPARAMETERS = (
    "model_name_or_path", "learning_rate", "per_device_train_batch_size", "num_train_epochs",
    "lora_r", "lora_alpha", "lora_target_modules", "prompt_tuning_num_virtual_tokens",
    "prompt_tuning_init_text", "seed",
)


def empty_results(run_id: str, method: str, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {key: None for key in RESULT_KEYS}
    out.update(run_id=run_id, method=method, model=model)
    return out


def load_config_dict(paths: RunPaths) -> dict[str, Any]:
    import yaml

    try:
        return yaml.safe_load(paths.config.read_text(encoding="utf-8")) or {}
    except (FileNotFoundError, yaml.YAMLError):
        return {}


def summarize(paths: RunPaths, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run as a flat dict: id, state, reason, method, key hyperparameters, summary metrics."""
    status = read_status(paths)
    results = read_json(paths.results) or {}
    config = config if config is not None else load_config_dict(paths)
    row: dict[str, Any] = {
        "run_id": paths.run_id,
        "status": status.get("state"),
        "reason": status.get("reason"),
        "method": config.get("method") or results.get("method"),
        "backend": status.get("backend"),
        "job_id": status.get("job_id"),
        "sweep_id": status.get("sweep_id"),
        "created": status.get("created"),
        "started": status.get("started"),
        "ended": status.get("ended"),
        "epoch": status.get("epoch"),
        "progress": status.get("progress"),
    }
    for key in KEY_HYPERPARAMETERS:
        row[key] = config.get(key)
    for key in SUMMARY_METRICS:
        row[key] = results.get(key, status.get(key))
    return row
