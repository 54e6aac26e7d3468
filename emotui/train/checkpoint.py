"""checkpoints/best and checkpoints/last of a run.

PEFT methods save only the adapter (``adapter_model.safetensors`` + ``adapter_config.json``; the
classification head travels in it through PEFT's ``modules_to_save``); full fine-tuning saves the
whole model (safetensors) plus the tokenizer. ``last`` also holds ``trainer_state.pt``: optimizer,
scheduler, scaler, RNG states and the position in the data, enough to resume mid-epoch.

A checkpoint folder is written beside its target and renamed into place, so a crash or a
preemption mid-save leaves the previous checkpoint intact. When ``last`` holds the same weights as
``best`` (the last evaluation was the best), its weight files are hard links, not a second copy.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotui.core.runstore import RunPaths

LABELS_FILE = "label_names.json"
STATE_FILE = "trainer_state.pt"
FULL_WEIGHTS = "model.safetensors"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _replace_dir(tmp: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(3)}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpointer:
    """Writes and reads a run's checkpoints for one model."""

    def __init__(self, paths: RunPaths, model: nn.Module, tokenizer, is_peft: bool,
                 label_names: list[str]):
        self.paths = paths
        self.model = model
        self.tokenizer = tokenizer
        self.is_peft = is_peft
        self.label_names = label_names
        self.best_step: int | None = None
        self._tokenizer_dir: Path | None = None

    # -- writing --------------------------------------------------------------------------------

    def _tmp_dir(self, name: str) -> Path:
        self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.checkpoints / f".{name}.tmp-{secrets.token_hex(3)}"
        tmp.mkdir()
        return tmp

    def _saved_tokenizer(self) -> Path:
        """The tokenizer files, written once per process and linked into each checkpoint."""
        if self._tokenizer_dir is None or not self._tokenizer_dir.exists():
            folder = self.paths.checkpoints / ".tokenizer"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self.tokenizer.save_pretrained(folder)
            self._tokenizer_dir = folder
        return self._tokenizer_dir

    def _write_weights(self, folder: Path) -> None:
        if self.is_peft:
            self.model.save_pretrained(folder)
            (folder / "README.md").unlink(missing_ok=True)  # PEFT's model-card stub
        else:
            self.model.save_pretrained(folder)
            for item in self._saved_tokenizer().iterdir():
                _link_or_copy(item, folder / item.name)
        (folder / LABELS_FILE).write_text(json.dumps(self.label_names) + "\n", encoding="utf-8")

    def save_best(self, step: int) -> None:
        tmp = self._tmp_dir("best")
        self._write_weights(tmp)
        _replace_dir(tmp, self.paths.checkpoint_best)
        self.best_step = step

    def save_last(self, step: int, trainer_state: dict[str, Any]) -> None:
        tmp = self._tmp_dir("last")
        best = self.paths.checkpoint_best
        if self.best_step == step and best.is_dir():
            for item in best.iterdir():  # same weights as best: link, do not write them again
                _link_or_copy(item, tmp / item.name)
        else:
            self._write_weights(tmp)
        torch.save(trainer_state, tmp / STATE_FILE)
        _replace_dir(tmp, self.paths.checkpoint_last)

    def cleanup(self) -> None:
        shutil.rmtree(self.paths.checkpoints / ".tokenizer", ignore_errors=True)
        for stale in self.paths.checkpoints.glob(".*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)

    # -- reading --------------------------------------------------------------------------------

    def load_weights(self, folder: Path) -> None:
        """Put the weights saved in ``folder`` into this (already built) model."""
        load_weights(self.model, folder, self.is_peft)


def load_weights(model: nn.Module, folder: Path, is_peft: bool) -> None:
    from safetensors.torch import load_file

    if is_peft:
        from peft import set_peft_model_state_dict

        state = load_file(str(folder / ADAPTER_WEIGHTS))
        result = set_peft_model_state_dict(model, state)
        # Prompt embeddings are loaded into the prompt encoder, outside load_state_dict.
        unexpected = [k for k in getattr(result, "unexpected_keys", None) or []
                      if k != "prompt_embeddings"]
        if unexpected:
            raise RuntimeError(f"checkpoint {folder} does not fit the model: {unexpected[:3]}")
        return
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no weights in {folder}")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_file(str(file)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied weights (e.g. a decoder sharing embeddings) may be absent from the file by design.
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {folder} does not fit the model (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )


def load_trainer_state(folder: Path) -> dict[str, Any]:
    # Our own file, written by save_last; it holds numpy RNG state, so not weights_only.
    return torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
