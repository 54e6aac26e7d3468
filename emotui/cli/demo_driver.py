"""The demo's runs, launched a few at a time by a detached process (`emotui demo` starts it).

The plan: the four study methods on the demo's tiny model and data (full fine-tuning and LoRA
first, so a comparison is ready within a minute), then a three-trial LoRA learning-rate sweep,
each run a detached process on the local backend, at most ``--parallel`` at once. The process
lowers its own priority (the runs inherit it), so a small laptop stays responsive while it
works. Its state (pid, runs started, sweep id) is in <assets>/demo-driver.json; SIGTERM (`emotui
demo --stop`) stops it and cancels the demo runs still going.

    python -m emotui.cli.demo_driver --runs-dir RUNS
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from emotui.core.config import build_config
from emotui.core.lifecycle import ACTIVE, FINISHED
from emotui.core.runstore import RunPaths, RunStore, atomic_write_json, read_json
from emotui.core.status import read_status
from emotui.launch import runs
from emotui.launch.base import process_alive, process_identity
from emotui.launch.monitor import refresh_runs
from emotui.launch.runs import cancel

ASSETS_FOLDER = "demo-assets"
STATE_FILE = "demo-driver.json"
LOG_FILE = "demo-driver.log"
SWEEP_FILE = "demo-sweep.yaml"
# What every demo run shares: a few hundred steps on the tiny model, tens of seconds each.
COMMON = {"num_train_epochs": 4, "per_device_train_batch_size": 16, "max_seq_length": 64}
# (method, learning rate): rates the tiny model learns with; full and LoRA first.
METHOD_RUNS = (("full", 1e-3), ("lora", 5e-3), ("prompt-text", 1e-2), ("prompt-random", 3e-2))
SWEEP_YAML = """\
# emotui demo: LoRA's learning rate, three trials (emotui sweep status SWEEP shows them)
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  peft_method: {value: lora}
  learning_rate: {values: [2.0e-3, 5.0e-3, 1.5e-2]}
  num_train_epochs: {value: 3}
  per_device_train_batch_size: {value: 16}
  max_seq_length: {value: 64}
"""
POLL_S = 1.0
NICENESS = 5


def assets_root(store: RunStore) -> Path:
    return store.root / ASSETS_FOLDER


def state_path(store: RunStore) -> Path:
    return assets_root(store) / STATE_FILE


def read_state(store: RunStore) -> dict[str, Any]:
    return read_json(state_path(store)) or {}


def driver_alive(state: dict[str, Any]) -> bool:
    return state.get("state") == "running" and bool(process_alive(state))


def demo_runs(store: RunStore, state: dict[str, Any]) -> list[RunPaths]:
    """The runs the demo started: its method runs and its sweep's trials."""
    ids = set(state.get("runs") or [])
    sweep_id = state.get("sweep_id")
    found = []
    for paths in store:
        if paths.run_id in ids or (sweep_id and read_status(paths).get("sweep_id") == sweep_id):
            found.append(paths)
    return found


def data_settings(store: RunStore) -> dict[str, str]:
    # lazy: keeps `emotui --help` fast (6 ms)
    from emotui.train.demo_assets import DemoAssets

    assets = DemoAssets(assets_root(store))
    return {"model_name_or_path": str(assets.model_dir), "data_dir": str(assets.data_dir)}


def method_configs(store: RunStore) -> list[Any]:
    configs = []
    for method, learning_rate in METHOD_RUNS:
        values = {**data_settings(store), **COMMON, "method": method,
                  "learning_rate": learning_rate}
        config, _ = build_config([("emotui demo", values)])
        configs.append(config)
    return configs


class Driver:
    def __init__(self, store: RunStore, parallel: int):
        self.store = store
        self.parallel = max(1, parallel)
        self.state: dict[str, Any] = {}

    def save(self, **fields: Any) -> None:
        self.state.update(fields)
        atomic_write_json(state_path(self.store), self.state)

    def echo(self, line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    def active(self, runs: list[RunPaths]) -> list[RunPaths]:
        states = refresh_runs(runs)
        return [p for p in runs if states.get(p.run_id, {}).get("state") not in FINISHED]

    def run_methods(self) -> None:
        launched: list[RunPaths] = []
        for config in method_configs(self.store):
            while len(self.active(launched)) >= self.parallel:
                time.sleep(POLL_S)
            with stop_deferred():
                paths, _status = runs.start(self.store, config, backend="local")
            launched.append(paths)
            self.save(runs=[p.run_id for p in launched])
            self.echo(f"started {paths.run_id} ({config.method})")
        while self.active(launched):
            time.sleep(POLL_S)

    def run_sweep(self) -> None:
        # lazy: keeps `emotui --help` fast (32 ms)
        from emotui.sweep.launching import make_launcher
        from emotui.sweep.runner import open_sweep, run_sweep, save_sweep

        file = assets_root(self.store) / SWEEP_FILE
        file.write_text(SWEEP_YAML, encoding="utf-8")
        overrides = [f"{k}={v}" for k, v in data_settings(self.store).items()]
        name = "demo-lora-" + time.strftime("%y%m%d-%H%M%S")
        spec, paths, _ = open_sweep(file, overrides, self.store, name=name)
        save_sweep(spec, paths, file, overrides)
        self.save(sweep_id=paths.sweep_id)
        launcher = make_launcher("local", max_parallel=self.parallel)
        run_sweep(spec, paths, self.store, launcher, max_parallel=self.parallel, echo=self.echo)

    def run(self) -> int:
        self.save(state="running", started=time.time(), parallel=self.parallel, runs=[],
                  sweep_id=None, **process_identity(os.getpid()))
        try:
            self.run_methods()
            self.run_sweep()
        except KeyboardInterrupt:
            self.echo("stopping: cancelling the demo runs still going")
            cancel_demo_runs(self.store, self.state)
            self.save(state="stopped", ended=time.time())
            return 130
        except Exception:
            self.save(state="failed", ended=time.time())
            raise
        self.save(state="done", ended=time.time())
        self.echo("demo finished")
        return 0


def cancel_demo_runs(store: RunStore, state: dict[str, Any]) -> list[tuple[str, str]]:
    going = [p for p in demo_runs(store, state) if read_status(p).get("state") in ACTIVE]
    return cancel(going) if going else []


@contextmanager
def stop_deferred() -> Iterator[None]:
    """A stop (SIGTERM) that arrives while a run is being started waits until it is: a run is
    never half-made (started, but its status not written)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emotui.cli.demo_driver")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args(argv)
    # Tiny models train fastest on one thread, and the machine stays usable.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.nice(NICENESS)  # inherited by the runs it starts
    signal.signal(signal.SIGTERM, _stop)
    return Driver(RunStore(args.runs_dir), args.parallel).run()


if __name__ == "__main__":
    sys.exit(main())
