"""The training methods, each declared once.

A spec says how people and files name a method (config name, ``--method`` alias, run-id tag,
label, help), how a config selects it (the study's ``peft_method`` and
``prompt_tuning_init_text``), which settings belong to it, the values it uses for settings nobody
gave (``defaults``: a learning rate that learns, ...), and which hyperparameters tell its runs
apart in tables. Config validation, CLI flags and help, run ids, the TUI's picker, form and
labels, W&B rows and sweep checks all derive from ``METHODS``; the trainer keeps one model
builder per name (``emotui.train.builders``).

Adding a method: one ``MethodSpec`` here naming its settings group (``settings``: a dataclass
of ``emotui.core.method_settings``, where a new family declares one), one ``@builds`` builder in
``emotui.train.builders``, and its tests (docs/ARCHITECTURE.md lists them). Its settings' flags,
form rows, sweep keys and config.yaml fields follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from emotui.core.errors import ConfigError, or_list
from emotui.core.method_settings import (
    DEFAULT_PROMPT_INIT_TEXT, DEFAULT_VIRTUAL_TOKENS, IA3Settings, LoHaSettings, LoKrSettings,
    LoraSettings, PrefixSettings, PromptTuningSettings, PTuningSettings, VeraSettings, flat_names,
    grouped_spellings,
)
from emotui.core.setting_values import suggest

# The study's settings that select a method; a config's own `method` key is derived from them.
PEFT_FIELD = "peft_method"
INIT_TEXT_FIELD = "prompt_tuning_init_text"
VIRTUAL_TOKENS_FIELD = "prompt_tuning_num_virtual_tokens"
LR = "learning_rate"


class Shown(NamedTuple):
    """A hyperparameter that tells a method's runs apart in tables."""

    field: str
    # Its name in the one-line summary ("r=8"; a switch shows the name alone when on, "dora");
    # None: a column only.
    short: str | None = None


@dataclass(frozen=True)
class MethodSpec:
    name: str  # config.yaml's `method`, results.json, status.json, W&B rows, builder key
    alias: str  # what --method, sweep files and the launch form take (the name works too)
    tag: str  # in run ids (yymmdd-hhmmss-<tag>-xxxx), and the method's cell in tables
    label: str  # for people: the launch form's picker
    help: str  # one line for --help
    peft_method: str | None  # the study's --peft_method value (None: no PEFT)
    # Prompt tuning variants differ by their init text: True needs one, False has none.
    init_text: bool | None = None
    # Its own settings: a group of emotui.core.method_settings (None: the general ones only),
    # less the group's settings it does not take (random-init prompts have no init text).
    settings: type | None = None
    omits: tuple[str, ...] = ()
    # What this method uses for settings no layer gave, e.g. {"learning_rate": 1e-3}: filled in
    # once the method is recognised, however it was chosen (--method, --peft_method, a sweep, the
    # form); config.yaml lists them under `method_defaults`. The form starts from them.
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    shown: tuple[Shown, ...] = ()
    # peft can fold the trained adapter into the base weights: `emotui export` then writes a
    # plain transformers model (by default); the others export the adapter with its base named.
    mergeable: bool = False
    # The run config's fields that apply to this method (and any other method taking them)
    # only: its group's, by their flat names (lora_r), in declaration order.
    owns: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        names = flat_names(self.settings) if self.settings else {}
        unknown = set(self.omits) - set(names)
        if unknown:
            raise AssertionError(f"{self.name} omits {sorted(unknown)}, not in its settings")
        object.__setattr__(self, "owns", tuple(flat for name, flat in names.items()
                                               if name not in self.omits))

    def matches(self, config: Mapping[str, Any]) -> bool:
        """Whether the study's settings in ``config`` select this method."""
        if (config.get(PEFT_FIELD) or None) != self.peft_method:
            return False
        return self.init_text is None or bool(config.get(INIT_TEXT_FIELD)) == self.init_text

    @property
    def selector(self) -> str:
        """The flag that selects this method, for messages."""
        return f"--{PEFT_FIELD} {self.peft_method}" if self.peft_method else f"--method {self.alias}"


