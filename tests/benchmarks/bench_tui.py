"""TUI benchmark (prints figures; not a test). Run: uv run python tests/benchmarks/bench_tui.py

1. first frame on a synthetic store of 10,000 runs (goal < 1 s), in-process and in a real
   terminal (tmux), and the time until all 10,000 rows are loaded;
2. resident memory with those 10,000 rows loaded (goal < 150 MB);
3. responsiveness with 20 runs streaming 10 metric lines/s each: key-to-visible-repaint latency
   in a real terminal (tmux) and the TUI process's CPU share, on the home and the detail screen;
4. `emotui --help` wall time.

The machine's load average is printed too: figures on a shared machine include contention.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
EMOTUI = Path(PYTHON).with_name("emotui")
TMUX = shutil.which("tmux")
# Byte-code cache: an installed package has .pyc files; an environment with
# PYTHONDONTWRITEBYTECODE=1 recompiles textual on every start (~0.7 s of CPU). Measurements
# use a private cache (warmed first) unless --cold is given; both are reported by default.
PYCACHE = Path(tempfile.gettempdir()) / "emotui-bench-pycache"


def bench_env(cold: bool) -> dict[str, str]:
    env = dict(os.environ)
    if cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
        return env
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def env_prefix(cold: bool) -> str:
    if cold:
        return "env PYTHONDONTWRITEBYTECODE=1"
    return f"env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX={PYCACHE}"


# --- synthetic stores --------------------------------------------------------------------------

def make_big_store(root: Path, n: int) -> str:
    """n runs (mostly finished, a few running/queued): config.yaml, status.json,
    results.json; no metrics are needed for the table (it never reads them)."""
    from emotui.core.config import build_config, dump_config

    configs = {m: dump_config(build_config([("bench", {"method": m})])[0])
               for m in ("full", "lora", "prompt-text", "prompt-random")}
    tags = {"full": "full", "lora": "lora", "prompt-text": "ptext", "prompt-random": "prand"}
    methods = list(configs)
    base = time.time() - n * 60
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        method = methods[i % 4]
        stamp = time.strftime("%y%m%d-%H%M%S", time.localtime(base + i * 60))
        rid = f"{stamp}-{tags[method]}-{i:04x}"[-30:]
        run = root / rid
        run.mkdir()
        (run / "config.yaml").write_text(configs[method])
        # A big store is mostly history: 2% running, 1% queued, the rest finished.
        state = "running" if i % 50 == 7 else "queued" if i % 100 == 3 else \
            ("completed", "completed", "completed", "failed", "cancelled")[i % 5]
        status = {"state": state, "backend": "local", "job_id": None,
                  "created": base + i * 60, "started": base + i * 60 + 5,
                  "ended": base + i * 60 + 300 if state in ("completed", "failed") else None,
                  "progress": 1.0 if state == "completed" else 0.4, "epoch": 2.0,
                  "reason": "CUDA out of memory" if state == "failed" else None}
        (run / "status.json").write_text(json.dumps(status))
        if state == "completed":
            (run / "results.json").write_text(json.dumps(
                {"eval_accuracy": 0.9 + (i % 50) / 1000, "test_accuracy": 0.9 + (i % 40) / 1000,
                 "trainable_params": 890118, "checkpoint_bytes": 3_500_000}))
    return max(p.name for p in root.iterdir())


def make_streaming_store(root: Path, n: int) -> list[Path]:
    from emotui.core.config import build_config, dump_config

    config = dump_config(build_config([("bench", {"method": "lora"})])[0])
    runs = []
    for i in range(n):
        run = root / f"260101-0000{i:02d}-lora-s{i:03d}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(config)
        (run / "status.json").write_text(json.dumps(
            {"state": "running", "backend": "local", "started": time.time(), "progress": 0.0,
             "epoch": 0.0}))
        runs.append(run)
    return runs


def stream(runs: list[str], lines_per_s: float, stop_after: float) -> None:
    """What 20 training jobs write: metric lines, a status update a second, a log line."""
    from emotui.core.events import MetricsWriter
    from emotui.core.runstore import RunPaths
    from emotui.core.status import write_status

    writers = [MetricsWriter(Path(r) / "metrics.jsonl") for r in runs]
    logs = [open(Path(r) / "stdout.log", "a") for r in runs]
    step, start = 0, time.monotonic()
    while time.monotonic() - start < stop_after:
        tick = time.monotonic()
        step += 1
        for writer in writers:
            writer.write("train", step, epoch=step / 500, loss=2.0 / (1 + step / 100),
                         learning_rate=1e-3, samples_per_second=2000.0)
        if step % int(lines_per_s) == 0:
            for r, log in zip(runs, logs):
                write_status(RunPaths(Path(r)), progress=min(1.0, step / 5000), epoch=step / 500)
                log.write(f"step {step} loss {2.0 / (1 + step / 100):.4f}\n")
                log.flush()
        time.sleep(max(0.0, 1 / lines_per_s - (time.monotonic() - tick)))


# --- measurements ------------------------------------------------------------------------------

FIRST_FRAME = textwrap.dedent("""
    import time; t0 = time.perf_counter()
    import asyncio, json, os, sys
    from emotui.tui.app import EmotuiApp
    from emotui.tui.sources import LocalRunSource
    from emotui.tui.widgets.run_table import RunTable
    t_import = time.perf_counter() - t0
    out = {"import_s": t_import}
    show = RunTable.show

    def timed_show(self, rows):
        # The moment the first rows enter the table (they are painted on the next refresh).
        if rows and "first_frame_s" not in out:
            out["first_frame_s"] = time.perf_counter() - t0
            out["first_frame_cpu_s"] = time.process_time()
            out["first_rows"] = len(rows)
        return show(self, rows)

    RunTable.show = timed_show

    async def main():
        app = EmotuiApp(LocalRunSource(sys.argv[1]))
        async with app.run_test(size=(120, 40)) as pilot:
            while not (app.screen.query(RunTable) and app.screen.query_one(RunTable).row_count):
                await asyncio.sleep(0.002)
            await pilot.pause()
            while app.screen.scanning:
                await asyncio.sleep(0.01)
            await pilot.pause()
            out["all_rows_s"] = time.perf_counter() - t0
            out["all_rows_cpu_s"] = time.process_time()
            out["rows"] = app.screen.query_one(RunTable).row_count
            import psutil
            out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
            t = time.perf_counter()
            await pilot.press("s")  # sort 10,000 rows by another column
            out["sort_s"] = time.perf_counter() - t
    asyncio.run(main())
    print(json.dumps(out))
