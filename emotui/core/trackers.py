"""The experiment trackers a run can report to: the one list of them.

Pure data, so the run settings (``report_to``'s choices), the CLI's flags and help and the TUI
name trackers without importing one. Each entry names the module of ``emotui.tracking`` that
implements it (a ``TRACKER``: ``emotui.tracking.trackers.Tracker``); that module is imported only
when a run reports to it or a command reads from it. A third tracker is one module there and one
line here.
"""

from __future__ import annotations

from dataclasses import dataclass

from emotui.core.errors import ConfigError


@dataclass(frozen=True)
class TrackerSpec:
    """One tracker: its ``report_to`` value, its name for people, where it is implemented."""

    name: str
    label: str
    help: str
    module: str  # emotui.tracking.<module> defines TRACKER
    project_metavar: str = "PROJECT"  # how `--<name> PROJECT` (compare, report, the TUI) names one


TRACKERS: tuple[TrackerSpec, ...] = (
    TrackerSpec("wandb", "W&B", "Weights & Biases (online, or offline with 'emotui sync')",
                "emotui.tracking.wandb_tracker", project_metavar="ENTITY/PROJECT"),
    TrackerSpec("trackio", "trackio", "Hugging Face trackio: a local SQLite database (offline)",
                "emotui.tracking.trackio_tracker"),
)

NONE, ALL = "none", "all"
REPORT_TO_CHOICES = (NONE, *(spec.name for spec in TRACKERS), ALL)
REPORT_TO_HELP = ("Where to log metrics and config: none, " + ", ".join(
    spec.name for spec in TRACKERS) + " or all of them.")


def tracker_spec(name: str) -> TrackerSpec:
    for spec in TRACKERS:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in TRACKERS)
    raise ConfigError(f"unknown tracker '{name}'; known: {known}")


def reported_to(report_to: str | None) -> list[TrackerSpec]:
    """The trackers a ``report_to`` value names (``all``: every one; ``none``: none)."""
    value = str(report_to or NONE).strip().lower()
    if value == ALL:
        return list(TRACKERS)
    return [spec for spec in TRACKERS if spec.name == value]
