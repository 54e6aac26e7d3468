"""Generated run stores for the scale benchmark (tests/benchmarks/bench_scale.py): many finished
runs, a run with a large metrics.jsonl, a run of many classes, written as emotui writes them.
Kept between invocations (a marker file names what was generated). Also a command, to look at
such a store by hand:

    uv run python tests/benchmarks/scale_stores.py /tmp/store-1k 1000
    uv run emotui --runs-dir /tmp/store-1k
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

LABELS6 = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def _configs() -> dict[str, tuple[str, str]]:
    """Method alias -> (its name as status.json holds it, its config.yaml as emotui writes it)."""
    from emotui.core.config import build_config, dump_config

    out = {}
    for alias in ("full", "lora", "prompt-text", "prompt-random"):
        config = build_config([("bench", {"method": alias})])[0]
        out[alias] = (config.method, dump_config(config))
    return out


def _results(i: int, n_labels: int = 6, labels: list[str] | None = None) -> dict:
    labels = labels or LABELS6[:n_labels]
    per_class = {name: {"precision": 0.9, "recall": 0.88, "f1": 0.89, "support": 100}
                 for name in labels}
    matrix = [[90 if r == c else (1 if (r + c + i) % 7 == 0 else 0) for c in range(n_labels)]
              for r in range(n_labels)]
    return {"run_id": None, "status": "completed", "method": "lora", "model": "roberta-base",
            "best_epoch": 3, "eval_accuracy": round(0.9 + (i % 50) / 1000, 4),
            "eval_macro_f1": 0.88, "test_accuracy": round(0.9 + (i % 40) / 1000, 4),
            "test_macro_f1": 0.87, "per_class": per_class, "confusion_matrix": matrix,
            "label_names": labels, "trainable_params": 890118, "total_params": 125_000_000,
            "checkpoint_bytes": 3_500_000, "train_runtime_s": 300.0 + i % 60,
            "train_samples_per_second": 2100.0, "eval_samples_per_second": 9000.0,
            "peak_gpu_memory_bytes": None, "epochs_completed": 5, "collapsed": False}


def make_store(root: Path, n: int) -> None:
    """n finished runs (60% completed with results.json, then failed and cancelled), each with
    config.yaml and status.json as emotui writes them. Kept between invocations."""
    marker = root / ".generated"
    if marker.exists() and marker.read_text() == str(n):
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    configs = _configs()
    tags = {"full": "full", "lora": "lora", "prompt-text": "ptext", "prompt-random": "prand"}
    methods = list(configs)
    base = time.time() - n * 60
    t = time.perf_counter()
    for i in range(n):
        method = methods[i % 4]
        created = base + i * 60
        rid = f"{time.strftime('%y%m%d-%H%M%S', time.localtime(created))}-{tags[method]}-{i:05x}"
        run = root / rid
        run.mkdir()
        name, text = configs[method]
        (run / "config.yaml").write_text(text)
        state = ("completed", "completed", "completed", "failed", "cancelled")[i % 5]
        status = {"state": state, "backend": "local", "job_id": None, "run_id": rid,
                  "method": name, "created": created, "started": created + 5,
                  "ended": created + 300, "updated": created + 300, "attempt": 1,
                  "progress": 1.0 if state == "completed" else 0.4,
                  "epoch": 5.0 if state == "completed" else 2.0, "phase": "done",
                  "step": 1250, "total_steps": 1250, "elapsed_s": 295.0,
                  "reason": "CUDA out of memory" if state == "failed" else
                  ("cancelled by user" if state == "cancelled" else None),
                  "schema_version": 1}
        (run / "status.json").write_text(json.dumps(status, indent=2))
        if state == "completed":
            results = _results(i)
            results.update(run_id=rid, method=method)
            (run / "results.json").write_text(json.dumps(results, indent=2))
    marker.write_text(str(n))
    print(f"  generated {n} runs in {time.perf_counter() - t:.1f} s ({load()})", flush=True)


def make_metrics_run(root: Path, megabytes: int, n_labels: int = 6) -> str:
    """A store of one completed run whose metrics.jsonl is ``megabytes`` MB (train events every
    step, an evaluation every 2,000 steps, a system sample every 50)."""
    marker = root / ".generated"
    key = f"{megabytes}MB/{n_labels}/2"  # /2: with its evaluations
    rid = f"251201-120000-lora-m{megabytes:03d}"
    if marker.exists() and marker.read_text() == key:
        return rid
    shutil.rmtree(root, ignore_errors=True)
    run = root / rid
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(_configs()["lora"][1])
    now = time.time()
    (run / "status.json").write_text(json.dumps({
        "state": "completed", "backend": "local", "created": now - 3600, "started": now - 3600,
        "ended": now - 60, "updated": now - 60, "progress": 1.0, "epoch": 5.0,
        "attempt": 1, "schema_version": 1}))
    labels = [f"class{i:04d}" for i in range(n_labels)] if n_labels > 6 else None
    results = _results(1, n_labels, labels)
    results.update(run_id=rid)
    (run / "results.json").write_text(json.dumps(results))
    rng = random.Random(0)
    target = megabytes * 2**20
    written, step = 0, 0
    t0 = now - 3600
    with open(run / "metrics.jsonl", "w") as fh:
        lines = []
        while written < target:
            step += 1
            if step % 2000 == 0:  # before the system samples: 2000 is a multiple of 50
                line = json.dumps({"time": t0 + step * 0.01, "split": "eval", "step": step,
                                   "epoch": step / 2000, "loss": 0.3, "accuracy":
                                   min(0.95, 0.5 + step / 4e5), "macro_f1": 0.8})
            elif step % 50 == 0:
                line = json.dumps({"time": t0 + step * 0.01, "split": "system", "step": step,
                                   "cpu_percent": 97.5, "rss_bytes": 2_000_000_000})
            else:
                line = json.dumps({"time": t0 + step * 0.01, "split": "train", "step": step,
                                   "epoch": step / 2000, "loss": 2.0 / (1 + step / 1e4)
                                   + rng.random() * 0.05, "learning_rate": 1e-3,
                                   "grad_norm": 1.2, "samples_per_second": 2100.0,
                                   "tokens_per_s": 120000.0, "pad_fraction": 0.12})
            lines.append(line)
            written += len(line) + 1
            if len(lines) >= 10000:
                fh.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            fh.write("\n".join(lines) + "\n")
    marker.write_text(key)
    return rid


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: scale_stores.py DIR RUNS")
    make_store(Path(sys.argv[1]), int(sys.argv[2]))
