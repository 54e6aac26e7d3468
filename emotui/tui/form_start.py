"""What the launch form starts with: the defaults, the last submitted values, or a run's config.

Values are kept as the form's text (core.settings.as_text), and only those that differ from
the field's default, so a remembered or copied form records defaults as defaults, just like a
fresh one. Values of fields a later emotui no longer has, or of a method it does not know, are
dropped rather than refused: starting values are a convenience, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from emotui.core import methods
from emotui.core.config import FIELDS, PATH_FIELDS
from emotui.core.settings import as_text
from emotui.launch.registry import resource_settings
from emotui.tui.memory import recall, remember
from emotui.tui.widgets.config_form import default_text, form_fields

MEMORY_KEY = "launch_form"


@dataclass(frozen=True)
class FormStart:
    """The launch form's starting state; ``origin`` says where it came from, for the title."""

    method: str = methods.DEFAULT_CHOICE
    values: Mapping[str, str] = field(default_factory=dict)  # field -> text, non-defaults only
    advanced: bool = False  # all fields shown: a value of an advanced field needs them
    backend: str | None = None
    # The resources rows' text, by the config section of their kind ({"slurm": {"gpus": "1"}}).
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    sweep_file: str = ""
    origin: str | None = None

    def to_memory(self) -> dict[str, Any]:
        # Each kind of resources under its section's name, as config files hold them.
        return {"method": self.method, "values": dict(self.values), "advanced": self.advanced,
                "backend": self.backend,
                **{section: dict(texts) for section, texts in self.resources.items()},
                "sweep_file": self.sweep_file}


def _texts(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


def _start(method: str, values: Mapping[str, str], **rest: Any) -> FormStart:
    """A FormStart keeping only the method's own fields; all fields shown when one needs it."""
    allowed = form_fields(method, advanced=True)
    common = set(form_fields(method, advanced=False))
    kept = {k: v for k, v in values.items() if k in allowed and v != default_text(k, method)}
    return FormStart(method, kept, advanced=any(k not in common for k in kept), **rest)


def last_submitted() -> FormStart:
    """The values of the form submitted last (defaults when nothing was, or it is unreadable)."""
    data = recall().get(MEMORY_KEY)
    if not isinstance(data, dict) or methods.find(data.get("method")) is None:
        return FormStart()
    start = _start(data["method"], _texts(data.get("values")),
                   backend=data.get("backend") if isinstance(data.get("backend"), str) else None,
                   resources={r.section: _texts(data.get(r.section))
                              for r in resource_settings(tui=True)},
                   sweep_file=str(data.get("sweep_file") or ""),
                   origin="the last submitted form")
    return FormStart(start.method, start.values, start.advanced or bool(data.get("advanced")),
                     start.backend, start.resources, start.sweep_file, start.origin)


def absolute_path_text(text: str, *, must_exist: bool = True) -> str:
    """A path as typed made absolute, as a run's config.yaml keeps it (core.config): the form
    opened later from another folder names the same file. A name that is no local path (a Hub
    model id) stays as typed."""
    import os
    from pathlib import Path

    if not text.strip():
        return text
    path = Path(text.strip()).expanduser()
    if must_exist and not path.exists():
        return text
    return os.path.normpath(os.path.abspath(path))


def remember_submitted(start: FormStart) -> None:
    """Keep what was just submitted for the next time the form opens, its local paths
    absolute (core.config.PATH_FIELDS and the sweep file)."""
    from dataclasses import replace

    values = {key: absolute_path_text(text, must_exist=key != "cache_dir")
              if key in PATH_FIELDS else text for key, text in start.values.items()}
    start = replace(start, values=values, sweep_file=absolute_path_text(start.sweep_file))
    remember(**{MEMORY_KEY: start.to_memory()})


def from_run(run_id: str, config: Mapping[str, Any], backend: str | None) -> FormStart:
    """A new run like ``run_id``: its method and every setting of it the form has."""
    method = methods.method_of(dict(config)) or methods.DEFAULT_CHOICE
    if methods.find(method) is None:
        method = methods.DEFAULT_CHOICE
    values = {name: as_text(config[name]) for name in FIELDS if name in config}
    return _start(method, values, backend=backend, origin=run_id)
