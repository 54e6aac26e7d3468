"""Seeds as an axis of their own: one run per seed, the runs grouped.

`emotui run --seeds 1,2,3` makes one run per seed with every other setting the same; each run's
status.json names the group (``group``), so `emotui ls`/`show` show which runs belong together.
Compare and report aggregate runs that differ only by seed, grouped or not (a sweep's
``seed: values: [...]``): emotui.report.select.group_by_seed owns that rule.
"""

from __future__ import annotations

import dataclasses

from emotui.core.config import RunConfig, check_range, coerce_value
from emotui.core.errors import ConfigError
from emotui.core.runstore import new_run_id

# The status.json field naming a run's seed group.
GROUP_FIELD = "group"
SEEDS_FLAG = "--seeds"


def parse_seeds(text: str | None, source: str = SEEDS_FLAG) -> list[int]:
    """"1,2,3" -> [1, 2, 3]; a one-line ConfigError for anything else (a non-integer, an empty
    entry, a seed given twice)."""
    parts = [part.strip() for part in str(text or "").split(",")]
    if not any(parts):
        raise ConfigError(f"{source} needs a comma-separated list of seeds, e.g. {source} 1,2,3")
    seeds: list[int] = []
    for part in parts:
        if not part:
            raise ConfigError(f"{source} {text}: an empty entry; give e.g. {source} 1,2,3")
        try:
            seed = coerce_value("seed", part, source)
        except ConfigError:
            raise ConfigError(f"{source} {text}: '{part}' is not an integer seed; give e.g. "
                              f"{source} 1,2,3") from None
        check_range("seed", seed, source)
        if seed in seeds:
            raise ConfigError(f"{source} {text}: seed {seed} is given twice; each seed runs once")
        seeds.append(seed)
    return seeds


def new_group_id(method: str) -> str:
    """A fresh group id: sorts by time like run ids, and says what it groups."""
    return f"seeds-{new_run_id(method)}"


def with_seed(config: RunConfig, seed: int) -> RunConfig:
    """The same run config with another seed (nothing else changes)."""
    return dataclasses.replace(config, seed=seed)
