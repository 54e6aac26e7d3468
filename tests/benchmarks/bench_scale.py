"""Scale benchmark (prints figures; not a test): large run stores, large metrics files, many
classes. Run: uv run python tests/benchmarks/bench_scale.py [--quick]

1. stores of 1k, 10k and 100k finished runs (--quick: 1k): `emotui ls` piped and
   `emotui compare --format csv`, first call (empty user cache) and second call, wall time and
   peak RSS; the TUI's first rows, all rows and RSS with every row loaded, with the run index
   in the user cache (warm) and without it (cold);
2. runs with a 20 MB and a 200 MB metrics.jsonl (--quick: 20 MB): the TUI's detail screen in a
   terminal of its own (a pty, tests/benchmarks/pty_app.py), the time until its plots hold the
   whole run and the key-to-screen latency (tab switches) while it is open; `emotui report`
   of the run, wall time and peak RSS;
3. a run with 1,000 classes: the detail screen's Results tab and `emotui report`.

Without options: the whole table (1k/10k/100k runs, 20/200 MB; long, and 1.6 GB of /tmp for
the 100k store's 300,000 files). --sizes and --metrics-mb choose other sizes (--sizes 1000,10000),
--only picks parts. The code measured is the one on PYTHONPATH (default: this checkout);
--code DIR measures another checkout on the same generated stores, which are kept in --work
(default /tmp/emotui-bench-scale) and reused: the code before a change, e.g.

    git archive HEAD | tar -x -C /tmp/emotui-before
    uv run python tests/benchmarks/bench_scale.py --code /tmp/emotui-before --label before

Each command runs in its own process; the load average is printed beside every figure (this
machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

sys.path.insert(0, str(Path(__file__).parent))
from pty_app import PtyApp  # noqa: E402
from scale_stores import load, make_metrics_run, make_store  # noqa: E402


# --- running the code under test ---------------------------------------------------------------

class Env:
    def __init__(self, code: Path, work: Path, label: str):
        self.code = code
        self.label = label
        self.cache_root = work / f"cache-{label}"

    def env(self, cache: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.code)
        # Byte-code where Python keeps it (the checkout's and the venv's __pycache__): a prefix
        # of its own would compile every library again at each first import (tens of seconds,
        # counted as the command's).
        env.pop("PYTHONPYCACHEPREFIX", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["EMOTUI_CACHE_DIR"] = str(self.cache_root / cache)
        env["EMOTUI_STATE_DIR"] = str(self.cache_root / "state")
        env["TERM"] = "xterm-256color"
        return env

    def fresh_cache(self, cache: str) -> None:
        shutil.rmtree(self.cache_root / cache, ignore_errors=True)


def timed(cmd: list[str], env: dict[str, str], timeout: float, out: Path | None = None,
          memory_cap_gb: float | None = None) -> tuple[float | None, float | None, str]:
    """(wall s, peak RSS MB, note) of one command in its own process; None past ``timeout``."""
    def limit() -> None:
        if memory_cap_gb:
            cap = int(memory_cap_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    t = time.perf_counter()
    # stderr to a file, not a pipe: a command that writes much there would block on a full pipe.
    with open(out or os.devnull, "wb") as stdout, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env, cwd="/tmp",
                                preexec_fn=limit)
        deadline = t + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                return None, usage.ru_maxrss / 1024, f"killed after {timeout:.0f} s"
            time.sleep(0.01)
        wall = time.perf_counter() - t
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    note = "" if code == 0 else f"exit {code}: {(err.strip().splitlines() or [''])[-1]}"
    return wall, usage.ru_maxrss / 1024, note


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


FIRST_ROWS = textwrap.dedent("""
    import time; t0 = time.perf_counter()
    import asyncio, json, sys
    import psutil
    from emotui.tui.app import EmotuiApp
    from emotui.tui.sources import LocalRunSource
    from emotui.tui.widgets.run_table import RunTable
    out = {"import_s": time.perf_counter() - t0}
    show = RunTable.show

    def timed_show(self, rows):
        if rows and "first_rows_s" not in out:
            out["first_rows_s"] = time.perf_counter() - t0
        return show(self, rows)

    RunTable.show = timed_show

    async def main():
        app = EmotuiApp(LocalRunSource(sys.argv[1], ask_backends_every=None))
        async with app.run_test(size=(160, 50)) as pilot:
            while not (app.screen.query(RunTable) and app.screen.query_one(RunTable).row_count):
                await asyncio.sleep(0.005)
            while app.screen.scanning:
                await asyncio.sleep(0.02)
            await pilot.pause()
            out["all_rows_s"] = time.perf_counter() - t0
            out["rows"] = app.screen.query_one(RunTable).row_count
            out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
            t = time.perf_counter()
            await pilot.press("s")
            await pilot.pause()
            out["sort_s"] = time.perf_counter() - t
    asyncio.run(main())
    print(json.dumps(out))
