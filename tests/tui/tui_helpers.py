"""Helpers the TUI tests import. A module of its own with a unique name: every test folder has
a conftest.py, and `from conftest import ...` picks whichever folder's conftest pytest loaded
last (`pytest tests/tui tests/tracking` loaded tests/tracking's)."""

from __future__ import annotations


async def wait_for(pilot, condition, timeout: float = 10.0, step: float = 0.05) -> None:
    """Let the app run until condition() holds (workers poll files on their own threads)."""
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(step)
        waited += step
