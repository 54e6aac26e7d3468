"""`emotui serve` in a real browser (headless Chromium, tests/tui/serve_browser.py).

A run trains on the local backend beside finished runs. One browser opens the served TUI, sees
the run in the home table, opens its detail and watches its step count grow; a second browser
opens the run's own address (/run/<part of its id>) in its own session and goes back to the
table while the first stays on the detail. Screenshots are taken (EMOTUI_SCREENSHOTS=DIR keeps
them there: docs/screenshots/serve_*.png are the README's). The run is a stand-in job writing
what a job writes (tests/tui/standin_job.py), or, in the slow suite, the tiny model training.

A second test serves --read-only: the cancel key is refused with a notice and the run goes on,
and a bind beyond loopback without --allow-remote never listens."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from fixture_store import build_fixture_store
from serve_browser import Browser, Served, browser_paths, free_port

from emotui.core.runstore import RunStore, read_json
from emotui.launch.base import cancel_requested

STEP = re.compile(r"step (\d+)/(\d+)")
STAND_IN = Path(__file__).with_name("standin_job.py")


def kept_screenshot(tmp_path: Path, name: str) -> Path:
    """Where a screenshot goes: EMOTUI_SCREENSHOTS=DIR when set (to look at and keep)."""
    folder = os.environ.get("EMOTUI_SCREENSHOTS")
    return (Path(folder) if folder else tmp_path / "screenshots") / name


def finished_runs(runs: Path) -> None:
    """The fixture store's runs that ended (their times frozen in the past): the live run is
    then the only one working, and the newest (first in the table)."""
    build_fixture_store(runs)
    for folder in runs.iterdir():
        status = folder / "status.json"
        if status.is_file() and read_json(status)["state"] in ("running", "queued", "preempted"):
            shutil.rmtree(folder)


@contextmanager
def stand_in_run(runs: Path) -> Iterator[str]:
    """A stand-in job's run (its own process group, stopped as a cancel stops a job)."""
    job = subprocess.Popen([sys.executable, str(STAND_IN), str(runs)], stdout=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        run_id = job.stdout.readline().strip()
        assert run_id, f"the stand-in job did not start (exit {job.wait(timeout=60)})"
        yield run_id
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGTERM)
        job.wait(timeout=60)