""")

DETAIL = textwrap.dedent("""
    import time
    import asyncio, json, sys
    import psutil
    from emotui.tui.app import EmotuiApp
    from emotui.tui.sources import LocalRunSource
    from emotui.tui.screens.detail import RunDetailScreen
    from emotui.tui.widgets.run_table import RunTable
    out = {}
    last_step = int(sys.argv[2])

    async def main():
        app = EmotuiApp(LocalRunSource(sys.argv[1], ask_backends_every=None))
        async with app.run_test(size=(160, 50)) as pilot:
            while not (app.screen.query(RunTable) and app.screen.query_one(RunTable).row_count):
                await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            await pilot.press("enter")
            while not isinstance(app.screen, RunDetailScreen):
                await asyncio.sleep(0.001)
            screen = app.screen
            while True:
                loss = screen.series.loss
                if loss and loss[-1][0] >= last_step and "plots_s" not in out:
                    out["plots_s"] = time.perf_counter() - t0
                if screen._results_shown and "results_s" not in out:
                    out["results_s"] = time.perf_counter() - t0
                if "plots_s" in out and "results_s" in out:
                    break
                await asyncio.sleep(0.01)
            out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
    asyncio.run(main())
    print(json.dumps(out))
""")


def in_process(script: str, args: list[str], env: dict[str, str], timeout: float,
               memory_cap_gb: float | None = None) -> tuple[dict, float | None, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(script)
    out = Path(fh.name).with_suffix(".out")
    wall, peak, note = timed([PYTHON, fh.name, *args], env, timeout, out, memory_cap_gb)
    try:
        result = json.loads(out.read_text().strip().splitlines()[-1]) if wall is not None else {}
    except (IndexError, ValueError):
        result, note = {}, note or "no result"
    return result, peak, note


# --- key-to-screen latency on the detail screen ------------------------------------------------

def detail_latency(env: Env, store: Path, rid: str, keys: int, timeout: float) -> dict:
    """Open the run's detail screen in a terminal of its own (pty_app.PtyApp), then, from its
    first plot on, switch tabs ``keys`` times: each time from the key written to the terminal
    to the other tab's text written by the app."""
    command = [PYTHON, "-m", "emotui", "--runs-dir", str(store)]
    app = PtyApp(command, env.env("pty"))
    out: dict = {}

    def plotted(seen: bytes) -> bool:
        at = seen.rfind(b"training loss")
        return at >= 0 and b"no data yet" not in seen[at:at + 40]

    try:
        if app.wait(rid, 0, 60) is None:
            return {"note": "run not listed"}
        time.sleep(0.5)
        mark = app.mark()
        sent = app.send(b"\r")
        shown = app.wait_for(plotted, mark, timeout)
        out["first_plot_s"] = shown - sent if shown is not None else None
        if shown is None:
            out["note"] = f"no plot in {timeout:.0f} s"
        latencies = []
        on_logs = False
        for _ in range(keys):
            key, target = (b"1", "training loss") if on_logs else (b"2", "search the log")
            mark = app.mark()
            sent = app.send(key)
            at = app.wait(target, mark, timeout)
            latencies.append(at - sent if at is not None else float("inf"))
            on_logs = not on_logs
            if at is None:
                break
            time.sleep(0.05 + random.random() * 0.1)
        finite = sorted(latencies)
        out["keys"] = len(latencies)
        out["median_ms"] = 1000 * statistics.median(finite)
        out["p95_ms"] = 1000 * finite[max(0, int(round(0.95 * len(finite))) - 1)]
        out["max_ms"] = 1000 * finite[-1]
    finally:
        app.close()
    return out


