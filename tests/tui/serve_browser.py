"""A real browser on `emotui serve`: Debian's headless Chromium driven by Selenium through
Debian's chromedriver (no browser download), and an `emotui serve` process on a free port.

The page draws the terminal on a canvas (xterm.js), so the test reads what it shows from
xterm's own buffer: the Terminal object lives in textual.js's closure, and DevTools'
``queryObjects`` finds it on the page's heap. Keys go where a user's go: into xterm's input.

Chromium absent is a skip outside CI and a failure in CI, which installs it and sets
EMOTUI_REQUIRE_BROWSER=1 (.ci/run), as tests/slurm does for its cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REQUIRE = os.environ.get("EMOTUI_REQUIRE_BROWSER") == "1"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or a skip (outside CI) / failure (CI) saying what is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "the selenium package (uv sync installs the dev group)"
    else:
        missing = None if chromium and driver else \
            "Chromium and chromedriver (apt-get install chromium chromium-driver)"
    if missing:
        reason = f"browser tests need {missing}"
        if REQUIRE:
            pytest.fail(f"EMOTUI_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return chromium, driver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """`emotui serve` in its own process (its own session: stopped with its app processes)."""

    def __init__(self, runs: Path, *extra: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="emotui-serve-", suffix=".log")[1])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emotui", "serve", "--runs-dir", str(runs), "--port",
             str(self.port), *extra],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"emotui serve did not start: {self.output()}")
                time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class Browser:
    """One headless Chromium window on a URL (its own profile: its own session)."""

    def __init__(self, url: str, *, size: tuple[int, int] = (1400, 900)):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver = browser_paths()
        self.profile = tempfile.mkdtemp(prefix="emotui-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        self.driver.set_page_load_timeout(60)
        self.driver.get(url)

    # --- what the terminal shows --------------------------------------------------------------

    def _find_terminal(self) -> bool:
        cdp = self.driver.execute_cdp_cmd
        proto = cdp("Runtime.evaluate", {"expression": "Object.prototype",
                                         "objectGroup": "emotui-test"})["result"]["objectId"]
        try:
            found = cdp("Runtime.queryObjects", {"prototypeObjectId": proto,
                                                 "objectGroup": "emotui-test"})
            result = cdp("Runtime.callFunctionOn", {
                "objectId": found["objects"]["objectId"], "returnByValue": True,
                "functionDeclaration": """function () {
                    const owner = this.find(o => {
                        try {
                            return o && o.websocket_url !== undefined && o.terminal
                                && o.terminal.buffer;
                        } catch (e) { return false; }
                    });
                    if (owner) { window.__emotuiTerminal = owner.terminal; }
                    return !!owner;
                }"""})
            return bool(result["result"].get("value"))
        finally:
            cdp("Runtime.releaseObjectGroup", {"objectGroup": "emotui-test"})

    def screen_text(self) -> str:
        """The terminal's lines as a user reads them (empty before the app has drawn)."""
        script = """
            const t = window.__emotuiTerminal;
            if (!t) { return null; }
            const b = t.buffer.active, lines = [];
            for (let i = 0; i < t.rows; i++) {
                const line = b.getLine(b.viewportY + i);
                lines.push(line ? line.translateToString(true) : "");
            }
            return lines.join("\\n");
        """
        text = self.driver.execute_script(script)
        if text is None and self._find_terminal():
            text = self.driver.execute_script(script)
        return text or ""

    def wait_for_text(self, wanted, timeout: float = 60.0, what: str = "") -> str:
        """The screen once ``wanted`` (a string, or a predicate on the text) holds."""
        check = wanted if callable(wanted) else (lambda text: wanted in text)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen_text()
            if text and check(text):
                return text
            time.sleep(0.3)
        raise AssertionError(f"the browser never showed {what or wanted!r}; it shows:\n{text}")

    # --- what a user does ---------------------------------------------------------------------

    def press(self, *keys: str) -> None:
        """Keys typed into the terminal (selenium Keys for special ones)."""
        from selenium.webdriver.common.by import By

        box = self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        for key in keys:
            box.send_keys(key)
            time.sleep(0.15)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the page, in 64 colours (a terminal's few colours and their anti-aliasing:
        a third of the size, no visible loss)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        from PIL import Image

        with Image.open(path) as shot:
            small = shot.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT,
                                                 dither=Image.Dither.NONE)
        small.save(path, optimize=True)
        return path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
