"""Each method's own settings, declared as one group per method family.

A group is a dataclass of ``setting`` declarations under the names peft gives them inside the
method (``r``, ``num_virtual_tokens``), with its name in ``GROUP``. A registry entry names its
group (``emotui.core.methods.MethodSpec.settings``), which makes the group's settings settings of
the run: ``emotui.core.config.RunConfig`` holds them flat, under the study's spelling
``<group>_<name>`` (``lora_r``, ``prompt_tuning_init_text``) unless a declaration names its own
(``name="use_dora"``). Everywhere a setting is read (flags, ``--config`` files, the user config,
sweep files, a saved ``config.yaml``) ``lora.r`` and a ``lora: {r: 8}`` mapping spell the same
setting grouped. Which methods take a setting is the registry's; the display group is "method".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from emotui.core.settings import setting, spec_of

DEFAULT_PROMPT_INIT_TEXT = "classify the emotion of the following text: "
# Random-init prompts have no text to take a length from (text init uses the text's tokens).
DEFAULT_VIRTUAL_TOKENS = 20
# LoRA initialisations an adapter-only checkpoint restores exactly. PiSSA and OLoRA move the
# adapter's start out of the base weights (the frozen base becomes W - BA), but that residual is a
# deterministic function of the base as loaded (a full SVD, a QR: sign choices cancel in BA), so
# rebuilding the model the same way (predict, resume, export, peft loading the adapter with its
# config) recomputes it before the trained A and B go in. Left out: pissa_niter_N (a randomised
# SVD: another residual on each rebuild), CorDA, EVA, LoRA-GA (need a pass over data first),
# LoftQ (quantises the base).
LORA_INITS = ("true", "gaussian", "orthogonal", "mica", "pissa", "olora", "false")
# The attention projections LoRA and the LyCORIS-style methods adapt unless told otherwise (BERT
# and RoBERTa name them so; other encoders' names are checked against the model).
DEFAULT_ADAPTER_TARGETS = "query,value"


def _lowercase(value, source: str) -> str:
    return str(value).strip().lower()  # a YAML `true` arrives as a bool


@dataclass
class LoraSettings:
    """LoRA and its variants DoRA and rsLoRA (peft's LoraConfig)."""

    GROUP: ClassVar[str] = "lora"

    r: int = setting(8, "LoRA rank.", min=1, form=True)
    alpha: float = setting(8, "LoRA scaling alpha.", min=0, min_exclusive=True, form=True)
    dropout: float = setting(0.0, "Dropout on the LoRA path.", min=0, max=1, max_exclusive=True,
                             form=True)
    target_modules: str | None = setting(
        None, f"Module names LoRA adapts, comma-separated (default: {DEFAULT_ADAPTER_TARGETS}).",
        form=True,
    )
    bias: str = setting("none", "Which biases LoRA trains.", choices=("none", "all", "lora_only"))
    use_dora: bool = setting(False, "DoRA: LoRA plus a trained magnitude per output feature.",
                             form=True, name="use_dora")
    use_rslora: bool = setting(False, "rsLoRA: scale the adapter by lora_alpha/sqrt(lora_r) "
                               "instead of lora_alpha/lora_r.", form=True, name="use_rslora")
    init_lora_weights: str = setting(
        "true", "How LoRA's matrices start: true (B zero, A Kaiming), gaussian, orthogonal (even "
        "lora_r), mica (B from the base weight's minor singular vectors, frozen), pissa (B, A "
        "from its principal singular vectors, taken out of the base), olora (from its QR "
        "factors, taken out of the base), false (both random; not a no-op).",
        choices=LORA_INITS, parse=_lowercase, name="init_lora_weights",
    )


@dataclass
class LoHaSettings:
    """LoHa: the weight update as a Hadamard product of two low-rank products (peft's
    LoHaConfig)."""

    GROUP: ClassVar[str] = "loha"

    r: int = setting(8, "LoHa rank (of each of its two low-rank products).", min=1, form=True)
    alpha: float = setting(8, "LoHa scaling alpha (the update is scaled by alpha/r).", min=0,
                           min_exclusive=True, form=True)
    rank_dropout: float = setting(0.0, "LoHa: dropout on the rank dimension while training.",
                                  min=0, max=1, max_exclusive=True)
    module_dropout: float = setting(0.0, "LoHa: probability of leaving a module's update out of "
                                    "a training step.", min=0, max=1, max_exclusive=True)
    target_modules: str | None = setting(
        None, f"Module names LoHa adapts, comma-separated (default: {DEFAULT_ADAPTER_TARGETS}).",
        form=True,
    )


@dataclass
class LoKrSettings:
    """LoKr: the weight update as a Kronecker product of two factors (peft's LoKrConfig)."""

    GROUP: ClassVar[str] = "lokr"

    r: int = setting(8, "LoKr rank: the larger Kronecker factor is a product of this rank (at half "
                     "its size or more it trains whole).", min=1, form=True)
    alpha: float = setting(8, "LoKr scaling alpha (the update is scaled by alpha/r).", min=0,
                           min_exclusive=True, form=True)
    rank_dropout: float = setting(0.0, "LoKr: dropout on the rank dimension while training.",
                                  min=0, max=1, max_exclusive=True)
    module_dropout: float = setting(0.0, "LoKr: probability of leaving a module's update out of "
                                    "a training step.", min=0, max=1, max_exclusive=True)
    decompose_both: bool = setting(False, "LoKr: make the smaller Kronecker factor a low-rank "
                                   "product too.")
    target_modules: str | None = setting(
        None, f"Module names LoKr adapts, comma-separated (default: {DEFAULT_ADAPTER_TARGETS}).",
        form=True,
    )


@dataclass
class VeraSettings:
    """VeRA: one pair of frozen random projections shared by every adapted layer, and two
    trained scaling vectors per layer (peft's VeraConfig). The projections are saved with each
    checkpoint, so predict, resume and export need no seed to rebuild them."""

    GROUP: ClassVar[str] = "vera"

    r: int = setting(256, "VeRA rank: the shared random projections' inner size.", min=1,
                     form=True)
    dropout: float = setting(0.0, "Dropout on the VeRA path.", min=0, max=1, max_exclusive=True)
    d_initial: float = setting(0.1, "VeRA: the starting value of every scale of the rank "
                               "vector (lambda_d).", min=0, min_exclusive=True)
    target_modules: str | None = setting(
        None, f"Module names VeRA adapts, comma-separated (default: {DEFAULT_ADAPTER_TARGETS}).",
        form=True,
    )


@dataclass
class PromptTuningSettings:
    """Prompt tuning (peft's PromptTuningConfig); the init text tells its two methods apart."""

    GROUP: ClassVar[str] = "prompt_tuning"

    num_virtual_tokens: int | None = setting(
        None, "Virtual tokens prepended.", min=1, max=512, form=True,
        default_help=f"{DEFAULT_VIRTUAL_TOKENS} for random init, the init text's length for text "
        "init",
    )
    init_text: str | None = setting(
        None, "Initialise virtual tokens from this text (TEXT init); unset means RANDOM init.",
        form=True,
    )


@dataclass
class IA3Settings:
    """IA3 (peft's IA3Config)."""

    GROUP: ClassVar[str] = "ia3"

    target_modules: str | None = setting(
        None, "Module names whose activations IA3 scales, comma-separated (default: "
        "key,value,output.dense).", form=True,
    )
    feedforward_modules: str | None = setting(
        None, "Those of ia3_target_modules that are feed-forward layers: their input is scaled "
        "(default: output.dense).",
    )


@dataclass
class PrefixSettings:
    """Prefix tuning, P-tuning v2 (peft's PrefixTuningConfig)."""

    GROUP: ClassVar[str] = "prefix"

    num_virtual_tokens: int = setting(
        20, "Prefix tuning: trained key/value vectors prepended in every layer.", min=1, max=512,
        form=True,
    )
    projection: bool = setting(
        False, "Prefix tuning: produce the prefixes through a two-layer MLP (P-tuning v2 without "
        "it).", form=True,
    )
    encoder_hidden_size: int | None = setting(
        None, "Hidden size of that MLP (default: the model's hidden size).", min=1,
    )


@dataclass
class PTuningSettings:
    """P-tuning (peft's PromptEncoderConfig)."""

    GROUP: ClassVar[str] = "p_tuning"

    num_virtual_tokens: int = setting(
        20, "P-tuning: virtual tokens prepended to the input.", min=1, max=512, form=True,
    )
    encoder_reparameterization_type: str = setting(
        "mlp", "P-tuning: the prompt encoder that produces the virtual tokens (peft's MLP or "
        "LSTM; any case).", choices=("mlp", "lstm"), parse=_lowercase, form=True,
    )
    encoder_hidden_size: int | None = setting(
        None, "Hidden size of the prompt encoder (default: the model's hidden size).", min=1,
    )


def flat_names(group: type) -> dict[str, str]:
    """{a group's setting: its flat name}, in declaration order: ``{"r": "lora_r", ...}``."""
    return {f.name: spec_of(f).name or f"{group.GROUP}_{f.name}"
            for f in dataclasses.fields(group)}


def grouped_spellings(group: type) -> dict[str, str]:
    """{grouped spelling: flat name}: ``{"lora.r": "lora_r", ...}``."""
    return {f"{group.GROUP}.{name}": flat for name, flat in flat_names(group).items()}
