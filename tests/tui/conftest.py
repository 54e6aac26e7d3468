"""TUI test fixtures: the deterministic fixture store and an app factory with a frozen clock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixture_store import FROZEN_NOW, build_fixture_store  # noqa: E402
from tui_helpers import wait_for  # noqa: E402,F401  (tests import it from tui_helpers)

from emotui.tui.app import EmotuiApp  # noqa: E402
from emotui.tui.sources import LocalRunSource  # noqa: E402


@pytest.fixture
def fixture_runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    build_fixture_store(root)
    return root


@pytest.fixture
def make_app(tmp_path):
    """EmotuiApp on a store with time frozen at FROZEN_NOW (unless live=True)."""

    def make(root: Path, *, live: bool = False, poll_interval: float = 0.2) -> EmotuiApp:
        clock = None if live else (lambda: FROZEN_NOW)
        kwargs = {"clock": clock} if clock else {}
        source = LocalRunSource(root, ask_backends_every=None if not live else 10, **kwargs)
        return EmotuiApp(source, export_dir=tmp_path / "exports", poll_interval=poll_interval,
                         store_label="runs", **kwargs)

    return make
