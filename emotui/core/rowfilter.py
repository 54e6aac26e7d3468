"""Filter table rows with small expressions: ``method=lora``, ``test_accuracy>=0.9``,
``learning_rate<1e-3 and status=completed``, ``model_name_or_path~roberta``.

Conditions are ``COLUMN OP VALUE`` with OP one of ``= == != > >= < <= ~`` (``~``: contains,
case-insensitive), joined by ``and`` (values may hold commas:
``lora_target_modules=query,value``). Numbers compare as numbers; ``none`` matches a missing
value. A row without the column fails every condition but ``!=``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from emotui.core.errors import ConfigError, quoted
from emotui.core.settings import suggest
from emotui.core.vocabulary import ResultKey

ALIASES = {"lr": "learning_rate", "acc": ResultKey.TEST_ACCURACY, "state": "status",
           "id": "run_id"}
_COND = re.compile(r"^\s*([A-Za-z_][\w./-]*)\s*(==|!=|>=|<=|=|>|<|~)\s*(.*?)\s*$")
_SPLIT = re.compile(r"\s+and\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Any

    def __call__(self, row: dict[str, Any]) -> bool:
        have = row.get(self.column)
        if self.value is None:
            return (have is None) == (self.op in ("=", "=="))
        if have is None:
            return self.op == "!="
        if self.op == "~":
            return str(self.value).lower() in str(have).lower()
        left, right = _comparable(have, self.value)
        if self.op in ("=", "=="):
            return left == right
        if self.op == "!=":
            return left != right
        try:
            return {">": left > right, ">=": left >= right, "<": left < right,
                    "<=": left <= right}[self.op]
        except TypeError:
            return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _comparable(have: Any, want: Any) -> tuple[Any, Any]:
    a, b = _number(have), _number(want)
    if a is not None and b is not None:
        return a, b
    return str(have).lower(), str(want).lower()


def _value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]  # quoted: taken literally, even "none"
    if text.lower() in ("none", "null"):
        return None
    return text


def column_name(text: str, known: Iterable[str] | None, what: str = "filter") -> str:
    """A column as a user types it (or its alias: lr, acc, state, id), checked against the
    known columns when they are given; ``what`` leads the error (filter, --sort)."""
    column = ALIASES.get(text, text)
    if known is not None and column not in known:
        hint = suggest(column, sorted(known))
        shown = f"'{column}'" if len(column) <= 40 else quoted(column)
        raise ConfigError(f"{what}: unknown column {shown}{hint}")
    return column


def parse_filter(expr: str, columns: Iterable[str] | None = None) -> Callable[[dict], bool]:
    """A predicate over rows; unknown columns are refused when the known columns are given."""
    known = set(columns) if columns is not None else None
    conditions: list[Condition] = []
    for part in _SPLIT.split(expr.strip()):
        if not part:
            continue
        match = _COND.match(part)
        if not match:
            raise ConfigError(
                f"filter '{part}' is not COLUMN OP VALUE (OP: = != > >= < <= ~), "
                "e.g. --filter 'method=lora and test_accuracy>0.9'"
            )
        column, op, raw = match.groups()
        conditions.append(Condition(column_name(column, known), op, _value(raw)))
    if not conditions:
        raise ConfigError("empty filter; give e.g. --filter 'method=lora'")
    return lambda row: all(cond(row) for cond in conditions)


def filter_rows(rows: list[dict[str, Any]], exprs: Iterable[str],
                columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    predicates = [parse_filter(e, columns) for e in exprs if e is not None]
    return [row for row in rows if all(p(row) for p in predicates)]
