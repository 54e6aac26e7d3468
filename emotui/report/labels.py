"""Method names as people read them in the report."""

from __future__ import annotations


def method_label(method: str | None) -> str:
    """The method registry's label ("LoRA", "prompt tuning, text init"), else the raw name."""
    if not method:
        return "unknown method"
    try:
        from emotui.core import methods
    except ImportError:  # an older emotui without the registry: the raw name is still clear
        return method
    spec = methods.find(method)
    return spec.label if spec is not None else method


def method_order(method: str | None) -> int:
    """The registry's order (full, LoRA, prompt tuning text, random), unknown methods last."""
    try:
        from emotui.core import methods
    except ImportError:
        return 0
    names = [m.name for m in methods.METHODS]
    return names.index(method) if method in names else len(names)