# In picker order (the launch form's f1, f2, ...). Learning rates: measured on all-MiniLM-L6-v2
# with 4000 emotion examples for 2 epochs (126 steps; test accuracy per rate in the README's
# "Method defaults"), kept at or below what the study found safe on roberta-base. Full
# fine-tuning stays at transformers' 5e-5 (the study diverged at 2e-4); LoRA takes the study's
# best, 2e-3 (57% at 1e-3 here); random-init prompts start at scale 1 and need 1e-1 (collapsed
# at 2e-2); IA3, prefix tuning and P-tuning 3e-2 (P-tuning collapsed at 3e-3 and below).
# LoHa and LoKr take 1e-2 (LoHa 54.5% at 2e-3, 85.0% at 1e-2; LoKr 46.0% and 73.2%), VeRA
# 3e-2 (67.8% at 1e-2, 78.0% at 3e-2): its scales start at d_initial 0.1 and move slowly.
METHODS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="full", alias="full", tag="full", label="full fine-tuning",
        help="every weight trains",
        peft_method=None, defaults={LR: 5e-5},
    ),
    MethodSpec(
        name="lora", alias="lora", tag="lora", label="LoRA",
        help="low-rank adapters on --lora_target_modules; the encoder stays frozen",
        peft_method="lora", settings=LoraSettings, defaults={LR: 2e-3},
        shown=(Shown("lora_r", "r"), Shown("lora_alpha", "a"), Shown("lora_target_modules"),
               Shown("use_dora", "dora"), Shown("use_rslora", "rslora")),
        mergeable=True,
    ),
    MethodSpec(
        name="prompt_tuning_text", alias="prompt-text", tag="ptext",
        label="prompt tuning, text init",
        help=f"trained tokens that start as --{INIT_TEXT_FIELD}",
        peft_method="prompt_tuning", init_text=True, settings=PromptTuningSettings,
        defaults={INIT_TEXT_FIELD: DEFAULT_PROMPT_INIT_TEXT, LR: 3e-2},
        shown=(Shown(VIRTUAL_TOKENS_FIELD, "vt"), Shown(INIT_TEXT_FIELD)),
    ),
    MethodSpec(
        name="prompt_tuning_random", alias="prompt-random", tag="prand",
        label="prompt tuning, random init",
        help="trained tokens that start random",
        peft_method="prompt_tuning", init_text=False, settings=PromptTuningSettings,
        omits=("init_text",),
        defaults={LR: 1e-1, VIRTUAL_TOKENS_FIELD: DEFAULT_VIRTUAL_TOKENS},
        shown=(Shown(VIRTUAL_TOKENS_FIELD, "vt"),),
    ),
    MethodSpec(
        name="ia3", alias="ia3", tag="ia3", label="IA3",
        help="learned scales on --ia3_target_modules' activations; the encoder stays frozen",
        peft_method="ia3", settings=IA3Settings, defaults={LR: 3e-2},
        shown=(Shown("ia3_target_modules"),), mergeable=True,
    ),
    MethodSpec(
        name="prefix_tuning", alias="prefix", tag="prefix", label="prefix tuning (P-tuning v2)",
        help="trained key/value prefixes in every layer; the encoder stays frozen",
        peft_method="prefix_tuning", settings=PrefixSettings, defaults={LR: 3e-2},
        shown=(Shown("prefix_num_virtual_tokens", "vt"), Shown("prefix_projection", "proj")),
    ),
    MethodSpec(
        name="p_tuning", alias="p-tuning", tag="ptune", label="P-tuning",
        help="virtual tokens produced by a small prompt encoder (MLP or LSTM)",
        peft_method="p_tuning", settings=PTuningSettings, defaults={LR: 3e-2},
        shown=(Shown("p_tuning_num_virtual_tokens", "vt"),
               Shown("p_tuning_encoder_reparameterization_type", "enc")),
    ),
    MethodSpec(
        name="loha", alias="loha", tag="loha", label="LoHa",
        help="a Hadamard product of two low-rank updates on --loha_target_modules; the encoder "
        "stays frozen",
        peft_method="loha", settings=LoHaSettings, defaults={LR: 1e-2},
        shown=(Shown("loha_r", "r"), Shown("loha_alpha", "a"), Shown("loha_target_modules")),
        mergeable=True,
    ),
    MethodSpec(
        name="lokr", alias="lokr", tag="lokr", label="LoKr",
        help="a Kronecker-product update on --lokr_target_modules; the encoder stays frozen",
        peft_method="lokr", settings=LoKrSettings, defaults={LR: 1e-2},
        shown=(Shown("lokr_r", "r"), Shown("lokr_alpha", "a"), Shown("lokr_target_modules")),
        mergeable=True,
    ),
    MethodSpec(
        name="vera", alias="vera", tag="vera", label="VeRA",
        help="trained scales on frozen random projections shared by --vera_target_modules; the "
        "encoder stays frozen",
        peft_method="vera", settings=VeraSettings, defaults={LR: 3e-2},
        shown=(Shown("vera_r", "r"), Shown("vera_target_modules")),
        mergeable=True,
    ),
)

