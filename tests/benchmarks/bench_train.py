"""Training throughput: the study's recipe vs emotui's default recipe, in one process.

    uv run python tests/benchmarks/bench_train.py            # on a GPU (roberta-base sizes)
    uv run python tests/benchmarks/bench_train.py --smoke    # tiny sizes: proves it runs (CPU)

Model: ``RobertaConfig()`` defaults (the roberta-base architecture), random init, 6 labels.
Data: the real dair-ai/emotion training texts (../shared/data/emotion), tokenised with the
MiniLM tokenizer as a stand-in for RoBERTa's (what matters here is the length distribution).

For each method (full, LoRA r=8 query,value, prompt tuning 12 text tokens) it measures
training samples/s over timed steps after warm-up steps, and evaluation samples/s, for:
- reference: transformers' Trainer as the study ran it (fp32, padded to 128, batch 64, eval batch 8);
- emotui: the default loop (bf16 where supported, dynamic padding, length buckets, fused AdamW,
  eval batch 256).
Then one end-to-end run: MiniLM full fine-tuning, 5 epochs, lr 1e-4, through ``train()``.
Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
EMOTION = SHARED / "data" / "emotion"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"
LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
METHODS = {
    "full": {"learning_rate": 2e-5},
    "lora": {"method": "lora", "learning_rate": 1e-3},
    "prompt": {"method": "prompt-text", "learning_rate": 2e-2,
               "prompt_tuning_init_text": "classify the emotion of the following text: "},
}


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def load_texts(limit: int | None) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    with open(EMOTION / "train.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(int(row["label"]))
            if limit and len(texts) >= limit:
                break
    return texts, labels


def make_model_dir(root: Path, smoke: bool) -> Path:
    """Random-init roberta-base architecture + the MiniLM tokenizer, saved like a checkpoint."""
    import torch
    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64) if smoke else {}
    config = RobertaConfig(num_labels=6, **size)  # vocab 50265 covers MiniLM's 30522 ids
    torch.manual_seed(0)
    folder = root / ("tiny-roberta" if smoke else "roberta-base-random")
    RobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_config(model_dir: Path, method: str, **extra):
    from emotui.core.config import build_config

    values = {"model_name_or_path": str(model_dir), "per_device_train_batch_size": 64,
              "max_seq_length": 128, **METHODS[method], **extra}
    config, _ = build_config([("bench", values)])
    return config


def bench_reference(model_dir, method, ids, labels, warmup, steps, eval_n):
    """transformers' Trainer, the study's settings."""
    import datasets
    from transformers import Trainer, TrainerCallback

    from emotui.train.model import build_model
    from emotui.train.reference import study_matmul_precision, training_arguments

    config = run_config(model_dir, method, recipe="reference", per_device_eval_batch_size=8,
                        max_steps=warmup + steps, eval_strategy="no", save_strategy="no",
                        logging_steps=10_000, load_best_model_at_end=False)
    built = build_model(config, LABELS, native_prompt_init=True)
    pad = built.tokenizer.pad_token_id or 0
    padded = np.full((len(ids), 128), pad, dtype=np.int64)
    mask = np.zeros_like(padded)
    for i, seq in enumerate(ids):
        padded[i, :len(seq)] = seq
        mask[i, :len(seq)] = 1
    ds = datasets.Dataset.from_dict({"input_ids": padded.tolist(), "attention_mask": mask.tolist(),
                                     "labels": list(labels)})
    marks: dict[int, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step in (warmup, warmup + steps):
                sync()
                marks[state.global_step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(config, Path(out))
        study_matmul_precision(config)
        trainer = Trainer(model=built.model, args=args, train_dataset=ds, callbacks=[Clock()])
        trainer.train()
        train_sps = steps * 64 / (marks[warmup + steps] - marks[warmup])
        eval_ds = ds.select(range(min(eval_n, len(ds))))
        trainer.evaluate(eval_ds.select(range(min(64, len(eval_ds)))))  # warm-up
        sync()
        start = time.perf_counter()
        trainer.evaluate(eval_ds)
        sync()
        eval_sps = len(eval_ds) / (time.perf_counter() - start)
    del trainer, built
    return train_sps, eval_sps


def bench_emotui(model_dir, method, ids, labels, warmup, steps, eval_n):
    """emotui's default loop: the same step function TrainingLoop.run uses."""
    from emotui.train.batches import Encoded, train_batches
    from emotui.train.loop import TrainingLoop
    from emotui.train.model import build_model

    config = run_config(model_dir, method, max_steps=warmup + steps)
    built = build_model(config, LABELS)
    enc = Encoded(ids=[np.asarray(s, dtype=np.int64) for s in ids],
                  lengths=np.asarray([len(s) for s in ids]), labels=np.asarray(labels))
    loop = TrainingLoop(config, built.model, built.tokenizer.pad_token_id or 0, {"train": enc},
                        LABELS, checkpointer=None, hooks=None)
    batches = []
    epoch = 0
    while len(batches) < warmup + steps:
        batches += train_batches(enc.lengths, 64, config.seed, epoch)
        epoch += 1
    loop.model.train()
    for i, index in enumerate(batches[:warmup + steps]):
        if i == warmup:
            sync()
            start = time.perf_counter()
        loop.train_step(loop._batch(enc, index))
        loop.optimizer_step()
    sync()
    train_sps = steps * 64 / (time.perf_counter() - start)
    n = min(eval_n, len(enc))
    sub = Encoded(enc.ids[:n], enc.lengths[:n], enc.labels[:n])
    warm = Encoded(enc.ids[:64], enc.lengths[:64], enc.labels[:64])
    loop.predict_split(warm)
    sync()
    start = time.perf_counter()
    loop.predict_split(sub)
    sync()
    eval_sps = n / (time.perf_counter() - start)
    del loop, built
    return train_sps, eval_sps


