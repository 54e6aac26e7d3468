"""The points of a sweep's search space: the grid in W&B's order (every point lazily, or the n-th
computed directly: a grid may hold millions), one representative point (the first value or a
fixed draw of each parameter), and the check, before anything starts, that every trial the
sweep may run builds a valid run config (``validate_combinations``: point by point for a small
grid, else value by value).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from emotui.sweep.distributions import DISCRETE, Distribution

if TYPE_CHECKING:
    from emotui.sweep.spec import Parameter, SweepSpec


def _grid_params(spec: SweepSpec) -> list[Parameter]:
    """Parameters in name order, as W&B's grid search orders them (the last varies fastest)."""
    return sorted(spec.parameters.values(), key=lambda p: p.raw_key)


def grid_points(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """Every point of a grid, in order (lazily: a grid may hold millions)."""
    params = _grid_params(spec)
    names = [p.key for p in params]
    ranges = [range(p.dist.grid_count()) for p in params]
    for combo in itertools.product(*ranges):
        yield {name: p.dist.grid_value(i) for name, p, i in zip(names, params, combo)}


def grid_point(spec: SweepSpec, index: int) -> dict[str, Any] | None:
    """The index-th point of grid_points, computed directly; None past the end."""
    params = _grid_params(spec)
    if index < 0 or index >= spec.grid_size():
        return None
    out: dict[str, Any] = {}
    for p in reversed(params):
        index, digit = divmod(index, p.dist.grid_count())
        out[p.key] = p.dist.grid_value(digit)
    return {p.key: out[p.key] for p in params}


def representative_values(spec: SweepSpec) -> dict[str, Any]:
    """One point of the search space (first value / lower end) for up-front combination checks."""
    out = {}
    for key, p in spec.parameters.items():
        if p.dist.kind in DISCRETE or p.dist.kind in ("int_uniform", "q_uniform"):
            out[key] = p.dist.grid_value(0) if p.dist.grid_count() else p.dist.args.get("min")
        else:  # continuous: one draw from a fixed seed (inside the support by construction)
            out[key] = p.dist.sample(random.Random(0))
    return out


# A grid up to this size is checked point by point before anything starts; a larger one value
# by value (each value of each parameter, the others at their first value), so checking a grid
# of millions takes as long as checking its parameters.
GRID_CHECK_LIMIT = 256
# Beyond this many values a parameter's check takes its ends (int_uniform 1..1000000).
VALUES_CHECK_LIMIT = 64


def _values_to_check(dist: Distribution) -> list[Any]:
    count = dist.grid_count()
    picks = range(count) if count <= VALUES_CHECK_LIMIT else (0, count - 1)
    return [dist.grid_value(i) for i in picks]


def validate_combinations(spec: SweepSpec) -> None:
    """Every grid trial (or, for random/bayes and large grids, each discrete value) builds a
    valid RunConfig that holds every parameter's value."""
    if spec.method == "grid" and spec.grid_size() <= GRID_CHECK_LIMIT:
        for values in grid_points(spec):
            spec.trial_config(values)
        return
    base = representative_values(spec)
    # Continuous parameters: try both ends of their support where finite.
    for key, p in spec.parameters.items():
        if p.dist.kind in DISCRETE or spec.method == "grid":
            for value in _values_to_check(p.dist):
                spec.trial_config({**base, key: value})
        else:
            lo, hi, _ = p.dist.support()
            for end in (lo, hi):
                if math.isfinite(end) and end != 0:
                    spec.trial_config({**base, key: end})
