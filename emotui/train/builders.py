"""One model builder per training method (the method registry, emotui.core.methods, names them).

A builder turns the freshly loaded base classifier into the model a method trains.
``builder_for`` raises on a method without one, so a method added to the registry but not here
fails before anything loads instead of training some other method's model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.core.method_settings import DEFAULT_ADAPTER_TARGETS, DEFAULT_VIRTUAL_TOKENS
from emotui.core.methods import get as method_spec
from emotui.core.methods import names as method_names


@dataclass
class MethodModel:
    """What a builder returns: the model to train and how the method set it up."""

    model: nn.Module  # a PeftModel for the PEFT methods
    is_peft: bool
    num_virtual_tokens: int | None = None
    # Token ids the text-initialised prompt started from (tests check the initialisation).
    prompt_init_ids: list[int] | None = None


# builder(config, base model, tokenizer, *, native_prompt_init) -> MethodModel
Builder = Callable[..., MethodModel]
_BUILDERS: dict[str, Builder] = {}


def builds(name: str) -> Callable[[Builder], Builder]:
    """Register the decorated function as the builder of method ``name``."""
    method_spec(name)  # a name the registry lacks is a typo: fail on import

    def register(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"method {name!r} has two model builders")
        _BUILDERS[name] = builder
        return builder

    return register


def builder_for(name: str) -> Builder:
    try:
        return _BUILDERS[name]
    except KeyError:
        raise LookupError(
            f"method {name!r} has no model builder; register one with @builds({name!r}) in "
            f"{__name__}"
        ) from None


def registered() -> tuple[str, ...]:
    """The methods that have a builder, in the registry's order (not this file's)."""
    return tuple(name for name in method_names() if name in _BUILDERS)


def _peft(model: nn.Module, peft_config: Any, config: RunConfig) -> nn.Module:
    from peft import get_peft_model

    try:
        return get_peft_model(model, peft_config)
    except (ValueError, OSError) as exc:
        last = str(exc).strip().splitlines()[-1]
        raise ConfigError(f"cannot set up {config.peft_method}: {last}") from exc


# --- full fine-tuning ------------------------------------------------------------------------


@builds("full")
def build_full(config: RunConfig, model: nn.Module, tokenizer, *,
               native_prompt_init: bool = False) -> MethodModel:
    return MethodModel(model, is_peft=False)


# --- LoRA ------------------------------------------------------------------------------------


def linear_module_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def target_choices(model: nn.Module) -> list[str]:
    """Names that --lora_target_modules (and IA3's) can use: the leaf names (query, value,
    dense, ...) and, where a leaf name is shared by several kinds of layer, the longer names that
    tell them apart (attention.output.dense, intermediate.dense, output.dense)."""
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


def check_targets(model: nn.Module, targets: list[str], field: str) -> None:
    """Every target must match a module the way PEFT matches (exact name or ``.suffix``);
    ``field`` is the setting that named them."""
    names = [name for name, _ in model.named_modules()]
    for target in targets:
        if not any(n == target or n.endswith("." + target) for n in names):
            raise ConfigError(
                f"{field}: the model has no module '{target}'; "
                f"available: {', '.join(target_choices(model))}"
            )


def module_list(text: str | None, default: str, field: str) -> list[str]:
    """A comma-separated setting of module names (``default`` when unset); empty is an error."""
    names = [m.strip() for m in (default if text is None else text).split(",") if m.strip()]
    if not names:
        raise ConfigError(f"{field} is empty; give module names such as {default}")
    return names


@builds("lora")
def build_lora(config: RunConfig, model: nn.Module, tokenizer, *,
               native_prompt_init: bool = False) -> MethodModel:
    from peft import LoraConfig, TaskType

    targets = config.lora_targets()
    check_targets(model, targets, "lora_target_modules")
    init = {"true": True, "false": False}.get(config.init_lora_weights, config.init_lora_weights)
    peft_config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout, target_modules=targets, bias=config.lora_bias,
        use_dora=config.use_dora, use_rslora=config.use_rslora, init_lora_weights=init,
    )
    return MethodModel(_peft(model, peft_config, config), is_peft=True)


# --- IA3 -------------------------------------------------------------------------------------

# peft's own IA3 choice for BERT and RoBERTa: keys, values and the feed-forward output layer,
# whose input (the feed-forward activation) is scaled.
IA3_TARGETS = "key,value,output.dense"
IA3_FEEDFORWARD = "output.dense"


@builds("ia3")
def build_ia3(config: RunConfig, model: nn.Module, tokenizer, *,
              native_prompt_init: bool = False) -> MethodModel:
    from peft import IA3Config, TaskType

    targets = module_list(config.ia3_target_modules, IA3_TARGETS, "ia3_target_modules")
    feedforward = module_list(config.ia3_feedforward_modules, IA3_FEEDFORWARD,
                              "ia3_feedforward_modules")
    check_targets(model, targets, "ia3_target_modules")
    stray = [m for m in feedforward if m not in targets]
    if stray:
        raise ConfigError(f"ia3_feedforward_modules: '{stray[0]}' is not one of "
                          f"ia3_target_modules ({','.join(targets)}); add it there or drop it")
    peft_config = IA3Config(task_type=TaskType.SEQ_CLS, target_modules=targets,
                            feedforward_modules=feedforward)
    return MethodModel(_peft(model, peft_config, config), is_peft=True)


# --- LoHa, LoKr, VeRA ------------------------------------------------------------------------


def adapter_targets(model: nn.Module, text: str | None, field: str) -> list[str]:
    """A method's target modules (``field``, unset: query,value), checked against the model."""
    targets = module_list(text, DEFAULT_ADAPTER_TARGETS, field)
    check_targets(model, targets, field)
    return targets


