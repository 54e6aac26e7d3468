"""`emotui demo`: a first look in one command, offline, on a laptop CPU.

Builds a tiny model and a tiny labelled dataset in <runs>/demo-assets (once; emotui.train.
demo_assets), then starts a detached process (emotui.cli.demo_driver) that runs the four study
methods and a small LoRA sweep on the local backend, a couple at a time, and returns: `emotui`
then shows live rows, plots and logs within a minute. `--open` opens the TUI right away;
`--stop` stops the demo and cancels its runs still going.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from emotui.cli.demo_driver import (
    LOG_FILE,
    METHOD_RUNS,
    STATE_FILE,
    assets_root,
    cancel_demo_runs,
    demo_runs,
    driver_alive,
    read_state,
)
from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore, atomic_write_json
from emotui.core.status import read_status
from emotui.launch.base import process_identity

DESCRIPTION = """\
Try emotui offline in one command: builds a tiny model and a labelled six-class dataset in
<runs>/demo-assets (once, seconds on a laptop CPU), then starts, in the background, the four
study methods and a 3-trial LoRA sweep on the local backend, a couple at a time. `emotui` then
shows them live: rows, loss and accuracy plots, logs, and a comparison once two have finished.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "demo", parents=[common], help="try emotui: a tiny model, a few live runs and a sweep",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--open", action="store_true", help="open the terminal UI right away")
    parser.add_argument("--stop", action="store_true",
                        help="stop the demo and cancel its runs still going")
    parser.add_argument("--parallel", type=int, default=2, metavar="N",
                        help=f"runs at once (default: 2; {len(METHOD_RUNS)} methods, then a "
                        "3-trial sweep)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    if args.stop:
        return stop(store)
    if args.parallel < 1:
        raise ConfigError(f"--parallel must be >= 1, got {args.parallel}")
    state = read_state(store)
    if driver_alive(state):
        print(f"the demo is already running (pid {state.get('pid')}); watch it with 'emotui', "
              "stop it with 'emotui demo --stop'")
    else:
        build_assets(store)
        start_driver(store, args.parallel)
        print_next_steps(store, args.parallel)
    if args.open:
        sys.stdout.flush()
        # A fresh process for the TUI: this one may hold torch from building the assets.
        os.execv(sys.executable, [sys.executable, "-m", "emotui", "--runs-dir", str(store.root)])
    return 0


def build_assets(store) -> None:
    # lazy: keeps `emotui --help` fast (6 ms)
    from emotui.train.demo_assets import DemoAssets, build_demo_assets

    root = assets_root(store)
    if DemoAssets(root).ready:
        return
    print(f"building a tiny model and dataset in {root} (once, a few seconds)...", flush=True)
    started = time.monotonic()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    build_demo_assets(root)
    print(f"built in {time.monotonic() - started:.0f}s", flush=True)


def start_driver(store, parallel: int) -> int:
    """The detached process that launches the demo's runs; returns its pid."""
    root = assets_root(store)
    command = [sys.executable, "-m", "emotui.cli.demo_driver", "--runs-dir", str(store.root),
               "--parallel", str(parallel)]
    with open(root / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    # The driver writes its own state when it starts; this covers the moment before.
    atomic_write_json(root / STATE_FILE, {"state": "running", "started": time.time(),
                                          "runs": [], **process_identity(proc.pid)})
    return proc.pid


def print_next_steps(store, parallel: int) -> None:
    at_once = "one at a time" if parallel == 1 else f"{parallel} at a time"
    print(f"demo started: {len(METHOD_RUNS)} runs (full fine-tuning, LoRA, prompt tuning with "
          f"text\nand random init), {at_once}, then a 3-trial LoRA sweep; a few minutes in all.\n"
          "  watch:  emotui              live rows, plots, logs; c compares\n"
          "          emotui ls           emotui logs RUN -f\n"
          "  stop:   emotui demo --stop\n"
          f"  files:  {assets_root(store)}")


def stop(store) -> int:
    state = read_state(store)
    if not state:
        print("no demo in this run store; start one with 'emotui demo'")
        return 0
    if driver_alive(state):
        print("stopping the demo: its runs save a checkpoint and stop (up to 20 s)...",
              flush=True)
        os.kill(int(state["pid"]), signal.SIGTERM)  # it cancels its runs still going, then exits
        deadline = time.monotonic() + 30
        while driver_alive(read_state(store)) and time.monotonic() < deadline:
            time.sleep(0.2)
    cancel_demo_runs(store, read_state(store))  # whatever it left (or a driver that had died)
    print("demo stopped; its runs:")
    for paths in demo_runs(store, read_state(store)):
        print(f"  {paths.run_id}  {read_status(paths).get('state')}")
    return 0