@contextmanager
def tiny_model_run(runs: Path, model: Path, data: Path) -> Iterator[str]:
    """A LoRA run of the tiny model on the local backend (detached), long enough to watch."""
    out = subprocess.run([
        sys.executable, "-m", "emotui", "run", "--backend", "local", "--runs-dir", str(runs),
        "--method", "lora", "--model_name_or_path", str(model),
        "--train_file", str(data / "train.jsonl"),
        "--validation_file", str(data / "validation.jsonl"),
        "--test_file", str(data / "test.jsonl"), "--num_train_epochs", "60",
        "--per_device_train_batch_size", "8", "--logging_steps", "1", "--max_seq_length", "32",
        "--learning_rate", "1e-3", "--seed", "3",
    ], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    [paths] = [p for p in RunStore(runs) if read_json(p.status)["state"] in ("queued", "running")]
    try:
        deadline = time.monotonic() + 180
        while read_json(paths.status).get("step") in (None, 0):
            assert time.monotonic() < deadline, f"the run never started: {paths.stderr.read_text()}"
            time.sleep(0.5)
        yield paths.run_id
    finally:
        subprocess.run([sys.executable, "-m", "emotui", "cancel", "--runs-dir", str(runs),
                        paths.run_id], capture_output=True, timeout=120)


@pytest.fixture(params=["stand-in", pytest.param("tiny-model", marks=pytest.mark.slow)])
def live_run(request, tmp_path) -> Iterator[tuple[Path, str]]:
    browser_paths()  # skip (or, in CI, fail) before anything starts when there is no browser
    runs = tmp_path / "runs"
    finished_runs(runs)
    if request.param == "stand-in":
        running = stand_in_run(runs)
    else:
        running = tiny_model_run(runs, request.getfixturevalue("tiny_model_dir"),
                                 request.getfixturevalue("toy_data_dir"))
    with running as run_id:
        yield runs, run_id


def on_detail(run_id: str):
    """The screen is the run's detail (its id in the title line) with its step count."""
    return lambda text: run_id in text.splitlines()[0] and STEP.search(text) is not None


def step_of(text: str) -> int:
    return int(STEP.search(text).group(1))


def test_two_browsers_follow_a_training_run(live_run, tmp_path):
    from selenium.webdriver.common.keys import Keys

    runs, run_id = live_run
    served = Served(runs)
    first = second = None
    try:
        first = Browser(served.url)
        # The table with the run, focused (the footer shows the table's keys).
        home = first.wait_for_text(lambda text: run_id in text and "Compare" in text,
                                   what=f"the home table with {run_id}")
        [row] = [line for line in home.splitlines() if run_id in line]
        # A running run's state cell says what it does now (tui/formatting.state_text).
        assert any(word in row for word in ("running", "starting", "evaluating", "predicting",
                                            "saving")) and "lora" in row
        first.screenshot(kept_screenshot(tmp_path, "serve_home.png"))
        # A second browser on the run's own address: its own session, on the run's detail.
        second = Browser(f"{served.url}/run/{run_id[-4:]}")
        second.wait_for_text(on_detail(run_id), what="the run's detail at /run/<id>")

        first.press(Keys.ENTER)  # the first opens the run's detail from the table
        detail = first.wait_for_text(on_detail(run_id), what="the detail's step count")
        first.wait_for_text(lambda text: STEP.search(text) and step_of(text) > step_of(detail),
                            timeout=90, what=f"a step count beyond {step_of(detail)}")
        first.wait_for_text("eval accuracy", what="the detail's plots")
        first.screenshot(kept_screenshot(tmp_path, "serve_detail.png"))

        second.press(Keys.ESCAPE)  # the second goes back to the table ...
        second.wait_for_text(lambda text: run_id not in text.splitlines()[0]
                             and run_id in text, what="the table in the second session")
        assert on_detail(run_id)(first.screen_text())  # ... while the first stays on the run
        first.press("2")  # the Logs tab: the training log's last lines, live
        first.wait_for_text(lambda text: len(STEP.findall(text)) > 5 and "loss" in text,
                            what="the training log's step lines")
        first.screenshot(kept_screenshot(tmp_path, "serve_logs.png"))
    except BaseException:
        print(served.output())
        raise
    finally:
        for browser in (first, second):
            if browser is not None:
                browser.close()
        served.stop()
    assert "(2 open)" in served.output()  # two sessions were open at once


def test_read_only_refuses_a_cancel_and_a_remote_bind_needs_the_flag(tmp_path):
    browser_paths()
    runs = tmp_path / "runs"
    finished_runs(runs)
    with stand_in_run(runs) as run_id:
        paths = RunStore(runs).paths(run_id)
        served = Served(runs, "--read-only")
        browser = None
        try:
            browser = Browser(served.url)
            browser.wait_for_text(run_id, what="the running run")
            assert "(read-only)" in browser.driver.title
            browser.press("x")  # the cursor is on the running run, the newest
            browser.wait_for_text("Read-only session", timeout=20, what="the read-only notice")
            browser.screenshot(kept_screenshot(tmp_path, "serve_read_only.png"))
            browser.press("n")  # the launch form does not open either: a second notice
            browser.wait_for_text(lambda text: text.count("Read-only session") >= 2,
                                  timeout=20, what="a second read-only notice")
            assert "emotui" in browser.screen_text().splitlines()[0]  # still the runs screen
            step = read_json(paths.status)["step"]
            deadline = time.monotonic() + 30
            while read_json(paths.status)["step"] <= step:  # the run goes on
                assert time.monotonic() < deadline, "the run stopped"
                time.sleep(0.5)
        except BaseException:
            print(served.output())
            raise
        finally:
            if browser is not None:
                browser.close()
            served.stop()
        status = read_json(paths.status)
        assert status["state"] == "running" and not cancel_requested(paths)

    port = free_port()
    out = subprocess.run([sys.executable, "-m", "emotui", "serve", "--runs-dir", str(runs),
                          "--host", "0.0.0.0", "--port", str(port)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--allow-remote" in out.stderr
    with socket.socket() as sock:  # nothing listened: the port is still free
        sock.bind(("0.0.0.0", port))
