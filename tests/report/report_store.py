"""A run store for the report tests, written with emotui.core's own helpers.

Numbers are chosen so each property the report promises is visible:
- LoRA A (lr 1e-3, seeds 1-3) has the best VALIDATION accuracy; LoRA B (lr 5e-3, seeds 1-2) the
  best TEST accuracy: an honest pick is A.
- full fine-tuning (lr 2e-5, seeds 1-2), prompt tuning (one run), one collapsed LoRA run, and one
  run still going (left out).
- two sweeps: one on eval/accuracy, one on test/accuracy (the report must warn about that one).
"""

from __future__ import annotations

import json
from pathlib import Path

from emotui.core.config import build_config, dump_config
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, RunStore, atomic_write_json
from emotui.core.status import write_status

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
START = 1763900000.0
MODEL = "fixture/encoder"

# (run id, method alias, overrides, seed, eval acc, test acc, test f1, trainable, runtime s,
#  sweep id, collapsed)
RUNS = [
    ("251201-100000-lora-aaa1", "lora", {"learning_rate": 1e-3, "lora_r": 8}, 1,
     0.900, 0.890, 0.850, 890_118, 40.0, "sweep-lora-grid", False),
    ("251201-100100-lora-aaa2", "lora", {"learning_rate": 1e-3, "lora_r": 8}, 2,
     0.910, 0.900, 0.860, 890_118, 42.0, None, False),
    ("251201-100200-lora-aaa3", "lora", {"learning_rate": 1e-3, "lora_r": 8}, 3,
     0.920, 0.930, 0.880, 890_118, 44.0, None, False),
    ("251201-100300-lora-bbb1", "lora", {"learning_rate": 5e-3, "lora_r": 8}, 1,
     0.880, 0.950, 0.900, 890_118, 41.0, "sweep-lora-grid", False),
    ("251201-100400-lora-bbb2", "lora", {"learning_rate": 5e-3, "lora_r": 8}, 2,
     0.890, 0.960, 0.910, 890_118, 41.0, None, False),
    ("251201-100500-lora-ccc1", "lora", {"learning_rate": 2e-2, "lora_r": 8}, 1,
     0.352, 0.347, 0.086, 890_118, 41.0, "sweep-lora-grid", True),
    ("251201-100600-full-ddd1", "full", {"learning_rate": 2e-5}, 1,
     0.930, 0.925, 0.890, 22_700_000, 55.0, "sweep-full-test", False),
    ("251201-100700-full-ddd2", "full", {"learning_rate": 2e-5}, 2,
     0.934, 0.921, 0.885, 22_700_000, 57.0, None, False),
    ("251201-100800-full-eee1", "full", {"learning_rate": 2e-4}, 1,
     0.910, 0.940, 0.900, 22_700_000, 56.0, "sweep-full-test", False),
    ("251201-100900-ptext-fff1", "prompt-text", {"learning_rate": 2e-2,
     "prompt_tuning_num_virtual_tokens": 12}, 1,
     0.805, 0.813, 0.700, 9_222, 30.0, None, False),
]
RUNNING = ("251201-110000-lora-ggg1", "lora", {"learning_rate": 3e-4, "lora_r": 4})
TOTAL_PARAMS = 22_713_000
SAMPLES_PER_SECOND = 2000.0
EPOCHS = 2


def _config(method: str, overrides: dict, seed: int):
    config, _ = build_config([("fixture", {"method": method, "model_name_or_path": MODEL,
                                           "num_train_epochs": EPOCHS, "seed": seed,
                                           **overrides})])
    return config


def _results(paths: RunPaths, config, eval_acc, test_acc, test_f1, trainable, runtime,
             collapsed) -> dict:
    results = empty_results(paths.run_id, config.method, MODEL)
    right = int(round(test_acc * 60))
    matrix = [[0] * 6 for _ in range(6)]
    for i in range(6):  # 60 test rows per label; `right` on the diagonal
        matrix[i][i] = right
        matrix[i][(i + 1) % 6] = 60 - right
    results.update(
        status="completed", best_epoch=EPOCHS, eval_accuracy=eval_acc,
        eval_macro_f1=round(eval_acc - 0.03, 4), test_accuracy=test_acc, test_macro_f1=test_f1,
        confusion_matrix=matrix, label_names=LABELS, trainable_params=trainable,
        total_params=TOTAL_PARAMS, checkpoint_bytes=trainable * 4 + 1000,
        train_runtime_s=runtime, train_samples_per_second=SAMPLES_PER_SECOND,
        peak_gpu_memory_bytes=3_000_000_000, epochs_completed=EPOCHS, collapsed=collapsed,
        device="cuda",
    )
    return results


def _write_run(store: RunStore, index: int, run_id: str, method: str, overrides: dict,
               seed: int, sweep_id: str | None) -> tuple[RunPaths, object]:
    paths = store.create(method, run_id=run_id)
    config = _config(method, overrides, seed)
    paths.config.write_text(dump_config(config), encoding="utf-8")
    started = START + 600 * index
    write_status(paths, state="queued", created=started - 5, backend="local",
                 sweep_id=sweep_id)
    return paths, config


def build_report_store(root: Path) -> RunStore:
    store = RunStore(root)
    trials: dict[str, list[str]] = {}
    for index, (rid, method, overrides, seed, eval_acc, test_acc, test_f1, trainable, runtime,
                sweep_id, collapsed) in enumerate(RUNS):
        paths, config = _write_run(store, index, rid, method, overrides, seed, sweep_id)
        started = START + 600 * index
        events = []
        for epoch in range(1, EPOCHS + 1):
            acc = eval_acc if epoch == EPOCHS else round(eval_acc - 0.1, 4)
            events.append({"time": started + epoch, "split": "eval", "step": 10 * epoch,
                           "epoch": float(epoch), "loss": 0.5, "accuracy": acc,
                           "macro_f1": acc - 0.03})
        paths.metrics.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        atomic_write_json(paths.results, _results(paths, config, eval_acc, test_acc, test_f1,
                                                  trainable, runtime, collapsed))
        # The whole run took twice its training time (loading, evaluation, test).
        write_status(paths, state="completed", started=started, ended=started + 2 * runtime)
        if sweep_id:
            trials.setdefault(sweep_id, []).append(rid)
    _write_run(store, len(RUNS), *RUNNING, seed=1, sweep_id=None)
    write_status(store.paths(RUNNING[0]), state="running", started=START + 9000)
    for sweep_id, metric in (("sweep-lora-grid", "eval/accuracy"),
                             ("sweep-full-test", "test/accuracy")):
        folder = root / "sweeps" / sweep_id
        (folder / "trials").mkdir(parents=True)
        atomic_write_json(folder / "spec.json", {
            "sweep_id": sweep_id, "method": "grid", "planned_total": len(trials[sweep_id]),
            "metric": {"name": metric, "goal": "maximize", "target": None},
            "parameters": {"learning_rate": {"distribution": "categorical", "values": []}}})
        for index, rid in enumerate(trials[sweep_id]):
            lr = next(r[2]["learning_rate"] for r in RUNS if r[0] == rid)
            atomic_write_json(folder / "trials" / f"{index:04d}.json",
                              {"index": index, "params": {"learning_rate": lr}, "run_id": rid})
    return store


def run_numbers(run_id: str) -> dict:
    """results.json of a fixture run, as written."""
    return next({"eval_accuracy": r[4], "test_accuracy": r[5], "test_macro_f1": r[6],
                 "trainable_params": r[7], "train_runtime_s": r[8]} for r in RUNS
                if r[0] == run_id)
