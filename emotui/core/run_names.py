"""Run ids as a legend or a narrow column names them.

A local run id is ``yymmdd-hhmmss-<tag>-<4 chars>``: the time makes it unique in the store but
says little beside its neighbours (runs compared together mostly start the same day), while the
tag and the random tail are what a person reads and types (`emotui show 8wkg`). Cutting an id to
its last N characters broke the tag (``text-8wkg`` for ``ptext-8wkg``); a name here is always a
whole part of the id.
"""

from __future__ import annotations

import re
from typing import Iterable

_LOCAL_ID = re.compile(r"^\d{6}-\d{6}-(?P<short>[a-z0-9]+-[a-z0-9]+)$")


def short_run_name(run_id: str) -> str:
    """``ptext-8wkg`` for ``251202-101600-ptext-8wkg``; any other id (W&B's, a custom one) whole."""
    match = _LOCAL_ID.match(run_id)
    return match.group("short") if match else run_id


def legend_names(run_ids: Iterable[str]) -> dict[str, str]:
    """{run id: the name a legend shows}: the short name, or the whole id for runs whose short
    names would read the same (two runs of one method whose tails collide)."""
    ids = list(dict.fromkeys(run_ids))
    short = {run_id: short_run_name(run_id) for run_id in ids}
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    return {run_id: name if counts[name] == 1 else run_id for run_id, name in short.items()}