# The method the launch form opens on.
DEFAULT_CHOICE = "lora"

_BY_NAME = {m.name: m for m in METHODS}
_BY_SPELLING = {**_BY_NAME, **{m.alias: m for m in METHODS}}
_BY_TAG = {m.tag: m for m in METHODS}
# A config with no (or a foreign) peft_method runs the method without PEFT.
_WITHOUT_PEFT = next(m for m in METHODS if m.peft_method is None)


def names() -> tuple[str, ...]:
    return tuple(m.name for m in METHODS)


def aliases() -> tuple[str, ...]:
    return tuple(m.alias for m in METHODS)


def find(name: str | None) -> MethodSpec | None:
    """The spec of a method name, or None (an unknown or missing name in a foreign record)."""
    return _BY_NAME.get(name) if isinstance(name, str) else None


def get(name: str) -> MethodSpec:
    """The spec of a method name; a one-line ConfigError names the known ones."""
    spec = find(name)
    if spec is None:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(names())}"
                          f"{suggest(str(name), names())}")
    return spec


def resolve(text: Any, where: str = "method") -> MethodSpec:
    """A method as a user spells it (alias or name, any case); ``where`` leads the error."""
    spec = _BY_SPELLING.get(str(text).strip().lower())
    if spec is None:
        raise ConfigError(f"{where} must be one of: {', '.join(aliases())}; got {text!r}"
                          f"{suggest(str(text), _BY_SPELLING)}")
    return spec


def from_tag(tag: str) -> MethodSpec | None:
    """The method a run id's tag names (None: not a method's tag)."""
    return _BY_TAG.get(tag)


def run_id_tag(method: str | None) -> str:
    spec = find(method)
    return spec.tag if spec else "run"


def short_label(method: str | None) -> str:
    """A method's cell in tables: its tag, else whatever the record says, else '-'."""
    spec = find(method)
    return spec.tag if spec else (method or "-")


def recognise(config: Mapping[str, Any]) -> MethodSpec:
    """The method the study's settings in ``config`` select."""
    return next((m for m in METHODS if m.matches(config)), _WITHOUT_PEFT)


def method_of(config: Mapping[str, Any]) -> str | None:
    """The method name of a config mapping: emotui's own ``method`` key, else recognised from
    the study's settings (a W&B run of the study); None for an empty mapping."""
    named = config.get("method")
    if find(named) is not None:
        return named
    if not config:
        return None
    return recognise(config).name


