"""End to end in a real terminal: tmux runs `emotui --runs-dir X`, keys are sent, the pane read."""

from __future__ import annotations

import re
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


def _run_cells(screen: str, run_id: str) -> tuple[str, str] | None:
    """(progress, ETA) as the run's home row shows them, e.g. ("45%", "1m02s"), read under
    their headers (the columns' order depends on the terminal's width)."""
    lines = screen.splitlines()
    header = next((line for line in lines if " ETA " in f"{line} " and " state " in line), None)
    row = next((line for line in lines if run_id in line), None)
    if header is None or row is None:
        return None
    starts = sorted(m.start() for m in re.finditer(r"(?<=\s)\S", " " + header))
    starts = [s - 1 for s in starts]

    def cell(name: str) -> str:
        begin = header.index(name)
        end = next((s for s in starts if s > begin), len(row))
        return row[begin:end].strip()

    # A narrow terminal puts progress after the reason, where it may be cut off.
    progress = re.search(r"\d+%", cell("progress")) if " progress " in header else None
    return (progress.group(0) if progress else "-", cell("ETA") or "-")


@pytest.mark.slow
def test_a_local_run_moves_live_and_its_end_is_notified(tmp_path, tiny_model_dir, toy_data_dir):
    """A detached run started by the CLI (another process than the TUI): its progress and ETA
    move at least three times within 20 s on the home screen, and its end is notified."""
    runs = tmp_path / "runs"
    runs.mkdir()
    emotui = Path(sys.executable).with_name("emotui")
    program = str(emotui) if emotui.exists() else f"{sys.executable} -m emotui"
    pane = Pane(f"env TERM=xterm-256color {program} --runs-dir {runs}; "
                "echo EMOTUI-EXIT=$?; sleep 30", width=160, height=45)
    try:
        pane.wait_for("No runs yet: n starts a new run")  # an empty store's hint
        # 1500 steps of the tiny model: about a minute on two busy cores, long enough to watch
        # it for 20 s (slow: the TUI, the run and the model load share the machine).
        launched = subprocess.run(
            [*program.split(), "run", "--backend", "local", "--runs-dir", str(runs),
             "--model_name_or_path", str(tiny_model_dir),
             "--train_file", str(toy_data_dir / "train.jsonl"),
             "--validation_file", str(toy_data_dir / "validation.jsonl"),
             "--test_file", str(toy_data_dir / "test.jsonl"),
             "--method", "lora", "--learning_rate", "3e-3", "--num_train_epochs", "20",
             "--per_device_train_batch_size", "4", "--max_seq_length", "64",
             "--report-to", "none"],
            capture_output=True, text=True, timeout=120)
        assert launched.returncode == 0, launched.stderr
        (run_id,) = [p.name for p in runs.iterdir() if p.is_dir() and p.name != "sweeps"]
        pane.wait_for(run_id)
        # Training has begun once the row shows an ETA (the job measured its speed).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            cells = _run_cells(pane.text(), run_id)
            if cells and cells[1] not in ("-", ""):
                break
            time.sleep(0.3)
        seen: list[tuple[str, str]] = []
        # On a loaded machine the run may end while it is watched: its notice (shown for 10 s)
        # is looked for from here on, not only after the watch.
        ended_screen = None
        watch_until = time.monotonic() + 20
        while time.monotonic() < watch_until:
            text = pane.text()
            if "Run completed" in text and ended_screen is None:
                ended_screen = text
            cells = _run_cells(text, run_id)
            if cells and (not seen or seen[-1] != cells):
                seen.append(cells)
            time.sleep(0.25)
        progress_values = list(dict.fromkeys(p for p, _ in seen))
        eta_values = list(dict.fromkeys(e for _, e in seen))
        if progress_values != ["-"]:  # the progress column is on screen
            assert len(progress_values) >= 4, (seen, pane.text())  # changed at least 3 times
        assert len(eta_values) >= 4, (seen, pane.text())
        screen = ended_screen or pane.wait_for("Run completed", timeout=240)
        assert run_id in screen
        pane.send("q")
        pane.wait_for("EMOTUI-EXIT=0")
    finally:
        pane.close()
