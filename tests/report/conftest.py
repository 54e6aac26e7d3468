"""Report test fixtures: a run store with seeds, sweeps and a configuration that wins on test
but not on validation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from report_store import build_report_store  # noqa: E402


@pytest.fixture
def report_runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    build_report_store(root)
    return root
