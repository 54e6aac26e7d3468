"""Shared fixtures: a tiny RoBERTa, a learnable toy emotion dataset, the offline shared assets.

Every test runs offline (no Hub, no W&B) and writes runs into a temporary store.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

# Tiny models run fastest on one thread, and the test machine's few cores are shared: several
# torch threads per process thrash (measured 15x slower per step under load). Set before any
# test imports torch; subprocesses (detached runs) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

TOY_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")
# Each label owns a few keywords; the rest of a sentence is shared filler, so a tiny model can
# learn the task in a few epochs from the keywords alone.
TOY_KEYWORDS = {
    0: ("sad", "lonely", "gloomy", "miserable", "heartbroken"),
    1: ("happy", "cheerful", "glad", "delighted", "joyful"),
    2: ("loving", "adore", "tender", "beloved", "affection"),
    3: ("angry", "furious", "mad", "irritated", "outraged"),
    4: ("scared", "afraid", "terrified", "anxious", "nervous"),
    5: ("surprised", "amazed", "shocked", "astonished", "stunned"),
}
TOY_FILLER = (
    "i feel", "today", "really", "so", "about the", "weekend", "and my", "friend", "at work",
    "this morning", "after the", "meeting", "quite", "very", "when i", "saw", "it", "again",
)
TOY_SPLIT_SIZES = {"train": 300, "validation": 60, "test": 60}


def toy_sentence(rng: random.Random, label: int) -> str:
    words = [rng.choice(TOY_FILLER) for _ in range(rng.randint(2, 6))]
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randint(0, len(words)), rng.choice(TOY_KEYWORDS[label]))
    return " ".join(words)


def toy_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    # Every label present in every split (labels cycle), order shuffled.
    rows = [{"text": toy_sentence(rng, i % 6), "label": i % 6} for i in range(n)]
    rng.shuffle(rows)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory) -> Path:
    """train/validation/test.jsonl ({"text", "label"}), labels 0..5, 300/60/60 rows."""
    root = tmp_path_factory.mktemp("toy_data")
    for seed, (split, n) in enumerate(TOY_SPLIT_SIZES.items()):
        write_jsonl(root / f"{split}.jsonl", toy_rows(n, seed))
    return root


def _tokenizer_corpus() -> list[str]:
    rng = random.Random(1234)
    lines = [toy_sentence(rng, i % 6) for i in range(600)]
    lines.append("classify the emotion of the following text: ")
    lines.append("i didnt feel humiliated and i am feeling grouchy about it")
    return lines


def _pretrain_on_toy_task(model, tokenizer, epochs: int = 6) -> None:
    """A second or two of supervised training on separate toy rows (a stand-in for pretraining)."""
    from emotui.train.demo_assets import warm_up

    rows = toy_rows(600, seed=99)
    warm_up(model, tokenizer, [r["text"] for r in rows], [r["label"] for r in rows],
            epochs=epochs, batch_size=16)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny RoBERTa encoder (2 layers, hidden 32) + byte-level BPE tokenizer (vocab 500),
    saved with save_pretrained; its encoder was briefly trained on toy rows (see above)."""
    from transformers import (
        AutoModel,
        AutoTokenizer,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    from emotui.train.demo_assets import build_tokenizer

    model_dir = tmp_path_factory.mktemp("tiny_roberta") / "model"
    tokenizer = build_tokenizer(model_dir, _tokenizer_corpus(), vocab_size=500)

    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=140, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, num_labels=6,
    )
    import torch

    torch.manual_seed(0)
    model = RobertaForSequenceClassification(config)
    _pretrain_on_toy_task(model, tokenizer)
    # Save the encoder only: like a real pretrained checkpoint, each run gets a fresh head. The
    # encoder already separates the toy labels, so the PEFT methods (frozen encoder) learn fast.
    model.roberta.save_pretrained(model_dir)

    # Prove it loads the way emotui loads models.
    AutoTokenizer.from_pretrained(model_dir)
    AutoModel.from_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared assets not found at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def emotion_data_dir(shared_dir) -> Path:
    path = shared_dir / "data" / "emotion"
    if not (path / "train.jsonl").is_file():
        pytest.skip(f"emotion data not found at {path}")
    return path


@pytest.fixture(scope="session")
def minilm_dir(shared_dir) -> Path:
    path = shared_dir / "models" / "all-MiniLM-L6-v2"
    if not (path / "config.json").is_file():
        pytest.skip(f"MiniLM model not found at {path}")
    return path


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def offline_environment(monkeypatch, tmp_path_factory):
    """No test reaches the network or writes to ./runs or the user's cache or state folder."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("EMOTUI_RUNS_DIR", str(tmp_path_factory.mktemp("default_runs")))
    monkeypatch.setenv("EMOTUI_CACHE_DIR", str(tmp_path_factory.mktemp("user_cache")))
    # What the TUI remembers (theme, the form's last values) starts afresh in every test.
    monkeypatch.setenv("EMOTUI_STATE_DIR", str(tmp_path_factory.mktemp("user_state")))