@builds("loha")
def build_loha(config: RunConfig, model: nn.Module, tokenizer, *,
               native_prompt_init: bool = False) -> MethodModel:
    from peft import LoHaConfig, TaskType

    targets = adapter_targets(model, config.loha_target_modules, "loha_target_modules")
    peft_config = LoHaConfig(
        task_type=TaskType.SEQ_CLS, r=config.loha_r, alpha=config.loha_alpha,
        rank_dropout=config.loha_rank_dropout, module_dropout=config.loha_module_dropout,
        target_modules=targets,
    )
    return MethodModel(_peft(model, peft_config, config), is_peft=True)


@builds("lokr")
def build_lokr(config: RunConfig, model: nn.Module, tokenizer, *,
               native_prompt_init: bool = False) -> MethodModel:
    from peft import LoKrConfig, TaskType

    targets = adapter_targets(model, config.lokr_target_modules, "lokr_target_modules")
    peft_config = LoKrConfig(
        task_type=TaskType.SEQ_CLS, r=config.lokr_r, alpha=config.lokr_alpha,
        rank_dropout=config.lokr_rank_dropout, module_dropout=config.lokr_module_dropout,
        decompose_both=config.lokr_decompose_both, target_modules=targets,
    )
    return MethodModel(_peft(model, peft_config, config), is_peft=True)


@builds("vera")
def build_vera(config: RunConfig, model: nn.Module, tokenizer, *,
               native_prompt_init: bool = False) -> MethodModel:
    """VeRA's shared projections go into every checkpoint (``save_projection``): a checkpoint
    then rebuilds the run without trusting peft's generator to draw them again the same way."""
    from peft import TaskType, VeraConfig

    targets = adapter_targets(model, config.vera_target_modules, "vera_target_modules")
    peft_config = VeraConfig(
        task_type=TaskType.SEQ_CLS, r=config.vera_r, vera_dropout=config.vera_dropout,
        d_initial=config.vera_d_initial, target_modules=targets, save_projection=True,
    )
    return MethodModel(_peft(model, peft_config, config), is_peft=True)


# --- prompt tuning ---------------------------------------------------------------------------


def init_text_ids(tokenizer, text: str) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ConfigError("prompt_tuning_init_text has no tokens; give a longer text")
    return list(ids)


def _check_positions(model: nn.Module, config: RunConfig, n_virtual: int) -> None:
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions and n_virtual + config.max_seq_length > positions:
        raise ConfigError(
            f"{n_virtual} virtual tokens + max_seq_length {config.max_seq_length} exceed the "
            f"model's {positions} positions; lower one of them"
        )


