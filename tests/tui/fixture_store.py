"""A deterministic run store for the TUI tests, snapshots, screenshots and the benchmark.

Runs in every state, written with emotui.core's own helpers; every time is fixed, relative to
FROZEN_NOW, so elapsed times and ETAs render identically on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from emotui.core.config import build_config, dump_config
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, RunStore, atomic_write_json
from emotui.core.status import write_status

FROZEN_NOW = 1763900000.0  # 2025-11-23 12:13:20 UTC
LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]

# (run id, method, overrides, state, extra status, progress/epochs done, final accuracy or None)
RUNS = [
    ("251120-091500-full-ab2c", "full", {"learning_rate": 2e-5}, "completed",
     {"backend": "local"}, 5, 0.9250),
    ("251120-101500-lora-cd3e", "lora", {"learning_rate": 1e-3, "lora_r": 8}, "completed",
     {"backend": "slurm", "job_id": "4812"}, 5, 0.9215),
    ("251121-081500-ptext-ef4g", "prompt-text", {"learning_rate": 2e-2,
     "prompt_tuning_num_virtual_tokens": 12}, "running",
     {"backend": "local", "pid": 4242}, 2.25, None),
    ("251121-091500-prand-gh5j", "prompt-random", {"learning_rate": 3e-2}, "queued",
     {"backend": "slurm", "job_id": "4830", "reason": "Priority"}, 0, None),
    ("251121-101500-full-jk6m", "full", {"learning_rate": 5e-5,
     "per_device_train_batch_size": 128}, "failed",
     {"backend": "local", "reason": "CUDA out of memory. Tried to allocate 2.00 GiB"}, 1, None),
    ("251121-111500-lora-mn7p", "lora", {"learning_rate": 5e-4, "lora_r": 16}, "cancelled",
     {"backend": "local", "reason": "cancelled by user"}, 3, None),
    ("251121-121500-lora-pq8r", "lora", {"learning_rate": 1e-3, "lora_r": 4}, "preempted",
     {"backend": "slurm", "job_id": "4833", "reason": "preempted; requeued"}, 2, None),
]
SWEEP_ID = "sweep-lora-k3x9"
# The sweep's spec.json as emotui.sweep writes it: a 3 x 2 grid, three trials started so far.
SWEEP_SPEC = {"sweep_id": SWEEP_ID, "method": "grid", "run_cap": None, "planned_total": 6,
              "metric": {"name": "eval/accuracy", "goal": "maximize", "target": None},
              "parameters": {"learning_rate": {"distribution": "categorical",
                                               "values": [5e-4, 1e-3, 3e-3]},
                             "lora_r": {"distribution": "categorical", "values": [8, 16]}}}
SWEEP_RUNS = [
    ("251122-081500-lora-st2a", {"learning_rate": 1e-3, "lora_r": 8}, "completed", 0.9190),
    ("251122-083000-lora-st3b", {"learning_rate": 3e-3, "lora_r": 16}, "completed", 0.3520),
    ("251122-084500-lora-st4c", {"learning_rate": 5e-4, "lora_r": 8}, "running", None),
]
STEPS_PER_EPOCH = 250
GIB = 1024 ** 3
# The running runs' position as their jobs last wrote it, ten seconds before "now": phase, ETA
# (counted down by readers), elapsed; one trains on a GPU, the sweep trial on a CPU (no GPU keys).
POSITIONS = {
    "251121-081500-ptext-ef4g": {"phase": "training", "eta_s": 1110.0, "samples_per_second": 2185.5,
                                 "gpu_util": 87, "gpu_mem_used_bytes": int(12.4 * GIB),
                                 "gpu_mem_total_bytes": 80 * GIB},
    "251122-084500-lora-st4c": {"phase": "evaluating", "eta_s": 1510.0,
                                "samples_per_second": 1650.0},
}


def _status_times(index: int) -> tuple[float, float]:
    created = FROZEN_NOW - 3 * 86400 + index * 3600
    return created, created + 60


def _system_event(step: int, time: float, gpu: bool) -> dict:
    """A telemetry sample as the job writes it (GPU keys only on a GPU)."""
    wave = (step * 7) % 11 / 10
    event = {"time": time, "split": "system", "step": step, "cpu_percent": 92.0 + 8 * wave,
             "rss_bytes": int((2.1 + 0.05 * wave) * GIB)}
    if gpu:
        event.update(gpu_util=70 + int(25 * wave), gpu_mem_used_bytes=int((12.0 + wave) * GIB),
                     gpu_mem_total_bytes=80 * GIB)
    return event


def _write_metrics(paths: RunPaths, epochs: float, final_acc: float | None, seed: int,
                   started: float, collapsed: bool = False) -> None:
    lines = []
    steps = int(epochs * STEPS_PER_EPOCH)
    position = POSITIONS.get(paths.run_id)
    for step in range(20, steps + 1, 20):
        progress = step / (5 * STEPS_PER_EPOCH)
        loss = 1.8 * (1 - progress) ** 2 + 0.15 + 0.02 * ((step * (seed + 3)) % 7) / 7
        if collapsed:
            loss = 1.70 + 0.01 * ((step * 3) % 5)
        lines.append({"time": started + step * 0.2, "split": "train", "step": step,
                      "epoch": round(step / STEPS_PER_EPOCH, 3), "loss": round(loss, 4),
                      "learning_rate": round(1e-3 * (1 - progress), 8), "grad_norm": 1.1,
                      "samples_per_second": 2200.0 + 10 * seed,
                      "tokens_per_s": 61000.0 + 250 * seed, "pad_fraction": 0.31})
        if position is not None:
            lines.append(_system_event(step, started + step * 0.2, "gpu_util" in position))
    top = final_acc if final_acc is not None else 0.88
    for epoch in range(1, int(epochs) + 1):
        acc = 0.352 if collapsed else round(top - 0.25 / epoch ** 1.5 + 0.25 / 5 ** 1.5, 4)
        lines.append({"time": started + epoch * STEPS_PER_EPOCH * 0.2, "split": "eval",
                      "step": epoch * STEPS_PER_EPOCH, "epoch": float(epoch),
                      "loss": round(1.0 / (epoch + 1), 4), "accuracy": acc,
                      "macro_f1": round(acc - 0.03, 4)})
    paths.metrics.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")


def _write_results(paths: RunPaths, method: str, accuracy: float, collapsed: bool) -> None:
    results = empty_results(paths.run_id, method, "roberta-base")
    per_class = {}
    for i, name in enumerate(LABELS):
        f1 = 0.2 if collapsed else round(accuracy - 0.02 * (i % 3) - (0.1 if i == 5 else 0), 4)
        per_class[name] = {"precision": f1, "recall": f1, "f1": f1, "support": 300 + 10 * i}
    matrix = [[(280 if r == c else 4) for c in range(6)] for r in range(6)]
    results.update(
        status="completed", best_epoch=5 if not collapsed else 1, eval_accuracy=accuracy + 0.004,
        eval_macro_f1=accuracy - 0.026, test_accuracy=accuracy, test_macro_f1=accuracy - 0.03,
        per_class=per_class, confusion_matrix=matrix, label_names=LABELS,
        trainable_params={"full": 124_650_246, "lora": 890_118}.get(method, 15_366),
        total_params=124_650_246,
        checkpoint_bytes={"full": 498_700_000, "lora": 3_570_000}.get(method, 62_000),
        train_runtime_s=55.5 if method == "full" else 41.2,
        train_samples_per_second=1441.4 if method == "full" else 1942.0,
        eval_samples_per_second=19000.0, peak_gpu_memory_bytes=6_200_000_000,
        epochs_completed=5, collapsed=collapsed,
    )
    atomic_write_json(paths.results, results)


def _write_run(store: RunStore, index: int, run_id: str, method: str, overrides: dict,
               state: str, extra: dict, epochs: float, accuracy: float | None,
               sweep_id: str | None = None, collapsed: bool = False) -> RunPaths:
    paths = store.create(method, run_id=run_id)
    config, _ = build_config([("fixture", {"method": method, "num_train_epochs": 5,
                                           "seed": 40 + index, **overrides})])
    paths.config.write_text(dump_config(config), encoding="utf-8")
    created, started = _status_times(index)
    if state == "running":  # mid-way through: started a quarter of an hour before "now"
        created, started = FROZEN_NOW - 1000.0, FROZEN_NOW - 900.0
        position = {**POSITIONS.get(run_id, {}), "elapsed_s": 890.0,
                    "position_time": FROZEN_NOW - 10.0, "step": int(epochs * STEPS_PER_EPOCH)}
    else:
        position = {}
    status = {"state": state, "created": created, "backend": extra.get("backend"),
              "job_id": extra.get("job_id"), "reason": extra.get("reason"),
              "epoch": epochs or None, "progress": round(epochs / 5, 4) if epochs else None,
              "sweep_id": sweep_id, "starts": 1, "total_steps": 5 * STEPS_PER_EPOCH,
              **position}
    if state != "queued":
        status["started"] = started
        status["host"] = "node07"
    if state in ("completed", "failed", "cancelled"):
        status["ended"] = started + (280.0 if state == "completed" else 60.0 * epochs)
    write_status(paths, **status)
    if state != "queued":
        _write_metrics(paths, epochs, accuracy, index, started, collapsed)
        paths.stdout.write_text(
            "".join(f"epoch {e}: eval accuracy {0.80 + 0.02 * e:.4f}\n" for e in range(1, 4))
            + "saving checkpoint to checkpoints/last\n", encoding="utf-8")
        paths.stderr.write_text("warning: tokenizer parallelism disabled\n", encoding="utf-8")
    if state == "failed":
        with open(paths.stderr, "a", encoding="utf-8") as fh:
            fh.write("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    if state == "completed":
        _write_results(paths, config.method, accuracy, collapsed)
    return paths


def build_fixture_store(root: Path) -> RunStore:
    """Write the fixture runs into root (created); returns the store."""
    store = RunStore(root)
    for index, (rid, method, overrides, state, extra, epochs, acc) in enumerate(RUNS):
        _write_run(store, index, rid, method, overrides, state, extra, epochs, acc)
    for offset, (rid, overrides, state, acc) in enumerate(SWEEP_RUNS):
        _write_run(store, len(RUNS) + offset, rid, "lora", overrides, state,
                   {"backend": "local"}, 5 if state == "completed" else 1.5, acc,
                   sweep_id=SWEEP_ID, collapsed=acc is not None and acc < 0.5)
    (root / "sweeps" / SWEEP_ID).mkdir(parents=True)
    atomic_write_json(root / "sweeps" / SWEEP_ID / "spec.json", SWEEP_SPEC)
    return store
