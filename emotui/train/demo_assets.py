"""`emotui demo`'s model and data, made on this machine in seconds (no network).

A tiny RoBERTa-style encoder with a byte-level BPE tokenizer trained on the demo's own text, and
a six-class emotion-like dataset generated from templates (train/validation/test.jsonl with the
emotion dataset's label names). The encoder gets a second of supervised warm-up on separate
sentences, as a stand-in for pretraining, so the methods with a frozen encoder (LoRA, prompt
tuning) learn something in a short run too. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from emotui.core.method_settings import DEFAULT_PROMPT_INIT_TEXT
from emotui.train.data import EMOTION_LABELS

# Bump when what build_demo_assets makes changes: an older folder is then rebuilt.
ASSETS_VERSION = 1
DONE_MARKER = "demo-assets.json"
SPLIT_SIZES = {"train": 1600, "validation": 300, "test": 300}
# A share of the labels is replaced at random, so accuracy stops short of 100% and the methods
# end at different heights.
LABEL_NOISE = 0.08

KEYWORDS = {
    "sadness": ("sad", "lonely", "gloomy", "miserable", "heartbroken", "down", "hopeless"),
    "joy": ("happy", "cheerful", "glad", "delighted", "joyful", "thrilled", "content"),
    "love": ("loving", "tender", "devoted", "affectionate", "fond", "caring", "adoring"),
    "anger": ("angry", "furious", "mad", "irritated", "outraged", "annoyed", "bitter"),
    "fear": ("scared", "afraid", "terrified", "anxious", "nervous", "worried", "uneasy"),
    "surprise": ("surprised", "amazed", "shocked", "astonished", "stunned", "startled",
                 "speechless"),
}
TEMPLATES = (
    "i feel {kw} {when}",
    "i am feeling {kw} about {topic}",
    "{when} i felt so {kw} after {event}",
    "i have been {kw} since {event}",
    "honestly i feel {kw} whenever i think about {topic}",
    "my {person} makes me feel {kw}",
    "i was {kw} when {person} told me about {topic}",
    "i cant stop feeling {kw} about {topic} {when}",
    "{event} left me feeling {kw}",
    "i feel a little {kw} and {kw2} {when}",
)
FILLERS = {
    "when": ("today", "this morning", "tonight", "at work", "again", "lately", "this week",
             "all day", "right now", "on the weekend"),
    "topic": ("the move", "my exam", "the new job", "our trip", "the meeting", "the news",
              "my garden", "the weekend", "school", "the holidays"),
    "event": ("the call", "the party", "the interview", "dinner", "the long drive",
              "the game", "the letter", "the storm", "the concert", "the results"),
    "person": ("friend", "sister", "brother", "boss", "neighbour", "mother", "father",
               "partner", "teacher", "cousin"),
}


@dataclass(frozen=True)
class DemoAssets:
    """Where the demo's model and data are."""

    root: Path

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def ready(self) -> bool:
        try:
            info = json.loads((self.root / DONE_MARKER).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return info.get("version") == ASSETS_VERSION


def sentence(rng: random.Random, label: str) -> str:
    template = rng.choice(TEMPLATES)
    words = KEYWORDS[label]
    first = rng.choice(words)
    values = {key: rng.choice(options) for key, options in FILLERS.items()}
    return template.format(kw=first, kw2=rng.choice([w for w in words if w != first]), **values)


def labelled_rows(n: int, seed: int, noise: float = LABEL_NOISE) -> list[dict]:
    """n {"text", "label"} rows, every label present, shuffled; a share of labels random."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = EMOTION_LABELS[i % len(EMOTION_LABELS)]
        text = sentence(rng, label)
        if rng.random() < noise:
            label = rng.choice(EMOTION_LABELS)
        rows.append({"text": text, "label": label})
    rng.shuffle(rows)
    return rows


def write_data(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (split, n) in enumerate(SPLIT_SIZES.items()):
        rows = labelled_rows(n, seed)
        (folder / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def build_tokenizer(folder: Path, corpus: list[str], vocab_size: int = 800):
    """A byte-level BPE tokenizer (RoBERTa's kind) trained on corpus, saved to folder."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    scratch = folder / "bpe"
    scratch.mkdir(parents=True, exist_ok=True)
    bpe.save_model(str(scratch))
    merges = [tuple(line.split(" "))
              for line in (scratch / "merges.txt").read_text(encoding="utf-8").splitlines()
              if line and not line.startswith("#version")]
    tokenizer = RobertaTokenizerFast(vocab=bpe.get_vocab(), merges=merges, model_max_length=128)
    tokenizer.save_pretrained(folder)
    for leftover in scratch.iterdir():
        leftover.unlink()
    scratch.rmdir()
    return tokenizer


# The warm-up task: coarse sentiment, not the six emotions. The encoder comes out knowing the
# words but not the task, as a pretrained one would: full fine-tuning then beats LoRA, which
# beats prompt tuning, as in the study.
COARSE = {"sadness": 0, "anger": 0, "fear": 0, "joy": 1, "love": 1, "surprise": 2}


def warm_up(model, tokenizer, texts: list[str], labels: list[int], epochs: int = 3,
            batch_size: int = 32) -> None:
    """A short supervised pass over texts and their label ids, standing in for pretraining
    (the test suite's tiny model is warmed up the same way)."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, return_tensors="pt")
            label_ids = torch.tensor(labels[start:start + batch_size])
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         labels=label_ids).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.eval()


def build_model(folder: Path, corpus: list[str], warm_up_rows: list[dict]) -> None:
    """Tokenizer + a small RoBERTa encoder (saved without its head, like a pretrained one)."""
    import torch
    import transformers
    from transformers import RobertaConfig, RobertaForSequenceClassification

    transformers.logging.disable_progress_bar()  # "Writing model shards" is noise here
    tokenizer = build_tokenizer(folder, corpus)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=256, max_position_embeddings=140, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, num_labels=len(set(COARSE.values())),
    )
    torch.manual_seed(0)
    model = RobertaForSequenceClassification(config)
    warm_up(model, tokenizer, [r["text"] for r in warm_up_rows],
            [COARSE[r["label"]] for r in warm_up_rows])
    model.roberta.save_pretrained(folder)


def build_demo_assets(root: Path) -> DemoAssets:
    """The demo's model and data under root, made once (reused while the version matches)."""
    assets = DemoAssets(Path(root))
    if assets.ready:
        return assets
    import torch

    write_data(assets.data_dir)
    rng = random.Random(1234)
    corpus = [sentence(rng, EMOTION_LABELS[i % len(EMOTION_LABELS)]) for i in range(3000)]
    corpus.append(DEFAULT_PROMPT_INIT_TEXT)
    # Separate sentences (another seed) for the warm-up: the demo's test set stays unseen.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a small machine
    try:
        build_model(assets.model_dir, corpus, labelled_rows(480, seed=99, noise=0.0))
    finally:
        torch.set_num_threads(threads)
    (assets.root / DONE_MARKER).write_text(
        json.dumps({"version": ASSETS_VERSION, "model": "model", "data": "data"}) + "\n",
        encoding="utf-8")
    return assets
