"""The order of a sweep's trials on the sweeps screen: by the sweep's metric (best first), by
test accuracy, or as they started; trials without the value come last either way."""

from __future__ import annotations

from typing import Any

from emotui.core.errors import ConfigError
from emotui.core.vocabulary import ResultKey
from emotui.sweep.metric import RESULT_KEYS, Metric

# s cycles through these; S reverses the one shown.
SORTS = ("metric", "test", "started")
# A sweep whose metric a row does not carry (a loss) is ranked by eval accuracy.
FALLBACK = (ResultKey.EVAL_ACCURACY, True)


def metric_column(spec: dict[str, Any]) -> tuple[str, bool]:
    """(row key, higher is better) of the sweep's metric (spec.json's ``metric``)."""
    block = spec.get("metric")
    if not block:
        return FALLBACK
    try:
        metric = Metric.parse({k: v for k, v in block.items() if v is not None}, "spec.json")
    except (ConfigError, AttributeError):
        return FALLBACK
    key = RESULT_KEYS.get((metric.split, metric.field))
    return (key, metric.maximize) if key else FALLBACK


def sort_column(sort: str, spec: dict[str, Any]) -> tuple[str, bool] | None:
    """(row key, higher is better) a sort ranks by; None for start order."""
    if sort == "metric":
        return metric_column(spec)
    if sort == "test":
        return ResultKey.TEST_ACCURACY, True
    return None


def ordered(trials: list[dict[str, Any]], spec: dict[str, Any], sort: str,
            reverse: bool = False) -> list[dict[str, Any]]:
    """The trials in the sort's order (best first), reversed on request; unscored ones last,
    in start order."""
    by_start = sorted(trials, key=lambda t: t["run_id"])
    column = sort_column(sort, spec)
    if column is None:
        return by_start[::-1] if reverse else by_start
    key, higher = column
    scored = [t for t in by_start if isinstance(t.get(key), (int, float))]
    rest = [t for t in by_start if not isinstance(t.get(key), (int, float))]
    scored.sort(key=lambda t: t[key], reverse=higher != reverse)
    return scored + rest


def sort_label(sort: str, spec: dict[str, Any], reverse: bool) -> str:
    """How the status line names the order."""
    if sort == "started":
        return "started " + ("last first" if reverse else "first first")
    key, _ = sort_column(sort, spec) or ("", True)
    return key.replace("_", " ") + (" worst first" if reverse else " best first")