def end_to_end(smoke: bool) -> dict:
    """MiniLM full fine-tuning on the real data through train(), timed."""
    from emotui.core.config import build_config, dump_config
    from emotui.core.runstore import RunStore
    from emotui.train import train

    values = {"model_name_or_path": str(MINILM), "learning_rate": 1e-4,
              "train_file": str(EMOTION / "train.jsonl"),
              "validation_file": str(EMOTION / "validation.jsonl"),
              "test_file": str(EMOTION / "test.jsonl"), "num_train_epochs": 5}
    if smoke:
        values.update(num_train_epochs=1, max_train_samples=128, max_eval_samples=64,
                      max_predict_samples=64)
    config, _ = build_config([("bench", values)])
    with tempfile.TemporaryDirectory() as root:
        paths = RunStore(root).create(config.method)
        paths.config.write_text(dump_config(config))
        start = time.perf_counter()
        results = train(config, paths.root)
        wall = time.perf_counter() - start
    return {"wall_s": round(wall, 1), "train_runtime_s": results["train_runtime_s"],
            "test_accuracy": results["test_accuracy"], "eval_accuracy": results["eval_accuracy"],
            "train_samples_per_second": results["train_samples_per_second"],
            "peak_gpu_memory_bytes": results["peak_gpu_memory_bytes"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, runs on CPU in ~a minute")
    parser.add_argument("--methods", default="full,lora,prompt")
    parser.add_argument("--warmup-steps", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not (EMOTION / "train.jsonl").is_file() or not MINILM.is_dir():
        print(f"needs {EMOTION} and {MINILM}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    import torch

    from emotui.train.job import configure_library_logging

    configure_library_logging()
    warmup = args.warmup_steps if args.warmup_steps is not None else (2 if args.smoke else 10)
    steps = args.steps if args.steps is not None else (4 if args.smoke else 60)
    eval_n = args.eval_samples if args.eval_samples is not None else (128 if args.smoke else 2000)
    need = (warmup + steps) * 64
    texts, labels = load_texts(max(need, eval_n) if args.smoke else None)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"device: {device}; torch {torch.__version__}; {len(ids)} texts, mean length "
          f"{np.mean([len(s) for s in ids]):.1f} tokens; {warmup} warm-up + {steps} timed steps")
    rows = []
    with tempfile.TemporaryDirectory() as root:
        model_dir = make_model_dir(Path(root), args.smoke)
        for method in args.methods.split(","):
            ref = bench_reference(model_dir, method, ids, labels, warmup, steps, eval_n)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            new = bench_emotui(model_dir, method, ids, labels, warmup, steps, eval_n)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            row = {"method": method, "reference_train_sps": round(ref[0], 1),
                   "emotui_train_sps": round(new[0], 1), "train_speedup": round(new[0] / ref[0], 2),
                   "reference_eval_sps": round(ref[1], 1), "emotui_eval_sps": round(new[1], 1),
                   "eval_speedup": round(new[1] / ref[1], 2)}
            rows.append(row)
            print(f"{method:7s} train samples/s: reference {row['reference_train_sps']:>9} "
                  f"emotui {row['emotui_train_sps']:>9} (x{row['train_speedup']})   "
                  f"eval samples/s: reference {row['reference_eval_sps']:>9} "
                  f"emotui {row['emotui_eval_sps']:>9} (x{row['eval_speedup']})", flush=True)
    report = {"device": device, "smoke": args.smoke, "throughput": rows}
    if not args.skip_e2e:
        report["end_to_end_minilm_full"] = e2e = end_to_end(args.smoke)
        print(f"end to end, MiniLM full fine-tuning ({'smoke' if args.smoke else '5 epochs'}): "
              f"{e2e['wall_s']} s wall, train {e2e['train_runtime_s']} s, "
              f"test accuracy {e2e['test_accuracy']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
