"""Classify texts with a run's best checkpoint (``emotui predict``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emotui.core.config import config_from_yaml
from emotui.core.errors import EmotuiError
from emotui.core.lifecycle import ACTIVE, state_of
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.train.batches import collate, encode, eval_batches
from emotui.train.checkpoint import ADAPTER_WEIGHTS, LABELS_FILE, load_weights
from emotui.train.loop import resolve_device
from emotui.train.model import build_model
from emotui.train.reporting import configure_library_logging


class Predictor:
    """A run's best checkpoint, loaded once: `emotui predict` answers every text of a file, a
    pipe or its prompt with it, paying torch's import and the model's load a single time."""

    def __init__(self, run_dir: str | Path, batch_size: int = 64):
        paths = RunPaths(Path(run_dir).expanduser().absolute())
        best = paths.checkpoint_best
        labels_file = best / LABELS_FILE
        if not labels_file.is_file():
            raise EmotuiError(_no_checkpoint_message(paths))
        if not paths.config.is_file():
            raise EmotuiError(f"run {paths.run_id} has no config.yaml; it cannot be loaded")
        self.config = config_from_yaml(paths.config)
        self.label_names = json.loads(labels_file.read_text(encoding="utf-8"))
        self.batch_size = batch_size
        configure_library_logging()
        self.model, self.tokenizer = load_for_inference(self.config, best, self.label_names)
        self.device = resolve_device()
        self.model.to(self.device).eval()

    def __call__(self, texts: list[str]) -> list[dict[str, Any]]:
        """One {"label", "probabilities": {label: p}} per text."""
        texts = [str(t) for t in texts]
        if not texts:
            return []
        probs = probabilities(self.model, self.tokenizer, texts, self.config.max_seq_length,
                              self.device, self.batch_size)
        out = []
        for row in probs.tolist():
            best_id = max(range(len(row)), key=row.__getitem__)
            out.append({"label": self.label_names[best_id],
                        "probabilities": {name: round(p, 6)
                                          for name, p in zip(self.label_names, row)}})
        return out


def predict(run_dir: str | Path, texts: list[str], batch_size: int = 64) -> list[dict[str, Any]]:
    """One {"label", "probabilities": {label: p}} per text, from checkpoints/best."""
    return Predictor(run_dir, batch_size)(texts)


def probabilities(model, tokenizer, texts: list[str], max_seq_length: int, device,
                  batch_size: int = 64):
    """A (texts, labels) tensor of the model's class probabilities, on the CPU: each text cut
    to ``max_seq_length`` tokens, in length-sorted batches (what ``predict`` and
    ``emotui export``'s check of the exported folder compare)."""
    import torch

    enc = encode(tokenizer, texts, [0] * len(texts), max_seq_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    probs = torch.empty((len(texts), model.config.num_labels))
    with torch.no_grad():
        for index in eval_batches(enc.lengths, batch_size):
            batch = collate(enc, index, pad_id)
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            probs[torch.from_numpy(index)] = torch.softmax(logits.float(), dim=-1).cpu()
    return probs


def _no_checkpoint_message(paths: RunPaths) -> str:
    """Why there is nothing to predict with: an active run has not evaluated yet; a run that
    ended without a checkpoint never will."""
    status = read_status(paths)
    state = state_of(status)
    if state is None or state in ACTIVE:
        return (f"run {paths.run_id} has no best checkpoint yet (it saves one at its first "
                "evaluation); wait for it or pick a finished run")
    reason = f" ({status['reason']})" if status.get("reason") else ""
    return (f"run {paths.run_id} {state.value}{reason} without saving a checkpoint: there is "
            "nothing to predict with; pick a completed run (emotui ls --state completed)")


def load_for_inference(config, folder: Path, label_names: list[str]):
    """(model, tokenizer) from a checkpoint folder: a full model, or base model + adapter.

    An adapter goes into the model its method's builder makes, as when training resumes, so
    whatever a builder sets up around PEFT (e.g. prefix tuning's cache hook) applies here too.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if (folder / ADAPTER_WEIGHTS).is_file():
        built = build_model(config, label_names)
        load_weights(built.model, folder, is_peft=True)
        return built.model, built.tokenizer
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(folder)
