"""A study's specification (``StudySpec``): its methods, each with the W&B sweep that searches
it (``MethodSearch``), the selection metric, the confirmation (seeds, settings, the sweep that
confirms a winner), the budget, the report and the export; and its stored form, spec.json
(``to_json``, ``from_json``). The command's files are read into one by ``emotui.study.study_file``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from emotui.core import methods as registry
from emotui.core.errors import ConfigError
from emotui.core.vocabulary import Event, EventField
from emotui.study.budget import Budget
from emotui.sweep.metric import Metric, metric_name
from emotui.sweep.spec import SweepSpec, parse_sweep

SCHEMA_VERSION = 1
REPORT_FORMATS = ("pdf", "html", "md")
# Settings a confirmation run always has: it evaluates and predicts the test split.
CONFIRM_FORCED = {"do_eval": True, "do_predict": True}
DEFAULT_METRIC = {"name": metric_name(Event.EVAL, EventField.ACCURACY), "goal": "maximize"}


@dataclass
class MethodSearch:
    """One method of the study and the sweep that searches it."""

    method: str  # the registry's name
    origin: str  # "defaults", "parameters" (inline) or the sweep file's path
    sweep: dict[str, Any]  # the W&B sweep mapping the search runs
    spec: SweepSpec  # the same, validated
    confirm_settings: dict[str, Any] = field(default_factory=dict)  # its own, over confirm:'s

    @property
    def planned(self) -> int | None:
        return self.spec.planned_total()

    @property
    def label(self) -> str:
        return registry.get(self.method).label


@dataclass
class StudySpec:
    name: str
    source: str  # the file(s) as given, for messages
    methods: dict[str, MethodSearch]
    metric: Metric
    confirm_seeds: list[int] = field(default_factory=list)
    confirm_settings: dict[str, Any] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    report_formats: tuple[str, ...] = REPORT_FORMATS
    report_title: str | None = None
    export: bool = True
    export_merged: bool | None = None
    description: str | None = None

    # -- identity --------------------------------------------------------------------------------

    def to_json(self, include_source: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "methods": {m: {"origin": s.origin, "sweep": s.sweep,
                            "confirm": s.confirm_settings} for m, s in self.methods.items()},
            "select": {"metric": self.metric.name, "goal": self.metric.goal},
            "confirm": {"seeds": list(self.confirm_seeds), "settings": self.confirm_settings},
            "budget": self.budget.to_json(),
            "report": {"formats": list(self.report_formats), "title": self.report_title},
            "export": {"enabled": self.export, "merged": self.export_merged},
        }
        if include_source:
            out.update(source=self.source, description=self.description)
        return out

    def fingerprint(self) -> str:
        text = json.dumps(self.to_json(include_source=False), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def default_id(self) -> str:
        return f"{self.name}-{self.fingerprint()}"

    @property
    def title(self) -> str:
        return self.report_title or f"Study {self.name}"

    # -- the confirmation sweeps -----------------------------------------------------------------

    def confirm_sweep(self, method: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The W&B sweep confirming a winner: its every parameter value pinned (``values``:
        SweepSpec.parameter_values of its trial), confirm's settings over them, then the
        method's own (methods.<name>.confirm), one run per confirm seed, each evaluating and
        predicting the test split."""
        pinned = {**{k: v for k, v in values.items() if k != "seed"},
                  **self.confirm_settings, **self.methods[method].confirm_settings,
                  **CONFIRM_FORCED}
        parameters: dict[str, Any] = {key: {"value": value} for key, value in pinned.items()}
        parameters["seed"] = {"values": list(self.confirm_seeds)}
        return {"method": "grid", "metric": {"name": self.metric.name, "goal": self.metric.goal},
                "parameters": parameters}

    def confirm_changes(self, method: str) -> dict[str, Any]:
        """What the method's confirm runs change against its search (study's, then its own)."""
        return {**self.confirm_settings, **self.methods[method].confirm_settings}

    def parse_confirm(self, method: str, sweep: Mapping[str, Any]) -> SweepSpec:
        return parse_sweep(sweep, source=f"{self.source} confirm ({method})")


def from_json(data: Mapping[str, Any], source: str) -> StudySpec:
    """A stored spec (spec.json), re-validated by the sweep layer."""
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(f"{source} was written by another version of emotui (schema "
                          f"{data.get('schema_version')!r}, this one reads {SCHEMA_VERSION}); "
                          "run the study with that version, or start it again")
    select = data.get("select") or DEFAULT_METRIC
    metric = Metric.parse({"name": select.get("metric"), "goal": select.get("goal")}, source)
    searches = {}
    for method, entry in (data.get("methods") or {}).items():
        sweep = entry["sweep"]
        spec = parse_sweep(sweep, source=f"{data.get('source') or source} methods.{method}")
        searches[method] = MethodSearch(method, entry.get("origin") or "inline", sweep, spec,
                                        dict(entry.get("confirm") or {}))
    confirm = data.get("confirm") or {}
    report = data.get("report") or {}
    export = data.get("export") or {}
    return StudySpec(
        name=data.get("name") or "study", source=data.get("source") or source,
        methods=searches, metric=metric, confirm_seeds=list(confirm.get("seeds") or []),
        confirm_settings=dict(confirm.get("settings") or {}),
        budget=Budget.from_json(data.get("budget")),
        report_formats=tuple(report.get("formats") or ()), report_title=report.get("title"),
        export=bool(export.get("enabled", True)), export_merged=export.get("merged"),
        description=data.get("description"),
    )

