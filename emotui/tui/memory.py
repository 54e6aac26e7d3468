"""What the TUI remembers between sessions: the theme and the launch form's last values.

One small JSON file in the user's state folder (``$EMOTUI_STATE_DIR``, ``$XDG_STATE_HOME/emotui``
or ``~/.local/state/emotui``: core.userconfig.user_state_dir). Losing it loses nothing that
matters, so a missing, unreadable or broken file reads as empty and a failed write is logged,
never raised.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from emotui.core.runstore import atomic_write_json
from emotui.core.userconfig import user_state_dir

log = logging.getLogger("emotui.tui")
MEMORY_FILE = "tui.json"


def memory_path() -> Path:
    return user_state_dir() / MEMORY_FILE


def recall() -> dict[str, Any]:
    """Everything remembered ({} when nothing is, or the file cannot be read)."""
    try:
        data = json.loads(memory_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(**values: Any) -> None:
    """Merge ``values`` into the remembered ones and write the file."""
    data = recall()
    data.update(values)
    path = memory_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, data)
    except OSError as exc:
        log.warning("could not remember %s in %s: %s", ", ".join(values), path, exc)
