"""A small run store for the CLI output tests: long ids, big numbers, every kind of row.

Runs are written with emotui.core's own helpers (config.yaml, status.json, results.json, a sweep
with trial records), nothing trains. Numbers are the ones that used to wrap (22715526) or be
cut (run ids).
"""

from __future__ import annotations

import time
from pathlib import Path

from emotui.core.config import build_config, dump_config
from emotui.core.results import empty_results
from emotui.core.runstore import RunStore, atomic_write_json, atomic_write_text
from emotui.core.status import write_status
from emotui.sweep.store import SweepStore, create_sweep_dir

MODEL = "fixture/encoder"  # a Hub id: nothing needs to exist
SWEEP_ID = "cli-sweep-lr-k3x9"
# run id -> (method, config overrides, state, extra status, results or None)
RUNS = {
    "261120-091500-full-ab2c": ("full", {"learning_rate": 2e-5}, "completed", {}, {
        "eval_accuracy": 0.929, "test_accuracy": 0.925, "eval_macro_f1": 0.899,
        "test_macro_f1": 0.895, "trainable_params": 22715526, "total_params": 22715526,
        "checkpoint_bytes": 91_600_000, "train_runtime_s": 252.4,
        "train_samples_per_second": 1441.4, "best_epoch": 5}),
    "261120-101500-lora-cd3e": ("lora", {"learning_rate": 1e-3, "lora_r": 8}, "completed",
                                {"sweep_id": SWEEP_ID}, {
        "eval_accuracy": 0.9255, "test_accuracy": 0.9215, "eval_macro_f1": 0.8955,
        "test_macro_f1": 0.8915, "trainable_params": 890118, "total_params": 23605644,
        "checkpoint_bytes": 3_570_000, "train_runtime_s": 41.2,
        "train_samples_per_second": 1942.0, "best_epoch": 4}),
    "261121-081500-ptext-ef4g": ("prompt-text", {"learning_rate": 2e-2}, "running", {
        "phase": "training", "step": 120, "total_steps": 400, "epoch": 1.2, "progress": 0.3,
        "samples_per_second": 850.5, "elapsed_s": 42.0, "eta_s": 98.0}, None),
    "261121-101500-full-jk6m": ("full", {"learning_rate": 5e-5}, "failed", {
        "reason": "CUDA out of memory. Tried to allocate 2.00 GiB; lower "
                  "--per_device_train_batch_size or --max_seq_length"}, None),
    "261121-111500-lora-mn7p": ("lora", {"learning_rate": 5e-4, "lora_r": 16}, "cancelled",
                                {"reason": "cancelled by user", "sweep_id": SWEEP_ID}, None),
}


def build_cli_store(root: Path, now: float | None = None) -> RunStore:
    now = time.time() if now is None else now
    store = RunStore(root)
    store.root.mkdir(parents=True, exist_ok=True)
    for index, (run_id, (method, overrides, state, extra, results)) in enumerate(RUNS.items()):
        config, _ = build_config([("cli test", {"method": method, "model_name_or_path": MODEL,
                                                "num_train_epochs": 5, **overrides})])
        paths = store.paths(run_id)
        paths.root.mkdir()
        atomic_write_text(paths.config, dump_config(config))
        started = now - 3600 + index * 60
        times = {"created": started - 5, "started": started}
        if state == "running":
            times["position_time"] = now - 1.0
        else:
            times["ended"] = started + 252.4
        write_status(paths, run_id=run_id, state=state, backend="local", method=config.method,
                     **times, **extra)
        if results is not None:
            record = empty_results(run_id, config.method, MODEL)
            record.update(status=state, **results)
            atomic_write_json(paths.results, record)
    _write_sweep(store)
    return store


def _write_sweep(store: RunStore) -> None:
    paths = SweepStore(store.root).paths(SWEEP_ID)
    create_sweep_dir(paths, "method: grid\n", {
        "sweep_id": SWEEP_ID, "method": "grid", "planned_total": 2,
        "metric": {"name": "eval/accuracy", "goal": "maximize", "target": None},
        "parameters": {"learning_rate": {"distribution": "categorical",
                                         "values": [1e-3, 5e-4]}}})
    for index, (run_id, lr) in enumerate((("261120-101500-lora-cd3e", 1e-3),
                                          ("261121-111500-lora-mn7p", 5e-4))):
        atomic_write_json(paths.trials / f"{index:05d}.json",
                          {"index": index, "run_id": run_id, "params": {"learning_rate": lr}})
