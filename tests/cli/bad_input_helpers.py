"""Helpers the bad-input tests share. A module of its own with a unique name (see
tests/tui/tui_helpers.py for why not conftest)."""

from __future__ import annotations

import json
from pathlib import Path


def store_entries(runs_dir: Path) -> set[str]:
    """What the run store holds (nothing when it is absent or not a folder)."""
    return {p.name for p in runs_dir.iterdir()} if runs_dir.is_dir() else set()


def assert_clean_refusal(result, runs_dir: Path, fragment: str,
                         before: set[str] | frozenset[str] = frozenset()) -> None:
    """Exit 2, one line 'emotui: error: ...' holding ``fragment``, no traceback, and nothing
    left in the store beyond what it held ``before``."""
    assert result.code == 2, (result.code, result.err)
    assert "Traceback" not in result.err + result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("emotui: error: ")
    assert fragment in lines[0], lines[0]
    leftovers = sorted(store_entries(runs_dir) - set(before))
    assert leftovers == [], leftovers


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
