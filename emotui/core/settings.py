"""Typed settings: one field spec for the run, Slurm and W&B settings, and one layering rule.

A settings dataclass (``RunConfig``, ``SlurmResources``, ``WandbSettings``) declares each field
with ``setting(default, help, ...)``; ``Schema.of`` completes those declarations with the field's
name and type. Everything else is derived from the ``FieldSpec``: turning a raw value (a flag's
text, a YAML scalar) into the field's type, the range and choice check, the command-line flag,
the TUI form row and the help text, which is written once.

Precedence, lowest first: defaults < the user config (``~/.config/emotui/config.yaml``) < a
``--config`` file < flags (or the TUI's form). ``layer_settings`` merges layers given in that
order and names the layer in every error it raises.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from emotui.core.errors import ConfigError

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

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_NULL_WORDS = {"none", "null"}
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
            type: type | None = None, **kw: Any) -> Any:
    """Declare a field of a settings dataclass; ``Schema.of`` completes it with name and type.

    ``form``: True shows the field among the common form fields, False behind "all fields",
    FORM_HIDDEN never. Other keywords are FieldSpec's.
    """
    visibility = form if isinstance(form, str) else FORM_SHOWN if form else FORM_ADVANCED
    if "choices" in kw and kw["choices"] is not None:
        kw["choices"] = tuple(kw["choices"])
    spec = FieldSpec(name="", type=type or object, default=default, help=help, group=group,
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
            out += spellings
        return list(dict.fromkeys(out))

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
# One value: coercion and the range check
# ---------------------------------------------------------------------------------------------


def suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """"; did you mean 'x'?" or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f"; did you mean '{close[0]}'?" if close else ""


def coerce(spec: FieldSpec, value: Any, source: str) -> Any:
    """Turn a raw value (a string from a flag, a YAML scalar) into the field's type, or raise."""
    typ = spec.type
    where = spec.where(source)
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULL_WORDS
                         and typ is not str):
        if spec.nullable:
            return None
        raise ConfigError(f"{where} must be a {typ.__name__}, not empty")
    if spec.parse is not None:
        return spec.parse(value, source)
    if typ is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if typ is int:
        return _integer(value, where)
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        try:
            # YAML 1.1 reads 2e-5 (no dot) as a string; float() takes it.
            number = float(str(value).strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return number
    if typ is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if typ is list:
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, (list, tuple)):
            items = [str(v) for v in value]
        else:
            raise ConfigError(f"{where} must be a list or comma-separated text, got {value!r}")
        return [item.strip() for item in items if item.strip()]
    if isinstance(value, (list, tuple)):
        # A YAML list for a comma-separated option (lora_target_modules: [query, value]).
        return ",".join(str(v) for v in value)
    return str(value)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            as_float = float(str(value).strip())
        except ValueError:
            as_float = math.nan
        if as_float.is_integer():
            return int(as_float)
        raise ConfigError(f"{where} must be an integer, got {value!r}") from None


def below_min(spec: FieldSpec, value: float, *, reachable: bool = True) -> str | None:
    """"must be > 0" when ``value`` breaks the field's lower bound, else None. ``reachable``
    False: the value itself is never taken, only values above it (an open interval's end)."""
    lo = spec.min
    if lo is None:
        return None
    if value < lo or (value == lo and reachable and spec.min_exclusive):
        return f"must be {'>' if spec.min_exclusive else '>='} {_bound(lo)}"
    return None


def _bound(limit: float) -> str:
    # 4294967295, not 4.29497e+09: a bound a user must type back exactly.
    return str(int(limit)) if float(limit).is_integer() and abs(limit) < 1e16 else f"{limit:g}"


def above_max(spec: FieldSpec, value: float, *, reachable: bool = True) -> str | None:
    """"must be < 1" when ``value`` breaks the field's upper bound, else None."""
    hi = spec.max
    if hi is None:
        return None
    if value > hi or (value == hi and reachable and spec.max_exclusive):
        return f"must be {'<' if spec.max_exclusive else '<='} {_bound(hi)}"
    return None


def check_range(spec: FieldSpec, value: Any, source: str) -> None:
    """A coerced value against the field's choices and bounds; a one-line ConfigError if not."""
    if value is None:
        return
    where = spec.where(source)
    if spec.choices is not None and value not in spec.choices:
        shown = ", ".join("unset" if c is None else str(c) for c in spec.choices)
        raise ConfigError(
            f"{where} must be one of: {shown}; got {value!r}"
            + suggest(str(value), [str(c) for c in spec.choices if c], cutoff=0.5)
        )
    if spec.type in (int, float) and not isinstance(value, bool):
        problem = below_min(spec, value) or above_max(spec, value)
        if problem:
            raise ConfigError(f"{where} {problem}, got {value!r}")


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
        for raw_key, raw_value in raw.items():
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
# Command-line flags and form rows
# ---------------------------------------------------------------------------------------------

_BOOL_METAVAR = "{true,false}"


def metavar(spec: FieldSpec) -> str:
    if spec.metavar:
        return spec.metavar
    if spec.type is bool:
        return _BOOL_METAVAR
    if spec.choices:
        return "{" + ",".join(str(c) for c in spec.choices if c is not None) + "}"
    return spec.type.__name__.upper()


def add_flags(schema: Schema, group_of: Callable[[str], Any]) -> None:
    """One flag per field that has one; ``group_of(spec.group)`` gives the argparse group.

    Values stay raw text: the layering coerces and checks them, so a bad value gets the same
    message from a flag, a YAML file, a sweep or the form.
    """
    for spec in schema.fields.values():
        if not spec.flag:
            continue
        kwargs: dict[str, Any] = dict(dest=schema.dest(spec), default=None, help=spec.describe(),
                                      metavar=metavar(spec))
        if spec.type is bool:
            kwargs.update(nargs="?", const="true")
        if spec.repeatable:
            kwargs["action"] = "append"
        group_of(spec.group).add_argument(*schema.flag_spellings(spec), **kwargs)


def flag_values(schema: Schema, args: argparse.Namespace) -> dict[str, Any]:
    """The schema's settings given on the command line (only those actually given)."""
    out = {}
    for spec in schema.fields.values():
        value = getattr(args, schema.dest(spec), None) if spec.flag else None
        if value is not None:
            out[spec.name] = value
    return out


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