""")


class Tmux:
    def __init__(self, command: str, width: int = 120, height: int = 40):
        self.socket = f"emotui-bench-{uuid.uuid4().hex[:8]}"
        self.t0 = time.perf_counter()
        self.run("new-session", "-d", "-s", "b", "-x", str(width), "-y", str(height), command)

    def run(self, *args: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True,
                              text=True).stdout

    def text(self) -> str:
        return self.run("capture-pane", "-p", "-t", "b")

    def wait(self, needle: str, timeout: float = 60) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if needle in self.text():
                return time.perf_counter()
            time.sleep(0.005)
        raise RuntimeError(f"{needle!r} not shown in {timeout} s:\n{self.text()}")

    def pid(self) -> int:
        shell = psutil.Process(int(self.run("display", "-p", "-t", "b", "#{pane_pid}").strip()))
        procs = [shell, *shell.children(recursive=True)]
        return next(p.pid for p in procs if "python" in p.name() or "emotui" in p.name())

    def close(self) -> None:
        self.run("kill-server")


def emotui_command(runs: Path, cold: bool = False) -> str:
    program = str(EMOTUI) if EMOTUI.exists() else f"{PYTHON} -m emotui"
    return f"{env_prefix(cold)} TERM=xterm-256color {program} --runs-dir {runs}"


def key_latencies(pane: Tmux, count: int) -> list[float]:
    """Type into the filter box; time from send-keys to the character being on screen."""
    pane.run("send-keys", "-t", "b", "/")
    time.sleep(0.5)
    out = []
    typed = ""
    for i in range(count):
        char = "z" if i % 2 == 0 else "BSpace"
        t = time.perf_counter()
        pane.run("send-keys", "-t", "b", char)
        typed = typed + "z" if char == "z" else typed[:-1]
        target = "/ filter" if not typed else None
        while True:
            line = pane.text().splitlines()[1] if pane.text() else ""
            if (target and target in line) or (typed and line.strip().startswith(typed)
                                               and "/ filter" not in line):
                break
            time.sleep(0.001)
        out.append(time.perf_counter() - t)
        time.sleep(0.1)
    pane.run("send-keys", "-t", "b", "Escape")
    time.sleep(0.5)
    return out


def cpu_share(pid: int, seconds: float) -> float:
    proc = psutil.Process(pid)
    before = sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    return (sum(proc.cpu_times()[:2]) - before) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="metric lines/s per run")
    parser.add_argument("--seconds", type=float, default=15.0, help="CPU sampling window")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emotui-bench-"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          f"(figures include other processes' contention)")
    try:
        # 4. --help (warm the byte-code cache first)
        help_cmd = [str(EMOTUI)] if EMOTUI.exists() else [PYTHON, "-m", "emotui"]
        subprocess.run([*help_cmd, "--help"], capture_output=True, env=bench_env(False))
        subprocess.run([PYTHON, "-c", "import emotui.tui.app, emotui.tui.screens.runs, "
                        "emotui.tui.screens.detail, emotui.tui.screens.launch"],
                       env=bench_env(False), cwd=REPO)
        for cold in (False, True):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                subprocess.run([*help_cmd, "--help"], capture_output=True, check=True,
                               env=bench_env(cold))
                times.append(time.perf_counter() - t)
            print(f"emotui --help ({'no byte-code cache' if cold else 'byte-code cached'}): "
                  f"median {statistics.median(times) * 1000:.0f} ms "
                  f"(min {min(times) * 1000:.0f} ms, 5 runs)")

        # 1-2. 10,000 runs
        big = work / "big"
        t = time.perf_counter()
        newest = make_big_store(big, args.runs)
        print(f"synthetic store: {args.runs} runs written in {time.perf_counter() - t:.1f} s")
        for cold in (False, True):
            result = json.loads(subprocess.run(
                [PYTHON, "-c", FIRST_FRAME, str(big)], capture_output=True, text=True,
                check=True, cwd=REPO, env=bench_env(cold)).stdout.strip().splitlines()[-1])
            print(f"in-process, headless ({'no byte-code cache' if cold else 'byte-code cached'}"
                  f"): imports {result['import_s'] * 1000:.0f} ms, first frame with "
                  f"{result['first_rows']} rows {result['first_frame_s'] * 1000:.0f} ms wall / "
                  f"{result['first_frame_cpu_s'] * 1000:.0f} ms CPU, all {result['rows']} rows "
                  f"{result['all_rows_s']:.2f} s wall / {result['all_rows_cpu_s']:.2f} s CPU "
                  f"(rows stream in behind the first frame), RSS with all rows "
                  f"{result['rss_mb']:.0f} MB, sort 10,000 rows {result['sort_s'] * 1000:.0f} ms")
        if TMUX:
            pane = Tmux(emotui_command(big))
            try:
                shown = pane.wait(newest)  # the top row of the table
                cpu = sum(psutil.Process(pane.pid()).cpu_times()[:2])
                print(f"real terminal (tmux): process start to first frame with rows "
                      f"{(shown - pane.t0) * 1000:.0f} ms wall / {cpu * 1000:.0f} ms CPU "
                      f"(CPU sampled just after the frame: an upper bound)")
                pane.wait(f"{args.runs} runs · {args.runs} shown", timeout=120)
                rss = psutil.Process(pane.pid()).memory_info().rss / 2**20
                print(f"real terminal (tmux): RSS with {args.runs} rows loaded {rss:.0f} MB")
            finally:
                pane.close()

        # 3. responsiveness while 20 runs stream
        if not TMUX:
            print("tmux not found: responsiveness skipped")
            return
        live = work / "live"
        runs = make_streaming_store(live, args.streams)
        writer = multiprocessing.Process(target=stream, args=([str(r) for r in runs], args.rate,
                                                              args.seconds * 3 + 60))
        writer.start()
        pane = Tmux(emotui_command(live))
        try:
            pane.wait(f"{args.streams} runs")
            time.sleep(2)
            pid = pane.pid()
            share = cpu_share(pid, args.seconds)
            lat = key_latencies(pane, 20)
            print(f"{args.streams} runs x {args.rate:g} lines/s, home screen: TUI CPU "
                  f"{share * 100:.1f}% of one core; key-to-screen latency median "
                  f"{statistics.median(lat) * 1000:.0f} ms, p95 "
                  f"{sorted(lat)[int(0.95 * len(lat)) - 1] * 1000:.0f} ms, max "
                  f"{max(lat) * 1000:.0f} ms (20 keys)")
            pane.run("send-keys", "-t", "b", "Enter")  # detail of the run under the cursor
            pane.wait("training loss")
            time.sleep(2)
            share = cpu_share(pid, args.seconds)
            t = time.perf_counter()
            pane.run("send-keys", "-t", "b", "2")
            pane.wait("stdout", timeout=10)
            tab = time.perf_counter() - t
            print(f"detail screen (live plots + log of one streaming run): TUI CPU "
                  f"{share * 100:.1f}% of one core; tab switch to logs visible in "
                  f"{tab * 1000:.0f} ms")
        finally:
            pane.close()
            writer.terminate()
            writer.join()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
