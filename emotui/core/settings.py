"""Typed settings: one field spec for the run, Slurm and W&B settings, and one layering rule.

A settings dataclass (``RunConfig``, ``SlurmResources``, ``WandbSettings``) declares each field
with ``setting(default, help, ...)``; ``Schema.of`` completes those declarations with the field's
name and type. Everything else is derived from the ``FieldSpec``: turning a raw value (a flag's
text, a YAML scalar) into the field's type and the range and choice check
(``emotui.core.setting_values``), the command-line flag (``emotui.cli.flags``), the TUI form row
and the help text, which is written once.

Precedence, lowest first: defaults < the user config (``~/.config/emotui/config.yaml``) < a
``--config`` file < flags (or the TUI's form). ``layer_settings`` merges layers given in that
order and names the layer in every error it raises. A layer is a plain mapping: the CLI turns
its parsed flags into one (``emotui.cli.flags``), and the flags themselves are made there too.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from emotui.core.errors import ConfigError
from emotui.core.setting_values import check_range, coerce, suggest

# Where a field appears in the TUI form: among the common fields, only behind "all fields", or
# never (a dedicated widget sets it, or it has no sensible form input).
FORM_SHOWN = "shown"
FORM_ADVANCED = "advanced"
FORM_HIDDEN = "hidden"
# How a later layer's value combines with an earlier one's.
MERGE_REPLACE = "replace"
MERGE_UPDATE = "update"  # mappings merge key by key (sbatch_args, extra TrainingArguments)
MERGE_EXTEND = "extend"  # lists from every layer, in layer order (Slurm setup lines)

# (raw value, source) -> typed value, or a one-line ConfigError naming the source.
Parser = Callable[[Any, str], Any]
# (source name, {key: raw value}); None stands for a layer that is absent.
Layer = tuple[str, "Mapping[str, Any] | None"]

_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "dict": dict, "list": list}


@dataclass(frozen=True)
class FieldSpec:
    """Everything emotui knows about one setting."""

    name: str
    type: type
    default: Any
    help: str
    group: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    nullable: bool = False
    # Never written to files, logs or command lines (tokens).
    secret: bool = False
    # The methods the field belongs to (None: all); setting it for another method is an error.
    methods: tuple[str, ...] | None = None
    form: str = FORM_ADVANCED
    label: str | None = None  # the form's name for it (default: the field name)
    flag: bool = True  # has a command-line flag
    flag_name: str | None = None  # the flag's spelling when not the field's own (sbatch-arg)
    metavar: str | None = None
    repeatable: bool = False  # the flag may be given several times (collected as a list)
    # How help describes the default when the value alone does not say it ("the partition's").
    default_help: str | None = None
    merge: str = MERGE_REPLACE
    parse: Parser | None = None  # a format of its own (Slurm time limits); replaces type coercion
    # What errors call the field: the name, with the schema's prefix ("slurm gpus").
    title: str = ""

    def where(self, source: str) -> str:
        return f"{self.title or self.name} (from {source})"

    def describe(self) -> str:
        """The help text of the flag and of the form row: the help plus the default, if any."""
        shown = self.default_help
        if shown is None and self.default not in (None, [], {}):
            shown = str(self.default)
        return f"{self.help} (default: {shown})" if shown is not None else self.help

    @property
    def form_label(self) -> str:
        return self.label or self.name


def setting(default: Any, help: str, group: str = "", *, form: bool | str = False,
            type: type | None = None, name: str = "", **kw: Any) -> Any:
    """Declare a field of a settings dataclass; ``Schema.of`` completes it with name and type.

    ``form``: True shows the field among the common form fields, False behind "all fields",
    FORM_HIDDEN never. ``name``: in a method's settings group, the flat name of the run config
    when it is not ``<group>_<field>`` (emotui.core.method_settings). Other keywords are
    FieldSpec's.
    """
    visibility = form if isinstance(form, str) else FORM_SHOWN if form else FORM_ADVANCED
    if "choices" in kw and kw["choices"] is not None:
        kw["choices"] = tuple(kw["choices"])
    spec = FieldSpec(name=name, type=type or object, default=default, help=help, group=group,
                     form=visibility, **kw)
    meta = {"spec": spec}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def spec_of(f: dataclasses.Field) -> FieldSpec:
    return f.metadata["spec"]


@dataclass(frozen=True)
class Schema:
    """The field specs of one settings dataclass, in declaration order, and how to read them."""

    title: str  # "slurm" in "unknown slurm setting 'x'"
    cls: type
    fields: Mapping[str, FieldSpec]
    aliases: Mapping[str, str] = field(default_factory=dict)  # other spellings of a key
    # Names of setting groups: a mapping under one spells its settings grouped, so
    # {lora: {r: 8}} is lora.r (which ``aliases`` resolves).
    nested: frozenset[str] = frozenset()
    # Keys that are no field but which the caller handles (returned by Layered.add).
    others: frozenset[str] = frozenset()
    # Empty values (None, "", [], {}) mean "not given here" rather than "unset".
    skip_empty: bool = False
    fold_case: bool = False  # keys match whatever their case (wandb's own settings do)
    groups: tuple[str, ...] = ("",)
    # Flags: --<prefix>-<name>; dest <dest_prefix><name>; "first" puts the study's underscore
    # spelling (--learning_rate) before the dashed one, "second" after it, "none" leaves it out.
    flag_prefix: str = ""
    dest_prefix: str = ""
    underscore_flags: str = "second"
    alias_flags: bool = False  # aliases get flags too (the study's --text_column_name)
    unknown: Callable[[str, str], ConfigError] | None = None  # (raw key, source) -> error
    refuse: Callable[[str, str, str], None] | None = None  # (key, raw key, source): may raise

    @classmethod
    def of(cls, settings_cls: type, title: str, *, prefix: str = "",
           methods: Mapping[str, tuple[str, ...] | None] | None = None, **kw: Any) -> Schema:
        """The schema of a dataclass declared with ``setting``; ``methods`` overrides the
        methods each named field belongs to (the method registry's word)."""
        specs: dict[str, FieldSpec] = {}
        for f in dataclasses.fields(settings_cls):
            declared = spec_of(f)
            typ, nullable = _annotation_type(f)
            changes: dict[str, Any] = dict(name=f.name, nullable=nullable, title=prefix + f.name)
            if declared.type is object:
                changes["type"] = typ
            if methods is not None and f.name in methods:
                changes["methods"] = methods[f.name]
            specs[f.name] = dataclasses.replace(declared, **changes)
        return cls(title=title, cls=settings_cls, fields=specs, **kw)

    def key(self, raw_key: Any) -> str:
        """A key as written (--learning-rate, text_column_name) -> the field name it means."""
        key = str(raw_key).strip().lstrip("-").replace("-", "_")
        key = key.lower() if self.fold_case else key
        return self.aliases.get(key, key)

    def unknown_error(self, raw_key: str, source: str) -> ConfigError:
        if self.unknown is not None:
            return self.unknown(raw_key, source)
        known = [*self.fields, *sorted(self.others)]
        hint = suggest(self.key(raw_key), known) or "; known: " + ", ".join(known)
        return ConfigError(f"unknown {self.title} setting '{raw_key}' in {source}{hint}")

    def flag_spellings(self, spec: FieldSpec) -> list[str]:
        names = [spec.flag_name or spec.name]
        if self.alias_flags:
            names += [a for a, to in self.aliases.items() if to == spec.name and a != to]
        out: list[str] = []
        for name in names:
            base = f"{self.flag_prefix}_{name}" if self.flag_prefix else name
            dashed, underscored = f"--{base.replace('_', '-')}", f"--{base}"
            spellings = {"first": [underscored, dashed], "second": [dashed, underscored],
                         "none": [dashed]}[self.underscore_flags]
            # A grouped spelling (--lora.target_modules) is written as its YAML key is.
            out += [underscored] if "." in name else spellings
        return list(dict.fromkeys(out))

    def spread(self, raw: Mapping[str, Any], source: str) -> dict[str, Any]:
        """``raw`` with each group's mapping spread into grouped keys: {lora: {r: 8}} ->
        {lora.r: 8}; every other key as it is."""
        out: dict[str, Any] = {}
        for raw_key, value in raw.items():
            group = str(raw_key).strip()
            if group not in self.nested:
                out[raw_key] = value
            elif isinstance(value, Mapping):
                out.update({f"{group}.{key}": inner for key, inner in value.items()})
            elif value is not None:
                raise ConfigError(f"{group} (from {source}) must be a mapping of {group} "
                                  f"settings, e.g. {group}: {{{self._first_of(group)}: ...}}")
        return out

    def _first_of(self, group: str) -> str:
        return next((a.split(".", 1)[1] for a in self.aliases if a.startswith(group + ".")), "")

    def dest(self, spec: FieldSpec) -> str:
        return self.dest_prefix + spec.name

    def build(self, values: Mapping[str, Any]) -> Any:
        return self.cls(**values)


def _annotation_type(f: dataclasses.Field) -> tuple[type, bool]:
    """(int, True) for ``int | None``; annotations are strings (postponed evaluation)."""
    ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    parts = [p.strip() for p in ann.split("|")]
    nullable = "None" in parts
    base = next(p for p in parts if p != "None").split("[")[0]
    if base not in _TYPES:
        raise AssertionError(f"unsupported annotation {ann!r} on {f.name}")
    return _TYPES[base], nullable


# ---------------------------------------------------------------------------------------------
# Layers: defaults < user config < --config file < flags
# ---------------------------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass
class Layered:
    """Settings merged from named layers; ``sources`` names the layer that set each value.

    Only values some layer gave are held: the dataclass supplies the defaults (``build``).
    """

    schema: Schema
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, source: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Merge one layer over the ones before it; returns its keys listed in
        ``schema.others`` ({key: raw value}) for the caller to handle."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{self.schema.title} settings (from {source}) must be a mapping, "
                              f"not {type(raw).__name__}")
        others: dict[str, Any] = {}
        for raw_key, raw_value in self.schema.spread(raw, source).items():
            key = self.schema.key(raw_key)
            if self.schema.refuse is not None:
                self.schema.refuse(key, str(raw_key), source)
            spec = self.schema.fields.get(key)
            if spec is None:
                if key not in self.schema.others:
                    raise self.schema.unknown_error(str(raw_key), source)
                others[key] = raw_value
                continue
            if self.schema.skip_empty and _is_empty(raw_value):
                continue
            self.set(spec.name, coerce(spec, raw_value, source), source)
        return others

    def set(self, name: str, value: Any, source: str) -> None:
        """One typed value from ``source``, combined with earlier ones by the field's rule."""
        rule = self.schema.fields[name].merge
        if rule == MERGE_UPDATE and name in self.values:
            self.values[name] = {**self.values[name], **value}
        elif rule == MERGE_EXTEND and name in self.values:
            self.values[name] = [*self.values[name], *value]
        else:
            self.values[name] = value
        self.sources[name] = source

    def check(self) -> None:
        """Every value against its field's choices and bounds, naming the layer that set it."""
        for name, value in self.values.items():
            check_range(self.schema.fields[name], value, self.sources[name])

    def build(self) -> Any:
        return self.schema.build(self.values)


