"""Method names as people read them in the report."""

from __future__ import annotations

from emotui.core import methods


def method_label(method: str | None) -> str:
    """The method registry's label ("LoRA", "prompt tuning, text init"), else the raw name."""
    if not method:
        return "unknown method"
    spec = methods.find(method)
    return spec.label if spec is not None else method


def method_order(method: str | None) -> int:
    """The registry's order (full, LoRA, prompt tuning text, random, ...), unknown methods
    last."""
    names = methods.names()
    return names.index(method) if method in names else len(names)