# --- the benchmark -----------------------------------------------------------------------------

def bench_stores(env: Env, work: Path, sizes: list[int], timeout: float) -> None:
    emotui = [PYTHON, "-m", "emotui"]
    print(f"\n## {env.label}: run stores (code: {env.code})")
    print("| runs | command | 1st call | 2nd call | peak RSS (2nd) | load |")
    print("|---:|---|---:|---:|---:|---|")
    for n in sizes:
        store = work / f"store-{n}"
        make_store(store, n)
        for name, args in (("ls", ["ls"]), ("compare --format csv",
                                            ["compare", "--format", "csv"])):
            cache = f"store-{n}-{args[0]}"
            env.fresh_cache(cache)
            cmd = [*emotui, "--runs-dir", str(store), *args]
            first, _, note1 = timed(cmd, env.env(cache), timeout, work / "out.txt")
            second, peak, note2 = timed(cmd, env.env(cache), timeout, work / "out.txt")
            notes = "; ".join(x for x in (note1, note2) if x)
            print(f"| {n} | `{name}` | {fmt_s(first)} | {fmt_s(second)} | "
                  f"{peak:.0f} MB | {load()}{' ' + notes if notes else ''} |", flush=True)
        # Warm: the index `ls` wrote (the TUI and the CLI share it); cold: none yet.
        env.fresh_cache(f"store-{n}-tui")
        for what, cache in (("warm", f"store-{n}-ls"), ("cold", f"store-{n}-tui")):
            result, peak, note = in_process(FIRST_ROWS, [str(store)], env.env(cache), timeout)
            if result:
                print(f"| {n} | TUI (run index {what}) | first rows "
                      f"{result['first_rows_s']:.2f} s | all rows {result['all_rows_s']:.2f} s "
                      f"| RSS {result['rss_mb']:.0f} MB (peak {peak:.0f} MB) | {load()}; "
                      f"sort {result['sort_s']:.2f} s; imports {result['import_s']:.2f} s |",
                      flush=True)
            else:
                print(f"| {n} | TUI (run index {what}) | - | - | peak {peak:.0f} MB | "
                      f"{load()} {note} |", flush=True)


def bench_metrics(env: Env, work: Path, sizes: list[int], timeout: float,
                  keys: int) -> None:
    print(f"\n## {env.label}: a run's metrics.jsonl (code: {env.code})")
    print("| metrics.jsonl | what | figure | peak RSS | load |")
    print("|---:|---|---|---:|---|")
    # What a tab switch costs with a small file (Textual's own work on this machine now): the
    # figures below less these are what the file's size adds.
    store = work / "metrics-1"
    rid = make_metrics_run(store, 1)
    _print_latency("1 MB (baseline)", detail_latency(env, store, rid, keys, 60))
    for mb in sizes:
        store = work / f"metrics-{mb}"
        rid = make_metrics_run(store, mb)
        last_step = _last_train_step(store / rid / "metrics.jsonl")
        result, peak, note = in_process(DETAIL, [str(store), str(last_step)],
                                        env.env("metrics"), timeout, memory_cap_gb=6)
        plots = fmt_s(result.get("plots_s")) if result else f"none ({note})"
        print(f"| {mb} MB | TUI detail: plots hold the whole run | {plots} | "
              f"{peak:.0f} MB | {load()} |", flush=True)
        _print_latency(f"{mb} MB", detail_latency(env, store, rid, keys,
                                                  timeout=min(timeout, 60)))
        cmd = [PYTHON, "-m", "emotui", "--runs-dir", str(store), "report", rid, "--format",
               "html", "--out", str(work / f"report-{mb}.html")]
        wall, peak, note = timed(cmd, env.env("metrics"), timeout, memory_cap_gb=6)
        print(f"| {mb} MB | `emotui report` | {fmt_s(wall)} {note} | {peak:.0f} MB "
              f"({peak / mb:.1f}x the file) | {load()} |", flush=True)


