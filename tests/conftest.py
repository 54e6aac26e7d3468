"""Shared fixtures: a tiny RoBERTa, a learnable toy emotion dataset, the offline shared assets.

Every test runs offline (no Hub, no W&B) and writes runs into a temporary store.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
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


# -- the environment: the suite never sees the user's shell ----------------------------------------

# The suite's own knobs (CI sets EMOTUI_REQUIRE_SLURM and EMOTUI_REQUIRE_BROWSER;
# EMOTUI_SCREENSHOTS keeps the browser tests' screenshots); every other EMOTUI_*, WANDB_* and
# TRACKIO_* variable of the shell that started pytest is replaced for the whole session.
SUITE_KNOBS = frozenset({"EMOTUI_REQUIRE_SLURM", "EMOTUI_SLURM_REPORT", "EMOTUI_REQUIRE_BROWSER",
                         "EMOTUI_SCREENSHOTS", "EMOTUI_RACE_CYCLES", "EMOTUI_STRESS_OPERATIONS",
                         "EMOTUI_STRESS_SEED"})
OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
# A bound on every test (pytest-timeout, thread method: a hang fails with every thread's stack);
# pyproject.toml sets it for the default suite, the long scenarios get this one.
LONG_TEST_S = 1800


def isolated_environment(folder: Path) -> dict[str, str]:
    """Offline, W&B off, and emotui's store, cache, state, user config and trackio's database
    under ``folder``."""
    return {**{name: "1" for name in OFFLINE}, "WANDB_MODE": "disabled",
            # wandb's own telemetry: exporter threads that would outlive the test (every 60 s).
            "WANDB_ERROR_REPORTING": "false",
            "EMOTUI_RUNS_DIR": str(folder / "runs"), "EMOTUI_CACHE_DIR": str(folder / "cache"),
            "EMOTUI_STATE_DIR": str(folder / "state"),
            # trackio's database: never the user's ~/.cache/huggingface/trackio.
            "TRACKIO_DIR": str(folder / "trackio"),
            # A missing file: no user defaults (a test that wants some points here itself).
            "EMOTUI_CONFIG": str(folder / "no-user-config.yaml")}


def pytest_configure(config):
    """Before collection and before any fixture: a user who exported EMOTUI_RUNS_DIR or
    WANDB_MODE=offline (as on a cluster) must not have session and module fixtures, or the
    threads and processes they start, write to their store or start W&B. Each test then gets
    its own folders (offline_environment)."""
    folder = Path(tempfile.mkdtemp(prefix="emotui-tests-"))
    patch = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith(("EMOTUI_", "WANDB_", "TRACKIO_")) and name not in SUITE_KNOBS:
            patch.delenv(name)
    for name, value in isolated_environment(folder).items():
        patch.setenv(name, value)
    config._emotui_environment = (patch, folder)
    # A script that starts pytest in the background (`pytest &`) starts it with SIGINT ignored,
    # and every process a test starts would inherit that: Ctrl-C as a terminal sends it must
    # stop them (and this process) in the tests that send it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config):
    patch, folder = getattr(config, "_emotui_environment", (None, None))
    if patch is not None:
        patch.undo()
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        long = item.get_closest_marker("slow") or item.get_closest_marker("slurm_heavy")
        if long and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LONG_TEST_S))


@pytest.fixture(autouse=True)
def offline_environment(monkeypatch, tmp_path_factory):
    """No test reaches the network or writes to ./runs, the user's cache, state folder or
    config; what the TUI remembers (theme, the form's last values) starts afresh in every test."""
    folder = tmp_path_factory.mktemp("environment")
    for name, value in isolated_environment(folder).items():
        monkeypatch.setenv(name, value)
    for name in ("runs", "cache", "state"):
        (folder / name).mkdir()


@pytest.fixture(scope="module", autouse=True)
def wandb_service_stopped():
    """W&B's service process (wandb-core), which wandb.init starts in this process and which
    would otherwise live until pytest exits, ends with the test module that started it."""
    yield
    setup = sys.modules.get("wandb.sdk.wandb_setup")
    if setup is not None and getattr(setup, "_singleton", None) is not None:
        import wandb

        wandb.teardown()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Textual's Pilot runs on asyncio. anyio's plugin would also run every async test on trio
    once trio is installed (the browser tests' Selenium brings it): asyncio only."""
    return "asyncio"