# (the layers merged so far, one layer's keys from schema.others, that layer's source)
OthersHandler = Callable[[Layered, dict[str, Any], str], None]


def layer_settings(schema: Schema, layers: Sequence[Layer], *,
                   others: OthersHandler | None = None) -> Layered:
    """Merge layers, lowest precedence first (defaults < user config < --config file < flags),
    and range-check the result; every error names the layer the bad value came from.

    A layer's keys listed in ``schema.others`` go to ``others`` right after that layer (the run
    config's ``method`` shorthand); without a handler they are skipped.
    """
    merged = Layered(schema)
    for source, raw in layers:
        found = merged.add(source, raw)
        if found and others is not None:
            others(merged, found, source)
    merged.check()
    return merged


# ---------------------------------------------------------------------------------------------
# Form rows (the command-line flags are emotui.cli.flags')
# ---------------------------------------------------------------------------------------------


def form_specs(schema: Schema, *, method: str | None = None,
               advanced: bool = False) -> list[FieldSpec]:
    """The fields a form shows, grouped: the common ones, or every applicable one when
    ``advanced``; never secrets, hidden fields or another method's fields."""
    specs = []
    for spec in schema.fields.values():
        if spec.secret or spec.form == FORM_HIDDEN:
            continue
        if method is not None and spec.methods and method not in spec.methods:
            continue
        if advanced or spec.form == FORM_SHOWN:
            specs.append(spec)
    return sorted(specs, key=lambda s: schema.groups.index(s.group))


def as_text(value: Any) -> str:
    """A value as a form shows it ("" for unset)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def select_options(spec: FieldSpec) -> list[tuple[str, str]] | None:
    """(label, value) pairs for a choice list, or None when the field takes free input."""
    if spec.choices is None and not (spec.type is bool and spec.nullable):
        return None
    choices = spec.choices or (None, True, False)
    return [("unset" if c is None else str(c).lower(), "" if c is None else str(c).lower())
            for c in choices]
