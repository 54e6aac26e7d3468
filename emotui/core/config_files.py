"""YAML files of settings: one read as a mapping (a one-line ConfigError otherwise), and the
sections of a ``--config`` file or the user config.

Such a file holds run settings, flat (``lora_r: 8``, the flags' names) or by method group
(``lora: {r: 8}``, ``lora.r: 8``), beside the sections of other layers (``slurm:``, ``wandb:``,
``trackio:``, ``backend:``). The run settings are layered by ``emotui.core.config.build_config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from emotui.core.errors import ConfigError
from emotui.core.trackers import TRACKERS
from emotui.core.yaml_load import check_text_size, load_yaml

# Sections of a --config file that belong to other layers (launch, each tracker: wandb:,
# trackio:), not to RunConfig.
SECTIONS = ("slurm", *(spec.name for spec in TRACKERS), "backend")


def read_yaml_mapping(path: Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file whose top level is a mapping, or a one-line ConfigError (also for one
    too large once its aliases are expanded: core.yaml_load)."""
    import yaml

    path = Path(path).expanduser()
    try:
        if path.is_file():
            check_text_size(path.stat().st_size, f"{what} {path}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        data = load_yaml(text, f"{what} {path}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of settings, not {type(data).__name__}")
    return data


def split_sections(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, {section: mapping}) from a --config file's top level."""
    run, sections = {}, {}
    for key, value in data.items():
        if key in SECTIONS:
            sections[key] = value
        else:
            run[key] = value
    return run, sections
