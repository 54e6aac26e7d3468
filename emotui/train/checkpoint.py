"""checkpoints/best and checkpoints/last of a run.

PEFT methods save only the adapter (``adapter_model.safetensors`` + ``adapter_config.json``; the
classification head travels in it through PEFT's ``modules_to_save``); full fine-tuning saves the
whole model (safetensors) plus the tokenizer. Where a prompt encoder reparameterises its tokens
(P-tuning's MLP/LSTM, prefix tuning's projection), PEFT's adapter holds only the encoder's
output, enough to predict but not to train on; ``prompt_encoder.safetensors`` beside it holds the
encoder's own weights, which resuming, restoring the best epoch and ``predict`` load. ``last``
also holds ``trainer_state.pt``: optimizer, scheduler, scaler, RNG states and the position in the
data, enough to resume mid-epoch.

A checkpoint folder is written beside its target, sealed and renamed into place by
core.checkpoints, so a kill at any instant leaves a complete checkpoint that a resume recovers;
a save that fails (a full disk) removes what it wrote and leaves the previous one. When ``last``
holds the same weights as ``best`` (the last evaluation was the best), its weight files are hard
links, not a second copy.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotui.core import checkpoints
from emotui.core.runstore import RunPaths
from emotui.train.runlog import checkpoint_saved

LABELS_FILE = "label_names.json"
STATE_FILE = "trainer_state.pt"
FULL_WEIGHTS = "model.safetensors"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ENCODER_WEIGHTS = "prompt_encoder.safetensors"


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


def prompt_encoder_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The prompt encoder's weights when PEFT's adapter file cannot restore them: an encoder with
    more than its token embedding (a reparameterisation) is saved as its output. Empty otherwise."""
    weights = {name: p for name, p in model.named_parameters()
               if name.startswith("prompt_encoder.") and p.requires_grad}
    if all(name.endswith(".embedding.weight") for name in weights):
        return {}
    return weights


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

    @contextmanager
    def _staged(self, name: str, step: int) -> Iterator[Path]:
        """A staging folder for checkpoint ``name``: filled by the block, then sealed and
        published; removed if the block or the publishing fails."""
        staged = checkpoints.staging_folder(self.paths, name)
        try:
            yield staged
            checkpoints.seal(staged, step)
            checkpoints.publish(staged, self.paths.checkpoints / name)
        except BaseException:
            checkpoints.discard(staged)
            raise

    def _saved_tokenizer(self) -> Path:
        """The tokenizer files, written once per process and linked into each checkpoint."""
        if self._tokenizer_dir is None or not self._tokenizer_dir.exists():
            folder = self.paths.checkpoints / ".tokenizer"
            shutil.rmtree(folder, ignore_errors=True)
            folder.parent.mkdir(exist_ok=True)
            folder.mkdir()
            self.tokenizer.save_pretrained(folder)
            self._tokenizer_dir = folder
        return self._tokenizer_dir

    def _write_weights(self, folder: Path) -> None:
        if self.is_peft:
            from safetensors.torch import save_file

            self.model.save_pretrained(folder)
            (folder / "README.md").unlink(missing_ok=True)  # PEFT's model-card stub
            encoder = prompt_encoder_weights(self.model)
            if encoder:
                save_file({k: v.detach().cpu().contiguous() for k, v in encoder.items()},
                          str(folder / ENCODER_WEIGHTS))
        else:
            self.model.save_pretrained(folder)
            for item in self._saved_tokenizer().iterdir():
                _link_or_copy(item, folder / item.name)
        (folder / LABELS_FILE).write_text(json.dumps(self.label_names) + "\n", encoding="utf-8")

    def save_best(self, step: int) -> None:
        with self._staged("best", step) as tmp:
            self._write_weights(tmp)
        self.best_step = step
        checkpoint_saved("best", step)

    def save_last(self, step: int, trainer_state: dict[str, Any]) -> None:
        best = self.paths.checkpoint_best
        with self._staged("last", step) as tmp:
            if self.best_step == step and best.is_dir():
                for item in best.iterdir():  # same weights as best: link, do not write them again
                    if item.name != checkpoints.MARKER:
                        _link_or_copy(item, tmp / item.name)
            else:
                self._write_weights(tmp)
            torch.save(trainer_state, tmp / STATE_FILE)
        checkpoint_saved("last", step)

    def cleanup(self) -> None:
        """Remove the tokenizer cache and what interrupted saves left (after an attempt)."""
        shutil.rmtree(self.paths.checkpoints / ".tokenizer", ignore_errors=True)
        for name in checkpoints.NAMES:
            if (self.paths.checkpoints / name).is_dir():
                checkpoints.recover(self.paths, name)  # the folder is there: drops leftovers

    # -- reading --------------------------------------------------------------------------------

    def load_weights(self, folder: Path) -> None:
        """Put the weights saved in ``folder`` into this (already built) model."""
        load_weights(self.model, folder, self.is_peft)


def load_weights(model: nn.Module, folder: Path, is_peft: bool) -> None:
    from safetensors.torch import load_file

    if is_peft:
        from peft import set_peft_model_state_dict

        state = load_file(str(folder / ADAPTER_WEIGHTS))
        encoder = load_file(str(folder / ENCODER_WEIGHTS)) \
            if (folder / ENCODER_WEIGHTS).is_file() else {}
        if encoder:
            # The adapter's prompt_embeddings are the encoder's output; its own token embedding
            # (same shape as the model's) comes from the encoder file, the rest below.
            state["prompt_embeddings"] = next(v for k, v in encoder.items()
                                              if k.endswith(".embedding.weight"))
        result = set_peft_model_state_dict(model, state)
        # Prompt embeddings are loaded into the prompt encoder, outside load_state_dict.
        misfits = [k for k in getattr(result, "unexpected_keys", None) or []
                   if k != "prompt_embeddings"]
        if encoder:
            misfits += model.load_state_dict(encoder, strict=False).unexpected_keys
            misfits += sorted(set(prompt_encoder_weights(model)) - set(encoder))  # missing
        if misfits:
            raise RuntimeError(f"checkpoint {folder} does not fit the model: {misfits[:3]}")
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
