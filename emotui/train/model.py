"""Load the tokenizer and the pretrained classifier for a run, and hand it to its method's builder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.train.builders import builder_for

log = logging.getLogger("emotui")


@dataclass
class BuiltModel:
    """A builder's MethodModel, with its tokenizer and parameter counts."""

    model: nn.Module  # a PeftModel for the PEFT methods
    tokenizer: Any
    is_peft: bool
    trainable_params: int
    total_params: int
    num_virtual_tokens: int | None = None
    prompt_init_ids: list[int] | None = None


def _hub_error(what: str, name: str, exc: Exception) -> ConfigError:
    if Path(name).expanduser().exists():
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return ConfigError(f"cannot load {what} from folder {name}: {last}")
    return ConfigError(
        f"cannot load {what} '{name}' from the Hub (offline?); pass a local folder to "
        f"--model_name_or_path"
    )


def load_tokenizer(config: RunConfig):
    from transformers import AutoTokenizer

    name = config.tokenizer_name or config.model_name_or_path
    try:
        return AutoTokenizer.from_pretrained(
            name, cache_dir=config.cache_dir, use_fast=config.use_fast_tokenizer,
            revision=config.model_revision, token=config.token,
            trust_remote_code=config.trust_remote_code,
        )
    except (OSError, ValueError) as exc:
        raise _hub_error("tokenizer" if config.tokenizer_name else "model", name, exc) from exc


def load_base_model(config: RunConfig, label_names: list[str]) -> nn.Module:
    """The pretrained encoder with a fresh classification head, in fp32 (weights may be fp16)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    name = config.model_name_or_path
    common = dict(cache_dir=config.cache_dir, revision=config.model_revision, token=config.token,
                  trust_remote_code=config.trust_remote_code)
    try:
        model_config = AutoConfig.from_pretrained(
            config.config_name or name, num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)}, **common,
        )
    except (OSError, ValueError) as exc:
        raise _hub_error("model", config.config_name or name, exc) from exc
    kwargs = dict(config=model_config, dtype=torch.float32,
                  ignore_mismatched_sizes=config.ignore_mismatched_sizes, **common)
    try:
        try:
            return AutoModelForSequenceClassification.from_pretrained(
                name, attn_implementation="sdpa", **kwargs
            )
        except ValueError as exc:
            if "sdpa" not in str(exc).lower() and "attention" not in str(exc).lower():
                raise
            return AutoModelForSequenceClassification.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as exc:
        raise _hub_error("model", name, exc) from exc


def count_params(model: nn.Module) -> tuple[int, int]:
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


def build_model(config: RunConfig, label_names: list[str], *, native_prompt_init: bool = False
                ) -> BuiltModel:
    """Tokenizer + model for the config's method, made by its builder (emotui.train.builders).

    ``native_prompt_init`` keeps PEFT's own text initialisation (the reference recipe).
    """
    build = builder_for(config.method)  # before anything loads: a method without one fails now
    tokenizer = load_tokenizer(config)
    model = load_base_model(config, label_names)
    made = build(config, model, tokenizer, native_prompt_init=native_prompt_init)
    trainable, total = count_params(made.model)
    return BuiltModel(made.model, tokenizer, made.is_peft, trainable, total,
                      made.num_virtual_tokens, made.prompt_init_ids)
