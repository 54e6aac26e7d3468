"""The results contract (results.json, `--json`) and the one-row summary every listing shows."""

from __future__ import annotations

from typing import Any

from emotui.core import runview
from emotui.core.claim import claim_is_stale, read_claim
from emotui.core.lifecycle import FINISHED
from emotui.core.methods import shown_fields
from emotui.core.runstore import RunPaths
from emotui.core.vocabulary import ResultKey
from emotui.core.runview import UNREADABLE

# Keys results.json always has (null when not applicable, e.g. peak GPU memory on CPU).
RESULT_KEYS = (
    ResultKey.RUN_ID, ResultKey.STATUS, ResultKey.METHOD, ResultKey.MODEL, ResultKey.BEST_EPOCH,
    ResultKey.EVAL_ACCURACY, ResultKey.EVAL_MACRO_F1, ResultKey.TEST_ACCURACY,
    ResultKey.TEST_MACRO_F1, ResultKey.PER_CLASS, ResultKey.CONFUSION_MATRIX,
    ResultKey.LABEL_NAMES, ResultKey.TRAINABLE_PARAMS, ResultKey.TOTAL_PARAMS,
    ResultKey.CHECKPOINT_BYTES, ResultKey.TRAIN_RUNTIME_S, ResultKey.TRAIN_SAMPLES_PER_SECOND,
    ResultKey.EVAL_SAMPLES_PER_SECOND, ResultKey.PEAK_GPU_MEMORY_BYTES,
    ResultKey.EPOCHS_COMPLETED, ResultKey.COLLAPSED,
)

# How the collapse sentinel's reason starts (train.sentinel): a run it stopped ends completed with
# this reason in status.json and as results.json's collapse_reason; sweeps count it stopped early.
COLLAPSE_REASON_PREFIX = "collapsed:"

# Columns of `emotui ls --json`, the TUI's table and `compare` (besides hyperparameters).
SUMMARY_METRICS = (
    ResultKey.BEST_EPOCH, ResultKey.EVAL_ACCURACY, ResultKey.EVAL_MACRO_F1,
    ResultKey.TEST_ACCURACY, ResultKey.TEST_MACRO_F1, ResultKey.TRAINABLE_PARAMS,
    ResultKey.TOTAL_PARAMS, ResultKey.CHECKPOINT_BYTES, ResultKey.TRAIN_RUNTIME_S,
    ResultKey.TRAIN_SAMPLES_PER_SECOND, ResultKey.PEAK_GPU_MEMORY_BYTES,
)

# The job's live position and latest GPU reading in status.json (core.progress turns elapsed_s
# and eta_s into a live elapsed time and ETA); copied into a row only when present, because the
# GPU keys are absent, not zero, on a machine without one.
POSITION_KEYS = ("phase", "step", "total_steps", "samples_per_second", "elapsed_s", "eta_s",
                 "eta_pace", "position_time", "pass_done", "pass_total", "gpu_util",
                 "gpu_mem_used_bytes", "gpu_mem_total_bytes")

# Config keys that identify a run at a glance (the TUI and `ls` show those that apply); the
# method-specific ones are those the method registry shows.
KEY_HYPERPARAMETERS = (
    "model_name_or_path", "learning_rate", "per_device_train_batch_size", "num_train_epochs",
    *shown_fields(), "seed",
)


def empty_results(run_id: str, method: str, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {key: None for key in RESULT_KEYS}
    out.update({ResultKey.RUN_ID: run_id, ResultKey.METHOD: method, ResultKey.MODEL: model})
    return out


def still_stopping(paths: RunPaths) -> bool:
    """Whether a process still holds the run's claim (core.claim): a run recorded as ended
    whose process has not exited yet (a cancel saving its checkpoint)."""
    holder = read_claim(paths)
    return bool(holder) and bool(holder.get("pid")) and not claim_is_stale(paths, holder)


def row_collapsed(row: dict[str, Any]) -> bool:
    """Whether a row is a completed run that learned nothing: results.json's flag (majority-class
    accuracy, a one-class predictor, a non-finite loss) or the collapse sentinel's reason. The
    one test behind every table's and export's ``collapsed`` (ls, compare, the TUI, sweeps)."""
    return row.get("status") == "completed" and bool(
        row.get(ResultKey.COLLAPSED)
        or str(row.get("reason") or "").startswith(COLLAPSE_REASON_PREFIX))


def shown_state(row: dict[str, Any]) -> str:
    """The state as people read it in a table: "collapsed" for a completed run that learned
    nothing (row_collapsed), "cancelled (still stopping)" for a run recorded as ended whose
    process has not exited yet; otherwise the lifecycle state."""
    state = str(row.get("status") or "?")
    if row.get("still_stopping"):
        return f"{state} (still stopping)"
    return ResultKey.COLLAPSED if row_collapsed(row) else state


def backend_label(row: dict[str, Any]) -> str:
    """Where a run runs, as the CLI and the TUI show it: "local", "slurm:4830"."""
    backend = row.get("backend") or "-"
    return f"{backend}:{row['job_id']}" if row.get("job_id") else backend


def load_config_dict(paths: RunPaths) -> dict[str, Any]:
    """config.yaml as a mapping; {} when absent or not a mapping (core.runview says why)."""
    config, _problem = runview.read_yaml_object(paths.config)
    return config or {}


def summarize(paths: RunPaths, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run as a flat dict: id, state, reason, method, key hyperparameters, summary metrics.

    Its files are read through core.runview: a run whose files do not hold what emotui writes
    is ``unreadable``, with the reason saying which file and what is wrong. A listing of many
    runs reads them through core.runindex, which keeps summary_from_files's part."""
    row = summary_from_files(paths, config)
    if row["status"] in FINISHED and still_stopping(paths):
        row["still_stopping"] = True
    return row


def summary_from_files(paths: RunPaths, config: dict[str, Any] | None = None, *,
                       view: Any = None) -> dict[str, Any]:
    """summarize's row without what is live (``still_stopping``): a function of status.json,
    results.json and config.yaml alone (``view``: their core.runview.read_run, when read)."""
    view = view if view is not None else runview.read_run(paths, config)
    status, config = view.status, view.config
    results = view.results or {}
    row: dict[str, Any] = {
        "run_id": paths.run_id,
        "status": status.get("state") if view.readable else UNREADABLE,
        "reason": status.get("reason") if view.readable else view.why,
        "method": config.get("method") or results.get("method"),
        "backend": status.get("backend"),
        "job_id": status.get("job_id"),
        "sweep_id": status.get("sweep_id"),
        "group": status.get("group"),  # a seed group (core.seeds)
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
    row.update({key: status[key] for key in POSITION_KEYS if key in status})
    # The virtual tokens a prompt method used (its count may be left unset: the init text's
    # length, or the builder's default), as the job recorded it.
    row[ResultKey.NUM_VIRTUAL_TOKENS] = results.get(ResultKey.NUM_VIRTUAL_TOKENS,
                                                    status.get("num_virtual_tokens"))
    # Every reader's row carries the job's verdict (row_collapsed reads it), not only the index's.
    row[ResultKey.COLLAPSED] = results.get(ResultKey.COLLAPSED)
    return row
