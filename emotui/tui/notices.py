"""Telling the user that a run ended: which rows of a poll are endings, and what to say.

The home screen compares each polled row with the one it showed before, so a run started by
another process (the CLI, a sweep, another TUI) is noticed too; a run that had already ended
when the TUI opened is not news. Rows of a remote source (W&B) arrive from a cache minutes late
and are left out.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from emotui.core.lifecycle import FINISHED, RunState, StateSet
from emotui.core.vocabulary import ResultKey
from emotui.tui import formatting as fmt

# A run's job stopped: it finished, or the scheduler took it away (a requeue may bring it back).
ENDINGS = StateSet({*FINISHED, RunState.PREEMPTED})
LOCAL_SOURCES = (None, "local", "local+wandb")
SEVERITY = {"completed": "information", "cancelled": "information",
            ResultKey.COLLAPSED: "warning", "preempted": "warning", "failed": "error"}


def run_endings(before: Mapping[str, Mapping[str, Any]],
                changed: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """(row, outcome) for each changed local row whose run was seen working and has now ended.

    ``before`` holds the rows shown until now; a row not in it (the first scan) is no ending.
    The outcome is the final state, or "collapsed" for a run that completed without learning.
    """
    out = []
    for row in changed:
        previous = before.get(row["run_id"])
        if previous is None or row.get("source") not in LOCAL_SOURCES:
            continue
        if previous.get("status") not in ENDINGS and row.get("status") in ENDINGS:
            out.append((row, fmt.outcome(row) or str(row.get("status"))))
    return out


def ending_notice(row: dict[str, Any], outcome: str) -> tuple[str, str, str]:
    """(title, message, severity) of the notification for a run that ended."""
    what = f"{row['run_id']} ({fmt.method_label(row.get('method'))})"
    if outcome == "completed" and row.get(ResultKey.TEST_ACCURACY) is not None:
        what += f": test accuracy {fmt.percent_sign(row[ResultKey.TEST_ACCURACY])}"
    elif row.get("reason"):
        what += f": {row['reason']}"
    return f"Run {outcome}", what, SEVERITY.get(outcome, "information")