def _repeat(ids: list[int], n: int) -> list[int]:
    return (ids * (n // len(ids) + 1))[:n]


def prompt_encoder(peft_model):
    return peft_model.prompt_encoder[peft_model.active_adapter]


def copy_prompt_init(peft_model, token_ids: list[int]) -> None:
    embeddings = getattr(peft_model, "word_embeddings", None) or peft_model.get_input_embeddings()
    encoder = prompt_encoder(peft_model)
    with torch.no_grad():
        ids = torch.tensor(token_ids, dtype=torch.long, device=embeddings.weight.device)
        encoder.embedding.weight.copy_(embeddings(ids).float())


@builds("prompt_tuning_text")
def build_prompt_text(config: RunConfig, model: nn.Module, tokenizer, *,
                      native_prompt_init: bool = False) -> MethodModel:
    """Virtual tokens that start as the init text's own tokens.

    PEFT tokenises the text *with* special tokens (so RoBERTa's first virtual token would be
    ``<s>``); emotui copies the embeddings of the text's tokens over PEFT's init unless
    ``native_prompt_init`` (the reference recipe keeps PEFT's behaviour).
    """
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    text = config.prompt_tuning_init_text
    init_ids = init_text_ids(tokenizer, text)
    n_virtual = config.prompt_tuning_num_virtual_tokens or len(init_ids)
    _check_positions(model, config, n_virtual)
    peft_config = PromptTuningConfig(
        task_type=TaskType.SEQ_CLS, num_virtual_tokens=n_virtual,
        prompt_tuning_init=PromptTuningInit.TEXT, prompt_tuning_init_text=text,
        tokenizer_name_or_path=config.tokenizer_name or config.model_name_or_path,
    )
    peft_model = _peft(model, peft_config, config)
    if native_prompt_init:
        used = _repeat(tokenizer(text)["input_ids"], n_virtual)
    else:
        used = _repeat(init_ids, n_virtual)
        copy_prompt_init(peft_model, used)
    return MethodModel(peft_model, True, n_virtual, used)


@builds("prompt_tuning_random")
def build_prompt_random(config: RunConfig, model: nn.Module, tokenizer, *,
                        native_prompt_init: bool = False) -> MethodModel:
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    # Configs built by build_config carry the method default; this covers hand-made ones.
    n_virtual = config.prompt_tuning_num_virtual_tokens or DEFAULT_VIRTUAL_TOKENS
    _check_positions(model, config, n_virtual)
    peft_config = PromptTuningConfig(
        task_type=TaskType.SEQ_CLS, num_virtual_tokens=n_virtual,
        prompt_tuning_init=PromptTuningInit.RANDOM,
    )
    return MethodModel(_peft(model, peft_config, config), True, n_virtual)


# --- prefix tuning (P-tuning v2) -------------------------------------------------------------


def prefix_argument(model: nn.Module) -> str | None:
    """The argument this classifier's encoder takes prefixes by ("cache" in transformers 5,
    "past_key_values" before), when the classifier class's ``forward`` does not name
    ``past_key_values`` itself (what PEFT looks for); None when it does."""
    import inspect

    if "past_key_values" in inspect.signature(type(model).forward).parameters:
        return None
    backbone = getattr(model, model.base_model_prefix)
    return "cache" if "cache" in inspect.signature(backbone.forward).parameters \
        else "past_key_values"


def accept_prefix_cache(model: nn.Module) -> None:
    """Let PEFT hand this classifier its prefixes.

    PEFT passes prefix tuning's key/value prefixes as ``past_key_values`` and checks the
    classifier's ``forward`` signature for that name; transformers 5 encoders call it ``cache``
    (the old name still works as a keyword). This instance's ``forward`` takes ``past_key_values``
    and hands it on under the encoder's name; its signature is the class's plus that keyword
    (the Trainer keeps the dataset columns the signature names).
    """
    import inspect
    import types

    name = prefix_argument(model)
    if name is None:
        return
    forward = type(model).forward

    def forward_with_prefix(self, *args, past_key_values=None, **kwargs):
        if past_key_values is not None:
            kwargs[name] = past_key_values
        return forward(self, *args, **kwargs)

    params = list(inspect.signature(forward).parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params.insert(at, inspect.Parameter("past_key_values", inspect.Parameter.KEYWORD_ONLY,
                                        default=None))
    forward_with_prefix.__signature__ = inspect.Signature(params)
    model.forward = types.MethodType(forward_with_prefix, model)


@builds("prefix_tuning")
def build_prefix(config: RunConfig, model: nn.Module, tokenizer, *,
                 native_prompt_init: bool = False) -> MethodModel:
    from peft import PrefixTuningConfig, TaskType

    n_virtual = config.prefix_num_virtual_tokens
    if config.prefix_encoder_hidden_size is not None and not config.prefix_projection:
        raise ConfigError("prefix_encoder_hidden_size sizes the prefix projection; add "
                          "--prefix_projection true or drop it")
    _check_positions(model, config, n_virtual)  # position ids start after the prefix
    accept_prefix_cache(model)
    peft_config = PrefixTuningConfig(
        task_type=TaskType.SEQ_CLS, num_virtual_tokens=n_virtual,
        prefix_projection=config.prefix_projection,
        encoder_hidden_size=config.prefix_encoder_hidden_size,
    )
    return MethodModel(_peft(model, peft_config, config), True, n_virtual)


# --- P-tuning --------------------------------------------------------------------------------


@builds("p_tuning")
def build_p_tuning(config: RunConfig, model: nn.Module, tokenizer, *,
                   native_prompt_init: bool = False) -> MethodModel:
    from peft import PromptEncoderConfig, TaskType

    n_virtual = config.p_tuning_num_virtual_tokens
    _check_positions(model, config, n_virtual)
    peft_config = PromptEncoderConfig(
        task_type=TaskType.SEQ_CLS, num_virtual_tokens=n_virtual,
        encoder_reparameterization_type=config.p_tuning_encoder_reparameterization_type.upper(),
        encoder_hidden_size=config.p_tuning_encoder_hidden_size,
    )
    return MethodModel(_peft(model, peft_config, config), True, n_virtual)
