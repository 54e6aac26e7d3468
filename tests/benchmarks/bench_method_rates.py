"""A method's default learning rate, measured the way every default in METHODS was chosen.

    uv run python tests/benchmarks/bench_method_rates.py loha=2e-3,1e-2 vera=1e-2,3e-2
    uv run python tests/benchmarks/bench_method_rates.py lora=2e-3 --limit-s 360

Each METHOD=RATE,... pair is one `emotui run` in a subprocess, one at a time (the figures of a
shared machine are slow enough; two at once would only be slower), in a temporary run store:
all-MiniLM-L6-v2 (../shared/models) on 4000 emotion training examples (../shared/data/emotion)
for 2 epochs (126 steps at batch 64), everything else at emotui's defaults (the best epoch on
validation is tested). A default must end above the majority class's rate and not be flagged
collapsed by the sentinel; the table prints both beside each accuracy, with the wall time and the
load average (this machine may be shared).

``--limit-s``: a run that takes longer is stopped, and the runs not yet made are printed as
commands instead of run. Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The offline assets sit beside the checkout (../shared), or inside a copy of it (shared/).
SHARED = next((p for p in (REPO.parent / "shared", REPO / "shared") if p.is_dir()),
              REPO.parent / "shared")
EMOTION = SHARED / "data" / "emotion"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"
# The schedule every default was measured on (README.md, "Method defaults").
TRAIN_SAMPLES = 4000
EPOCHS = 2


def majority_rate(split: str) -> float:
    """The accuracy of always predicting the split's most common label."""
    lines = (EMOTION / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    counts = Counter(json.loads(line)["label"] for line in lines if line.strip())
    return max(counts.values()) / sum(counts.values())


def command(method: str, rate: str) -> list[str]:
    """The `emotui run` of one measurement (runs dir and --json added by ``measure``)."""
    return ["emotui", "run", "--model_name_or_path", str(MINILM),
            "--train_file", str(EMOTION / "train.jsonl"),
            "--validation_file", str(EMOTION / "validation.jsonl"),
            "--test_file", str(EMOTION / "test.jsonl"),
            "--max_train_samples", str(TRAIN_SAMPLES), "--num_train_epochs", str(EPOCHS),
            "--method", method, "--learning_rate", rate]


def measure(method: str, rate: str, limit_s: float | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="emotui-rates-") as runs:
        argv = [sys.executable, "-m", "emotui", "--runs-dir", runs, *command(method, rate)[1:],
                "--json"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled"}
        start, cpu = time.perf_counter(), _children_cpu_s()
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO,
                                  timeout=limit_s)
        except subprocess.TimeoutExpired:
            # The CPU time it got tells a slow run from one starved by the machine's other work.
            return {"error": f"stopped after {limit_s:.0f} s, having had "
                             f"{_children_cpu_s() - cpu:.0f} s of CPU (load "
                             f"{os.getloadavg()[0]:.1f})"}
        row: dict = {"wall_s": time.perf_counter() - start, "cpu_s": _children_cpu_s() - cpu,
                     "load": os.getloadavg()[0]}
        try:
            results = json.loads(done.stdout)
        except ValueError:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            return {**row, "error": f"exit {done.returncode}: {tail}"}
        return {**row, **{k: results.get(k) for k in ("eval_accuracy", "test_accuracy",
                                                       "collapsed")}}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_pairs(texts: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in texts:
        method, _, rates = text.partition("=")
        if not rates:
            raise SystemExit(f"give METHOD=RATE[,RATE...], not {text!r}")
        pairs += [(method, rate) for rate in rates.split(",") if rate]
    return pairs


def percent(value) -> str:
    return f"{100 * value:5.1f}%" if isinstance(value, (int, float)) else "    -"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="+", metavar="METHOD=RATE[,RATE...]")
    parser.add_argument("--limit-s", type=float, default=None,
                        help="stop a run that takes longer, and leave the rest unrun")
    args = parser.parse_args(argv)
    if not (EMOTION / "train.jsonl").is_file() or not MINILM.is_dir():
        print(f"needs {EMOTION} and {MINILM}", file=sys.stderr)
        return 2
    pairs = parse_pairs(args.pairs)
    val_major, test_major = majority_rate("validation"), majority_rate("test")
    print(f"{os.cpu_count()} CPUs; MiniLM, {TRAIN_SAMPLES} examples x {EPOCHS} epochs; majority "
          f"class: validation {percent(val_major).strip()}, test {percent(test_major).strip()}")
    print(f"{'method':<14} {'lr':>8} {'val acc':>8} {'test acc':>8} {'val maj':>8} "
          f"{'above':>6} {'collapsed':>9} {'wall s':>7} {'cpu s':>6} {'load':>5}", flush=True)
    for index, (method, rate) in enumerate(pairs):
        row = measure(method, rate, args.limit_s)
        if "error" in row:
            print(f"{method:<14} {rate:>8}  {row['error']}", flush=True)
            if "stopped" in row["error"]:
                print("not run (one at a time, when the machine allows):")
                for other, other_rate in pairs[index + 1:]:
                    print("  " + shlex.join([*command(other, other_rate), "--json"]))
                return 1
            continue
        above = isinstance(row["eval_accuracy"], float) and row["eval_accuracy"] > val_major
        print(f"{method:<14} {rate:>8} {percent(row['eval_accuracy']):>8} "
              f"{percent(row['test_accuracy']):>8} {percent(val_major):>8} "
              f"{'yes' if above else 'NO':>6} {str(bool(row['collapsed'])).lower():>9} "
              f"{row['wall_s']:7.0f} {row['cpu_s']:6.0f} {row['load']:5.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