def _print_latency(what: str, lat: dict) -> None:
    if "p95_ms" in lat:
        print(f"| {what} | TUI detail in a terminal: key-to-screen (tab switches, "
              f"{lat['keys']} keys from the first plot on) | median {lat['median_ms']:.0f} ms, p95 "
              f"{lat['p95_ms']:.0f} ms, max {lat['max_ms']:.0f} ms; first plot "
              f"{fmt_s(lat.get('first_plot_s'))} | | {load()} |", flush=True)
    else:
        print(f"| {what} | TUI detail in a terminal | {lat} | | {load()} |", flush=True)


def bench_classes(env: Env, work: Path, timeout: float) -> None:
    print(f"\n## {env.label}: 1,000 classes (code: {env.code})")
    print("| what | figure | peak RSS | load |")
    print("|---|---|---:|---|")
    store = work / "classes-1000"
    rid = make_metrics_run(store, 1, n_labels=1000)
    last_step = _last_train_step(store / rid / "metrics.jsonl")
    result, peak, note = in_process(DETAIL, [str(store), str(last_step)], env.env("classes"),
                                    timeout, memory_cap_gb=6)
    shown = fmt_s(result.get("results_s")) if result else f"none ({note})"
    print(f"| TUI detail: Results tab laid out | {shown} | {peak:.0f} MB | {load()} |",
          flush=True)
    cmd = [PYTHON, "-m", "emotui", "--runs-dir", str(store), "report", rid, "--format", "html",
           "--out", str(work / "report-classes.html")]
    wall, peak, note = timed(cmd, env.env("classes"), timeout, memory_cap_gb=6)
    print(f"| `emotui report` | {fmt_s(wall)} {note} | {peak:.0f} MB | {load()} |", flush=True)


def _last_train_step(path: Path) -> int:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4096))
        lines = fh.read().splitlines()[1:]
    steps = [json.loads(line)["step"] for line in lines if b'"train"' in line]
    return steps[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the smallest sizes only: 1k runs, 20 MB, fewer keys")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout to measure")
    parser.add_argument("--label", default=None, help="name of this measurement (before/after)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/emotui-bench-scale"))
    parser.add_argument("--sizes", default=None, help="store sizes, e.g. 1000,10000,100000")
    parser.add_argument("--metrics-mb", default=None, help="metrics file sizes, e.g. 20,200")
    parser.add_argument("--only", choices=("stores", "metrics", "classes"), action="append")
    parser.add_argument("--timeout", type=float, default=600.0, help="per command")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else
                                             "1000,10000,100000")).split(",")]
    mbs = [int(s) for s in (args.metrics_mb or ("20" if args.quick else "20,200")).split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    env = Env(args.code.resolve(), args.work, args.label or args.code.name)
    print(f"machine: {os.cpu_count()} cores, {load()} at start; code {env.code}")
    # Byte-code compiled once (and the files in the page cache), so no measurement pays for
    # it: every module the commands load, each on its own (an older checkout lacks some).
    warm = ("emotui.cli.main", "emotui.cli.runs_cmd", "emotui.cli.compare_cmd",
            "emotui.launch.monitor", "emotui.tui.app", "emotui.tui.screens.detail",
            "emotui.report.document", "emotui.report.figures", "matplotlib.pyplot", "numpy")
    subprocess.run([PYTHON, "-c", "import importlib\nfor name in %r:\n    try:\n"
                    "        importlib.import_module(name)\n    except Exception:\n"
                    "        pass" % (warm,)],
                   env=env.env("warmup"), cwd="/tmp", capture_output=True)
    only = set(args.only or ("stores", "metrics", "classes"))
    if "stores" in only:
        bench_stores(env, args.work, sizes, args.timeout)
    if "metrics" in only:
        bench_metrics(env, args.work, mbs, args.timeout, 10 if args.quick else 40)
    if "classes" in only:
        bench_classes(env, args.work, min(args.timeout, 300))


if __name__ == "__main__":
    main()