def select(values: dict[str, Any], text: Any, source: str,
           given: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Express ``--method TEXT`` as the study's settings in ``values`` (a layer being merged).

    Returns the keys it set. A text-initialised method needs a text: its default unless one was
    given. (Its other defaults are filled in later, by ``fill_defaults``, whatever chose it.)
    ``given``: the study's settings the same layer gave itself; one that selects another
    method is a contradiction (a one-line ConfigError), not a choice to make silently.
    """
    spec = resolve(text, f"method (from {source})")
    if given and PEFT_FIELD in given and (given[PEFT_FIELD] or None) != spec.peft_method:
        raise ConfigError(
            f"method {spec.alias} and {PEFT_FIELD} {given[PEFT_FIELD] or 'unset'} (both from "
            f"{source}) contradict each other; give one of them ({spec.selector} selects "
            f"{spec.alias})")
    values[PEFT_FIELD] = spec.peft_method
    if spec.init_text:
        values.setdefault(INIT_TEXT_FIELD, spec.defaults.get(INIT_TEXT_FIELD,
                                                             DEFAULT_PROMPT_INIT_TEXT))
    elif spec.init_text is False:
        if values.get(INIT_TEXT_FIELD):
            raise ConfigError(f"{INIT_TEXT_FIELD} (from {source}) contradicts method "
                              f"{spec.alias}; drop one of them")
        values[INIT_TEXT_FIELD] = None
    return (PEFT_FIELD, INIT_TEXT_FIELD)


# config.yaml's list of the settings that took their method's default.
DEFAULTS_FIELD = "method_defaults"


def layer_method(layer: Mapping[str, Any]) -> str | None:
    """The method one settings layer names (its `method`, else its study settings), or None."""
    if "method" in layer:
        return resolve(layer["method"]).name
    if PEFT_FIELD in layer or INIT_TEXT_FIELD in layer:
        return recognise(layer).name
    return None


def fill_defaults(values: dict[str, Any], recorded: tuple[str, ...] = (),
                  recorded_for: str | None = None) -> tuple[str, ...]:
    """Give the settings no layer gave the recognised method's defaults; returns their keys.

    ``recorded``: keys a saved config lists as the defaults of ``recorded_for``, its method.
    They keep their value (what ran) while the method is the same; for another method they
    count as not given and take its defaults.
    """
    spec = recognise(values)
    same = recorded_for == spec.name
    if not same:
        for key in recorded:
            values.pop(key, None)
    filled = []
    for key, value in spec.defaults.items():
        if values.get(key) is None:  # a saved config lists unset settings as null
            values[key] = value
            filled.append(key)
        elif same and key in recorded:
            filled.append(key)
    return tuple(filled)


def owners(field_name: str) -> tuple[str, ...]:
    """The methods a config field belongs to; empty when it applies to every method."""
    return tuple(m.name for m in METHODS if field_name in m.owns)


def applies(field_name: str, method: str | None) -> bool:
    """Whether a config field is one of ``method``'s settings: every method's, or its own."""
    owned_by = owners(field_name)
    return not owned_by or method in owned_by


def owned_fields() -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for m in METHODS for f in m.owns))


def setting_groups() -> tuple[type, ...]:
    """The methods' settings groups, each once, in registry order (RunConfig's order)."""
    return tuple(dict.fromkeys(m.settings for m in METHODS if m.settings))


def grouped_keys() -> dict[str, str]:
    """{grouped spelling: flat name} of every method's settings: {"lora.r": "lora_r", ...}."""
    return {k: v for group in setting_groups() for k, v in grouped_spellings(group).items()}


def shown_fields() -> tuple[str, ...]:
    """The method-specific hyperparameters table rows carry, in registry order."""
    return tuple(dict.fromkeys(s.field for m in METHODS for s in m.shown))


def peft_choices() -> tuple[str | None, ...]:
    """The values --peft_method takes (None: unset)."""
    return tuple(dict.fromkeys(m.peft_method for m in METHODS))


PEFT_METHOD_HELP = (or_list([p for p in peft_choices() if p])
                    + f"; unset means {_WITHOUT_PEFT.label}.")
METHOD_FLAG_HELP = f"short for --{PEFT_FIELD} (+ --{INIT_TEXT_FIELD} where the method needs one)"


def defaults_help(field_name: str) -> str:
    """How --help states a setting's default when each method has its own."""
    values = ", ".join(f"{m.alias} {m.defaults[field_name]:g}" for m in METHODS
                       if field_name in m.defaults)
    return f"the method's: {values}"


def describe(indent: str = "  ") -> str:
    """One line per method for --help texts: alias, label, help."""
    width = max(len(m.alias) for m in METHODS)
    return "\n".join(f"{indent}{m.alias:<{width}}  {m.label}: {m.help}" for m in METHODS)
