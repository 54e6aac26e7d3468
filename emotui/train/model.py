"""Build the tokenizer and the classifier for a run: full fine-tuning, LoRA or prompt tuning (PEFT)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError

log = logging.getLogger("emotui")

DEFAULT_VIRTUAL_TOKENS = 20


@dataclass
class BuiltModel:
    model: nn.Module  # a PeftModel for LoRA / prompt tuning
    tokenizer: Any
    is_peft: bool
    trainable_params: int
    total_params: int
    num_virtual_tokens: int | None = None
    # Token ids the text-initialised prompt started from (tests check the initialisation).
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


def linear_module_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def lora_target_choices(model: nn.Module) -> list[str]:
    """Names that --lora_target_modules can use: the leaf names (query, value, dense, ...) and,
    where a leaf name is shared by several kinds of layer, the longer names that tell them apart
    (attention.output.dense, intermediate.dense, output.dense)."""
    by_leaf: dict[str, set[str]] = {}
    for name in linear_module_names(model):
        parts = name.split(".")
        digits = [i for i, p in enumerate(parts) if p.isdigit()]
        # The name inside one transformer layer (attention.self.query), else the full name.
        local = ".".join(parts[digits[-1] + 1:]) if digits else name
        by_leaf.setdefault(parts[-1], set()).add(local)
    choices = set(by_leaf)
    for locals_ in by_leaf.values():
        if len(locals_) > 1:
            choices.update(locals_)
            # "output.dense" as the study wrote it also names the block's output layer.
            choices.update(".".join(x.split(".")[-2:]) for x in locals_ if x.count(".") >= 1)
    return sorted(choices)


def check_lora_targets(model: nn.Module, targets: list[str]) -> None:
    """Every target must match a module the way PEFT matches (exact name or ``.suffix``)."""
    names = [name for name, _ in model.named_modules()]
    for target in targets:
        if not any(n == target or n.endswith("." + target) for n in names):
            raise ConfigError(
                f"lora_target_modules: the model has no module '{target}'; "
                f"available: {', '.join(lora_target_choices(model))}"
            )


def init_text_ids(tokenizer, text: str) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ConfigError("prompt_tuning_init_text has no tokens; give a longer text")
    return list(ids)


def count_params(model: nn.Module) -> tuple[int, int]:
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return trainable, total


def build_model(config: RunConfig, label_names: list[str], *, native_prompt_init: bool = False
                ) -> BuiltModel:
    """Tokenizer + model for the config's method.

    Text-initialised prompt tuning starts from the init text's own tokens. PEFT tokenises the
    text *with* special tokens (so RoBERTa's first virtual token would be ``<s>``); emotui copies
    the embeddings of the text's tokens over PEFT's init unless ``native_prompt_init`` (the
    reference recipe keeps PEFT's behaviour).
    """
    tokenizer = load_tokenizer(config)
    model = load_base_model(config, label_names)
    method = config.method
    if method == "full":
        trainable, total = count_params(model)
        return BuiltModel(model, tokenizer, False, trainable, total)

    from peft import get_peft_model

    init_ids = None
    n_virtual = None
    if method == "lora":
        from peft import LoraConfig, TaskType

        targets = config.lora_targets()
        check_lora_targets(model, targets)
        peft_config = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout, target_modules=targets, bias=config.lora_bias,
        )
    else:
        from peft import PromptTuningConfig, PromptTuningInit, TaskType

        if config.prompt_tuning_init_text:
            init_ids = init_text_ids(tokenizer, config.prompt_tuning_init_text)
            n_virtual = config.prompt_tuning_num_virtual_tokens or len(init_ids)
            peft_config = PromptTuningConfig(
                task_type=TaskType.SEQ_CLS, num_virtual_tokens=n_virtual,
                prompt_tuning_init=PromptTuningInit.TEXT,
                prompt_tuning_init_text=config.prompt_tuning_init_text,
                tokenizer_name_or_path=config.tokenizer_name or config.model_name_or_path,
            )
        else:
            n_virtual = config.prompt_tuning_num_virtual_tokens or DEFAULT_VIRTUAL_TOKENS
            peft_config = PromptTuningConfig(
                task_type=TaskType.SEQ_CLS, num_virtual_tokens=n_virtual,
                prompt_tuning_init=PromptTuningInit.RANDOM,
            )
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions and n_virtual + config.max_seq_length > positions:
            raise ConfigError(
                f"{n_virtual} virtual tokens + max_seq_length {config.max_seq_length} exceed the "
                f"model's {positions} positions; lower one of them"
            )
    try:
        peft_model = get_peft_model(model, peft_config)
    except (ValueError, OSError) as exc:
        last = str(exc).strip().splitlines()[-1]
        raise ConfigError(f"cannot set up {config.peft_method}: {last}") from exc
    if init_ids is not None:
        repeated = (init_ids * (n_virtual // len(init_ids) + 1))[:n_virtual]
        if not native_prompt_init:
            copy_prompt_init(peft_model, repeated)
        else:
            full_ids = tokenizer(config.prompt_tuning_init_text)["input_ids"]
            repeated = (full_ids * (n_virtual // len(full_ids) + 1))[:n_virtual]
        init_ids = repeated
    trainable, total = count_params(peft_model)
    return BuiltModel(peft_model, tokenizer, True, trainable, total, n_virtual, init_ids)


def copy_prompt_init(peft_model, token_ids: list[int]) -> None:
    embeddings = getattr(peft_model, "word_embeddings", None) or peft_model.get_input_embeddings()
    encoder = prompt_encoder(peft_model)
    with torch.no_grad():
        ids = torch.tensor(token_ids, dtype=torch.long, device=embeddings.weight.device)
        encoder.embedding.weight.copy_(embeddings(ids).float())


def prompt_encoder(peft_model):
    return peft_model.prompt_encoder[peft_model.active_adapter]
