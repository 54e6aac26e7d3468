"""End to end in a real terminal: tmux runs `emotui --runs-dir X`, keys are sent, the pane read."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fixture_store import build_fixture_store

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Pane:
    """One detached tmux session on a private socket (never the user's tmux server)."""

    def __init__(self, command: str, width: int = 120, height: int = 30):
        self.socket = f"emotui-test-{uuid.uuid4().hex[:8]}"
        self.session = "emotui"
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                   command)

    def _tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True,
                              timeout=30)

    def text(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session).stdout

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.session, *keys)
        # Pace keys like a person: a key that moves focus is handled before the next arrives.
        time.sleep(0.5)

    def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never appeared; the pane shows:\n{self.text()}")

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", self.session).returncode == 0

    def close(self) -> None:
        self._tmux("kill-server")


def test_emotui_in_tmux(tmp_path):
    runs = tmp_path / "runs"
    build_fixture_store(runs)
    emotui = Path(sys.executable).with_name("emotui")
    program = str(emotui) if emotui.exists() else f"{sys.executable} -m emotui"
    # remain-on-exit keeps the pane readable after emotui quits, to check how it ended.
    pane = Pane(f"env TERM=xterm-256color {program} --runs-dir {runs}; "
                "echo EMOTUI-EXIT=$?; sleep 30")
    try:
        pane.wait_for("251120-091500-full-ab2c")
        screen = pane.wait_for("10 shown")  # the whole store is loaded
        assert "completed" in screen and "running" in screen and "10 runs" in screen
        time.sleep(1.0)
        pane.send("/")
        time.sleep(1.0)  # focus moves to the filter box before the text arrives
        pane.send("-l", "memory")
        pane.wait_for("memory")
        pane.send("Enter")
        screen = pane.wait_for("1 shown")
        assert "251121-101500-full-jk6m" in screen and "251120-091500-full-ab2c" not in screen
        pane.send("Escape")
        pane.wait_for("10 shown")
        pane.send("w")
        pane.wait_for("sweep-lora-k3x9")
        screen = pane.wait_for("✗ collapsed")
        assert "251122-083000-lora-st3b" in screen
        pane.send("Escape")
        pane.wait_for("10 shown")
        pane.send("q")
        pane.wait_for("EMOTUI-EXIT=0")
    finally:
        pane.close()
