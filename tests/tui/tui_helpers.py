"""Helpers the TUI tests import. A module of its own with a unique name: every test folder has
a conftest.py, and `from conftest import ...` picks whichever folder's conftest pytest loaded
last (`pytest tests/tui tests/tracking` loaded tests/tracking's)."""

from __future__ import annotations

from textual import events
from textual.keys import _character_to_key


async def wait_for(pilot, condition, timeout: float = 10.0, step: float = 0.05) -> None:
    """Let the app run until condition() holds (workers poll files on their own threads)."""
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(step)
        waited += step


def type_burst(app, *keys: str) -> None:
    """Keys as a terminal hands over a burst of input (tmux send-keys, a fast typist on a loaded
    machine): all queued on the app at once, in order, none waiting for the one before.
    ``pilot.press`` lets the app go idle after each key, so the key after it never meets a
    focus change, a screen or a remount still under way. ``keys``: names ("tab", "f5") or
    single characters."""
    for key in keys:
        if len(key) == 1:
            app.post_message(events.Key(_character_to_key(key), key))
        else:
            app.post_message(events.Key(key, None))
