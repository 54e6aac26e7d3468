"""The user's own defaults file, cache folder and state folder (XDG locations, overridable for
tests).

``~/.config/emotui/config.yaml`` (or ``$EMOTUI_CONFIG``) holds sections such as ``slurm:``
(launch defaults) and ``wandb:`` (entity, project, tags...), and may hold run defaults (flat,
or a method's by group: ``lora: {r: 8}``).
A missing file means no defaults; a broken one is a one-line ConfigError naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emotui.core.config_files import read_yaml_mapping, split_sections
from emotui.core.errors import ConfigError

USER_CONFIG_ENV = "EMOTUI_CONFIG"
CACHE_DIR_ENV = "EMOTUI_CACHE_DIR"
STATE_DIR_ENV = "EMOTUI_STATE_DIR"


def user_config_path() -> Path:
    """$EMOTUI_CONFIG, else ($XDG_CONFIG_HOME or ~/.config)/emotui/config.yaml."""
    explicit = os.environ.get(USER_CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "emotui" / "config.yaml"


def load_user_config() -> dict[str, Any]:
    """The whole user config mapping ({} when the file does not exist)."""
    path = user_config_path()
    if not path.exists():
        return {}
    return read_yaml_mapping(path, "user config")


def user_section(name: str) -> dict[str, Any]:
    """One section (``slurm``, ``wandb``, ...) of the user config, {} when absent."""
    data = load_user_config()
    section = data.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(
            f"user config {user_config_path()}: '{name}:' must be a mapping of settings, "
            f"not {type(section).__name__}"
        )
    return dict(section)


def user_layer(section: str | None = None) -> tuple[str, dict[str, Any]]:
    """The user config as a settings layer (emotui.core.settings.layer_settings) named for
    errors: its ``section:`` mapping, or for None its flat run settings."""
    path = user_config_path()
    if section is None:
        run, _sections = split_sections(load_user_config())
        return str(path), run
    return f"{path} ({section}:)", user_section(section)


def user_cache_dir() -> Path:
    """$EMOTUI_CACHE_DIR, else $XDG_CACHE_HOME/emotui, else ~/.cache/emotui (not created here)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "emotui"


def user_state_dir() -> Path:
    """$EMOTUI_STATE_DIR, else $XDG_STATE_HOME/emotui, else ~/.local/state/emotui: what the TUI
    remembers between sessions (the theme, the launch form's last values). Not created here."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                              "state")
    return Path(base) / "emotui"
