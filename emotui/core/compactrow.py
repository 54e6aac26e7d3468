"""A listing row that costs a tenth of a dict: for views that hold every run of a large store.

A row of core.results.summarize is a dict of about fifty keys: some 3 KB each, 300 MB for a
store of 100,000 runs. ``CompactRow`` holds the same keys and values as a read-only mapping:
the key order lives once per *shape* (the rows of a store share a handful), the values in a
tuple, and repeated text values (states, methods, backends, reasons, model names) are one
object shared by every row. Readers use it as they use the dict (``row.get``, ``row[key]``,
``key in row``, ``dict(row)``); a writer makes a new row (``with_values``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Shared text values: bounded so a store of unique values (reasons with numbers) cannot grow it
# without end; past the bound, values are simply not shared.
_SHARED_MAX = 100_000
_shared: dict[Any, Any] = {}


def _share(value: Any) -> Any:
    if isinstance(value, str) and len(value) <= 200:
        kept = _shared.get(value)
        if kept is not None:
            return kept
        if len(_shared) < _SHARED_MAX:
            _shared[value] = value
    return value


class Shape:
    """The keys of a kind of row, in order, and where each one's value sits."""

    __slots__ = ("keys", "position", "_plus")
    _known: dict[tuple[str, ...], "Shape"] = {}

    def __init__(self, keys: tuple[str, ...]):
        self.keys = keys
        self.position = {key: i for i, key in enumerate(keys)}
        self._plus: dict[tuple[str, ...], Shape] = {}

    def plus(self, more: tuple[str, ...]) -> "Shape":
        """This shape with the keys ``more`` after its own."""
        shape = self._plus.get(more)
        if shape is None:
            shape = self._plus.setdefault(more, Shape.of(self.keys + more))
        return shape

    @classmethod
    def of(cls, keys: tuple[str, ...]) -> "Shape":
        shape = cls._known.get(keys)
        if shape is None:
            shape = cls._known.setdefault(keys, cls(keys))
        return shape


class CompactRow(Mapping):
    """A read-only row: ``dict``'s reading methods over a shared shape and a tuple."""

    __slots__ = ("_shape", "_values")

    def __init__(self, shape: Shape, values: tuple[Any, ...]):
        self._shape = shape
        self._values = values

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "CompactRow":
        if isinstance(row, CompactRow):
            return row
        return cls(Shape.of(tuple(row)), tuple(_share(v) for v in row.values()))

    @classmethod
    def from_values(cls, keys: tuple[str, ...], values: list[Any]) -> "CompactRow":
        return cls(Shape.of(keys), tuple(_share(v) for v in values))

    def get(self, key: str, default: Any = None) -> Any:
        i = self._shape.position.get(key)
        return default if i is None else self._values[i]

    def __getitem__(self, key: str) -> Any:
        return self._values[self._shape.position[key]]

    def __contains__(self, key: object) -> bool:
        return key in self._shape.position

    def __iter__(self) -> Iterator[str]:
        return iter(self._shape.keys)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self):  # type: ignore[override]
        return self._shape.keys

    def values(self):  # type: ignore[override]
        return self._values

    def items(self):  # type: ignore[override]
        return zip(self._shape.keys, self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CompactRow) and self._shape is other._shape:
            return self._values == other._values
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def extended(self, more: Mapping[str, Any]) -> "LayeredRow":
        """This row with the keys of ``more`` over it (added after its own, or replacing
        them), without copying it: ``more`` is kept once for every row given the same."""
        return LayeredRow(self, _overlay(more))

    def with_values(self, **changes: Any) -> "CompactRow":
        """A copy with ``changes`` (keys it lacks are added at the end)."""
        row = dict(self.items())
        row.update(changes)
        return CompactRow.of(row)

    def __repr__(self) -> str:
        return f"CompactRow({dict(self.items())!r})"


_overlays: dict[tuple, dict[str, Any]] = {}


def _overlay(more: Mapping[str, Any]) -> dict[str, Any]:
    """``more`` as a dict shared by every row given an equal one (most rows get the same few
    flags), when its values can be keys; else a dict of its own."""
    try:
        key = tuple(more.items())
        kept = _overlays.get(key)
    except TypeError:  # an unhashable value
        return dict(more)
    if kept is None:
        kept = dict(more)
        if len(_overlays) < 10_000:
            _overlays[key] = kept
    return kept


_MISSING = object()


class LayeredRow(Mapping):
    """A row (``base``) with a few keys laid over it (``over``, shared, never changed): what a
    view adds to the rows it shares with the run index (core.runindex), at no copy."""

    __slots__ = ("base", "over")

    def __init__(self, base: Mapping[str, Any], over: dict[str, Any]):
        self.base = base
        self.over = over

    def get(self, key: str, default: Any = None) -> Any:
        value = self.over.get(key, _MISSING)
        return self.base.get(key, default) if value is _MISSING else value

    def __getitem__(self, key: str) -> Any:
        value = self.over.get(key, _MISSING)
        return self.base[key] if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        return key in self.over or key in self.base

    def __iter__(self) -> Iterator[str]:
        yield from self.base
        for key in self.over:
            if key not in self.base:
                yield key

    def __len__(self) -> int:
        return len(self.base) + sum(1 for key in self.over if key not in self.base)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LayeredRow) and other.base is self.base:
            return other.over == self.over
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def extended(self, more: Mapping[str, Any]) -> "LayeredRow":
        return LayeredRow(self.base, _overlay({**self.over, **more}))

    def with_values(self, **changes: Any) -> "LayeredRow":
        return self.extended(changes)

    def __repr__(self) -> str:
        return f"LayeredRow({dict(self.items())!r})"
