"""One setting's value: a raw value (a flag's text, a YAML scalar) turned into the field's type,
checked against its choices and bounds, and the "did you mean" of a misspelt name.

Every error is one line naming the setting and the layer the value came from
(``FieldSpec.where``): a bad value reads the same from a flag, a file, a sweep or the form.
"""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from emotui.core.errors import ConfigError

if TYPE_CHECKING:
    from emotui.core.settings import FieldSpec

# The largest whole number a setting takes: what every consumer (torch, numpy, JSON readers that
# keep 64-bit integers) can hold; 1e308 read as a whole number is refused, not passed on.
INT_LIMIT = 2**63 - 1

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_NULL_WORDS = {"none", "null"}


def suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """"; did you mean 'x'?" or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f"; did you mean '{close[0]}'?" if close else ""


def refuse_unknown_keys(block: Iterable[Any], allowed: Iterable[str], where: str,
                        holds: str) -> None:
    """One line for the first key of ``block`` (a mapping read from a file) that is not
    ``allowed``: where, the key, a 'did you mean', and ``holds`` (what the block may hold)."""
    allowed = tuple(allowed)
    for key in block:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key '{key}'{suggest(str(key), allowed)}; {holds}")


def mapping_block(block: Any, allowed: Iterable[str], where: str, *, must_be: str,
                  holds: str) -> dict[str, Any]:
    """``block`` (read from a file) as the mapping it must be: one line when it is something
    else ("``where`` must be ``must_be``") or holds a key not ``allowed``
    (refuse_unknown_keys, with ``holds``)."""
    if not isinstance(block, dict):
        raise ConfigError(f"{where} must be {must_be}")
    refuse_unknown_keys(block, allowed, where, holds)
    return block


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
    number = _whole(value, where)
    if abs(number) > INT_LIMIT:
        raise ConfigError(f"{where} must be an integer of at most {INT_LIMIT}, got {value!r}")
    return number


def _whole(value: Any, where: str) -> int:
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


def finite_number(value: Any, where: str, *, integer: bool = False) -> float | int:
    """A number read from a file or a flag (YAML 1.1 reads 2e-5 as text: text that parses
    counts): never a bool, NaN or an infinity (``.nan`` compares false with every bound, so a
    check such as ``eta > 1`` would let it through). ``integer``: a whole number (1.0 is 1)."""
    if integer:
        return _integer(value, where)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value.strip()) if isinstance(value, str) else value
    except ValueError:
        raise ConfigError(f"{where} must be a number, got {value!r}") from None
    try:
        finite = math.isfinite(number)
    except OverflowError:  # an int beyond any float
        finite = False
    if not finite:
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return number


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
