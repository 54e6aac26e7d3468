"""W&B tests run against files and a local stand-in server only; nothing leaves 127.0.0.1.

Every test gets its own HOME, caches and a clean W&B environment, so wandb cannot find a real
key in ~/.netrc, write into the user's folders, or reach the service. Helpers shared by the test
modules live in tracking_helpers.py (a unique module name: several test folders have a conftest).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tracking_helpers import closed_port_url, isolate_wandb


@pytest.fixture(autouse=True)
def wandb_sandbox(monkeypatch, tmp_path) -> Path:
    """Private HOME/XDG folders, W&B offline by default, no W&B variables from outside."""
    home = isolate_wandb(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / ".local" / "share" / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(name="closed_port_url")
def closed_port_url_fixture() -> str:
    return closed_port_url()
