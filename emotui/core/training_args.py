"""The TrainingArguments emotui passes on without a setting of its own (``extra_training_args``:
``--set optim=adafactor``, ``optim: adafactor`` in a ``--config`` file, a sweep parameter),
checked against transformers' own field types before a run exists.

The reference recipe hands these to ``transformers.TrainingArguments``; a value of the wrong
type (``optim`` as a mapping, ``tf32: "yes"``, ``eval_delay: .nan``) used to pass every check
and fail minutes later inside the job. The types come from a generated table
(``core/training_args_table.py``), not from transformers itself: the CLI and the TUI never import
transformers (and torch with it) to start. ``tests/core/test_training_args.py`` regenerates the
table from the installed transformers and fails when it differs; ``python -m
emotui.core.training_args`` writes it again.

A name the installed transformers no longer has (``EXTRA_TRAINING_ARGS`` keeps some from 4.x)
has no entry: its value is only checked to be plain data with finite numbers, and the recipe
ignores it with a warning, as before.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping

from emotui.core.errors import ConfigError, listed, quoted
from emotui.core.setting_values import INT_LIMIT, suggest
from emotui.core.training_args_table import TYPES

TABLE_FILE = Path(__file__).with_name("training_args_table.py")
_KIND_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number",
               "str": "text", "dict": "a mapping", "list": "a list", "list[str]": "a list of text",
               "none": "null"}


def check_value(key: str, value: Any, source: str) -> Any:
    """``value`` for TrainingArguments' ``key`` if its type is one transformers declares (an
    integral float for an int becomes an int); else a one-line ConfigError naming the key and
    the layer it came from. Non-finite numbers are refused anywhere in the value."""
    where = f"{key} (from {source})"
    _refuse_non_finite(value, where)
    declared = TYPES.get(key)
    if declared is None:
        return value
    kinds, choices = declared
    for kind in kinds:
        matched, out = _matches(kind, value, choices)
        if matched:
            return out
    if isinstance(value, str) and choices and "str" in kinds:
        raise ConfigError(f"{where} must be one of: {listed(list(choices), limit=8)}; got "
                          f"{quoted(value)}{suggest(value, choices, cutoff=0.5)}")
    whole = int(value) if isinstance(value, float) and value.is_integer() else value
    if "int" in kinds and isinstance(whole, int) and not isinstance(whole, bool) and \
            abs(whole) > INT_LIMIT:
        raise ConfigError(f"{where} must be at most {INT_LIMIT}, got {quoted(value)}")
    wanted = " or ".join(_KIND_WORDS.get(k, f"a {k} object (which a file cannot give)")
                         for k in kinds)
    if choices and "str" in kinds:
        wanted += f" (one of: {listed(list(choices), limit=8)})"
    raise ConfigError(f"{where} must be {wanted}, got {quoted(value)}; transformers' "
                      "TrainingArguments takes it so")


def check_all(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Every pass-through TrainingArguments value of a mapping (extra_training_args as a
    run's config.yaml holds it), checked by check_value."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"extra_training_args (from {source}) must be a mapping of "
                          f"TrainingArguments settings, got {quoted(values)}")
    return {str(k): check_value(str(k), v, source) for k, v in values.items()}


def _matches(kind: str, value: Any, choices: tuple[str, ...]) -> tuple[bool, Any]:
    if kind == "none":
        return value is None, None
    if kind == "bool":
        return isinstance(value, bool), value
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT_LIMIT
        return ok, value
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool), value
    if kind == "str":
        return isinstance(value, str) and (not choices or value in choices), value
    if kind == "dict":
        return isinstance(value, Mapping), value
    if kind == "list":
        return isinstance(value, list), value
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value), value
    return False, value  # a class no file can give (ParallelismConfig)


def _refuse_non_finite(value: Any, where: str) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{where} must hold finite numbers, got {quoted(item)}")
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


# --- the table, generated from transformers -------------------------------------------------


def _kinds_of(annotation: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kinds, choices) of one dataclass field annotation of TrainingArguments: an Enum
    member of the union is text taking its values (``OptimizerNames | str``: optim)."""
    import enum
    import typing

    kinds: list[str] = []
    choices: list[str] = []
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (
        typing.Union, getattr(__import__("types"), "UnionType", typing.Union)) else (annotation,)
    for member in members:
        origin = typing.get_origin(member) or member
        args = typing.get_args(member)
        if member is type(None):
            kinds.append("none")
        elif isinstance(origin, type) and issubclass(origin, enum.Enum):
            kinds.append("str")
            choices += [str(m.value) for m in origin]
        elif origin in (bool, int, float, str, dict):
            kinds.append(origin.__name__)
        elif origin is list:
            item = args[0] if args else Any
            kinds.append("list[str]" if item is str else "list")
        elif member is Any:
            kinds += ["bool", "int", "float", "str", "dict", "list", "none"]
        else:
            kinds.append(getattr(origin, "__name__", str(origin)))
    return tuple(dict.fromkeys(kinds)), tuple(dict.fromkeys(choices))


def generate_table() -> str:
    """The text of training_args_table.py for the installed transformers."""
    import dataclasses

    import transformers

    from emotui.core.config import EXTRA_TRAINING_ARGS  # lazy: core.config imports this module

    fields = {f.name: f.type for f in dataclasses.fields(transformers.TrainingArguments)}
    lines = [
        '"""transformers.TrainingArguments\' field types for the settings emotui passes on',
        "(core.training_args). Generated by `python -m emotui.core.training_args` from",
        f'transformers {transformers.__version__}; do not edit."""',
        "",
        "# {name: ((kinds, ...), (choices of a text value, ...))}",
        "TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {",
    ]
    for name in sorted(EXTRA_TRAINING_ARGS & set(fields)):
        kinds, choices = _kinds_of(fields[name])
        lines.append(f"    {name!r}: ({kinds!r}, {choices!r}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    TABLE_FILE.write_text(generate_table(), encoding="utf-8")
    print(f"wrote {TABLE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
