"""The first minute on a CPU: how long a new user waits, measured on any checkout.

    uv run python tests/benchmarks/bench_first_minute.py                  # this checkout
    uv run python tests/benchmarks/bench_first_minute.py --repo ../before # another one (its .venv)
    uv run python tests/benchmarks/bench_first_minute.py --only run,predict --json out.json
    uv run python tests/benchmarks/bench_first_minute.py --only imports,predict  # one short run

Each figure runs the checkout's own ``emotui`` (``REPO/.venv/bin/python -m emotui``) in a fresh
process, as a user types it, with a fresh run store, on local files (no network):

1. ``imports``: the start-up imports of a run, from ``python -X importtime`` of the same
   ``emotui run`` (LoRA, 5 steps; its evaluation and test on 200 texts each, since only its
   imports are timed): seconds per top-level package (self time of its modules).
2. ``run``: ``emotui run`` of MiniLM LoRA for 5 steps (logging every step) on the emotion data
   (../shared), inline, with an empty user cache (cold: the texts are tokenised) and again with
   the cache it left (warm): submit -> first training metric (the first "train" line of
   metrics.jsonl), the evaluation and the test (the time between their metric lines), and the
   whole command.
3. ``predict``: ``emotui predict RUN "one sentence"`` on a run of 2. (or of 1., or, alone, of
   a 5-step run made for it): the whole command; and with ``--file -``, the first answer and
   each further answer of a pipe (the model kept warm).
4. ``eval``: samples/s of one evaluation of the validation split (2,000 texts) by the loop's
   own batching at several evaluation batch sizes, in this process (this checkout's code).
5. ``demo``: ``emotui demo`` until its driver says done and every run it started has ended.

Prints a table with the machine's load average beside each figure (targets are for an idle
2-core machine: submit -> first metric <= 10 s, predict <= 6 s, demo <= 90 s) and writes them to
a JSON file as it goes. Not collected by pytest (bench_*.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
SHARED = next((p for p in (HERE.parent / "shared", HERE / "shared") if p.is_dir()),
              HERE.parent / "shared")
EMOTION = SHARED / "data" / "emotion"
MINILM = SHARED / "models" / "all-MiniLM-L6-v2"
TARGETS = {"first_metric_s": 10.0, "predict_s": 6.0, "demo_s": 90.0}
PARTS = ("imports", "run", "predict", "eval", "demo")


def load() -> float:
    return round(os.getloadavg()[0], 2)


class Bench:
    def __init__(self, repo: Path, out: Path | None):
        self.repo = repo
        self.python = str(repo / ".venv" / "bin" / "python")
        self.out = out
        self.rows: list[tuple[str, float | None, float, str]] = []
        self.figures: dict[str, object] = {"repo": str(repo), "commit": self._commit()}
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-first-minute-"))

    def _commit(self) -> str:
        return subprocess.run(["git", "-C", str(self.repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()

    def env(self, cache: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("EMOTUI_", "WANDB_", "TRACKIO_"))}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                   WANDB_MODE="disabled", EMOTUI_CACHE_DIR=str(cache),
                   EMOTUI_STATE_DIR=str(self.tmp / "state"),
                   EMOTUI_CONFIG=str(self.tmp / "no-user-config.yaml"))
        return env

    def emotui(self, *args: str) -> list[str]:
        return [self.python, "-m", "emotui", *args]

    def record(self, name: str, seconds: float | None, note: str = "") -> None:
        self.rows.append((name, None if seconds is None else round(seconds, 2), load(), note))
        self.figures.setdefault("rows", []).append(  # type: ignore[union-attr]
            {"figure": name, "seconds": self.rows[-1][1], "load": self.rows[-1][2],
             "note": note})
        if self.out is not None:
            self.out.write_text(json.dumps(self.figures, indent=2))
        shown = "-" if seconds is None else f"{seconds:.2f}"
        print(f"{name:44s} {shown:>8s} s   load {self.rows[-1][2]:.2f}  {note}", flush=True)

    # -- 2. emotui run ------------------------------------------------------------------------

    def run_args(self, runs: Path, extra: tuple[str, ...] = ()) -> list[str]:
        # --quiet: no live display (stdout is not read); the run's metrics file is.
        return ["run", "--method", "lora", "--model_name_or_path", str(MINILM),
                "--data_dir", str(EMOTION), "--max_steps", "5", "--logging_steps", "1",
                "--learning_rate", "1e-3", "--runs-dir", str(runs), "--quiet", *extra]

    def timed_run(self, label: str, cache: Path, importtime: bool = False,
                  small: bool = False) -> tuple[Path, str]:
        """(the run store, the run id) of one `emotui run`; ``small``: evaluation and test on
        200 texts each (only its start-up or its checkpoint is wanted)."""
        runs = self.tmp / f"runs-{label}"
        extra = ("--max_eval_samples", "200", "--max_predict_samples", "200") if small else ()
        command = self.emotui(*self.run_args(runs, extra))
        if importtime:
            command = [self.python, "-X", "importtime", *command[1:]]
        # stderr to a file: -X importtime writes thousands of lines, which would fill a pipe
        # nobody reads while the loop below polls (and stall the run).
        log = self.tmp / f"stderr-{label}.txt"
        started = time.time()
        with open(log, "w") as err:
            proc = subprocess.Popen(command, cwd=self.repo, env=self.env(cache),
                                    stdout=subprocess.DEVNULL, stderr=err, text=True)
            first_metric = None
            while proc.poll() is None:
                if first_metric is None:
                    first_metric = _first_event_time(runs, "train")
                time.sleep(0.05)
        stderr = log.read_text(errors="replace")
        wall = time.time() - started
        if proc.returncode != 0:
            raise SystemExit(f"emotui run failed ({proc.returncode}):\n{stderr[-3000:]}")
        run_dir = next(p for p in runs.iterdir() if (p / "status.json").exists())
        events = _events(run_dir)
        first = first_metric or _first_event_time(runs, "train")
        if importtime:
            self.import_breakdown(stderr)
        if importtime or small:
            return runs, run_dir.name
        self.record(f"run {label}: submit -> first metric", first - started if first else None,
                    "LoRA MiniLM, 5 steps")
        train_end = max(e["time"] for e in events if e["split"] == "train")
        evals = [e["time"] for e in events if e["split"] == "eval"]
        tests = [e["time"] for e in events if e["split"] == "test"]
        if evals:
            self.record(f"run {label}: evaluation (2,000 texts)", evals[0] - train_end)
        if evals and tests:
            self.record(f"run {label}: test (2,000 texts)", tests[0] - evals[-1])
        self.record(f"run {label}: whole command", wall)
        return runs, run_dir.name

    def import_breakdown(self, stderr: str) -> None:
        """Self time per top-level package, from -X importtime's lines."""
        per_package: dict[str, float] = defaultdict(float)
        for line in stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)", line)
            if match:
                per_package[match.group(3).split(".")[0]] += int(match.group(1)) / 1e6
        top = sorted(per_package.items(), key=lambda kv: -kv[1])
        self.figures["imports"] = {name: round(s, 3) for name, s in top}
        self.record("imports: all (self times summed)", sum(per_package.values()))
        for name, seconds in top[:10]:
            self.record(f"imports: {name}", seconds)

    # -- 3. emotui predict --------------------------------------------------------------------

    def predict(self, runs: Path, run_id: str, cache: Path) -> None:
        started = time.time()
        proc = subprocess.run(self.emotui("predict", run_id, "i feel wonderful today",
                                          "--runs-dir", str(runs)),
                              cwd=self.repo, env=self.env(cache), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"emotui predict failed:\n{proc.stderr[-2000:]}")
        self.record("predict: one sentence, whole command", time.time() - started)
        started = time.time()
        proc = subprocess.Popen(self.emotui("predict", run_id, "--file", "-", "--runs-dir",
                                            str(runs)),
                                cwd=self.repo, env=self.env(cache), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                bufsize=1)
        times = []
        assert proc.stdin is not None and proc.stdout is not None
        for text in ("i feel wonderful today", "i am so angry", "this scares me",
                     "what a surprise"):
            asked = time.time()
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            if not proc.stdout.readline():
                proc.kill()
                self.record("predict: --file - (a pipe)", None, "no line-by-line answers")
                return
            times.append(time.time() - (started if not times else asked))
        proc.stdin.close()
        proc.wait(timeout=60)
        self.record("predict --file -: first answer", times[0])
        self.record("predict --file -: each further answer", sum(times[1:]) / len(times[1:]))

    # -- 4. evaluation batch sizes --------------------------------------------------------------

    def eval_batches(self) -> None:
        code = EVAL_CODE.format(model=str(MINILM), data=str(EMOTION))
        proc = subprocess.run([self.python, "-c", code], cwd=self.repo,
                              env=self.env(self.tmp / "cache-eval"), capture_output=True,
                              text=True)
        if proc.returncode != 0:
            self.record("eval batch sizes", None, proc.stderr.strip().splitlines()[-1])
            return
        for line in proc.stdout.splitlines():
            size, seconds = line.split()
            self.record(f"eval: 2,000 texts at batch {size}", float(seconds))

    # -- 5. emotui demo -----------------------------------------------------------------------

    def demo(self) -> None:
        runs = self.tmp / "runs-demo"
        started = time.time()
        proc = subprocess.run(self.emotui("demo", "--runs-dir", str(runs)), cwd=self.repo,
                              env=self.env(self.tmp / "cache-demo"), capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise SystemExit(f"emotui demo failed:\n{proc.stderr[-2000:]}")
        self.record("demo: command returned (assets built)", time.time() - started)
        state_file = runs / "demo-assets" / "demo-driver.json"
        deadline = time.time() + 900
        while time.time() < deadline:
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
            if state.get("state") in ("done", "failed", "stopped") and _all_ended(runs):
                break
            time.sleep(0.5)
        states = [json.loads((p / "status.json").read_text()).get("state")
                  for p in runs.iterdir() if (p / "status.json").exists()]
        self.record("demo: all runs finished", time.time() - started,
                    f"{len(states)} runs: {', '.join(sorted(set(map(str, states))))}")


EVAL_CODE = """
import time, torch
from emotui.core.config import build_config
from emotui.train.data import load_splits
from emotui.train.model import build_model
from emotui.train.token_cache import encode_splits
from emotui.train.batches import collate
config, _ = build_config([("bench", {{"method": "lora", "model_name_or_path": "{model}",
                                      "data_dir": "{data}"}})])
data = load_splits(config)
built = build_model(config, data.label_names)
enc = encode_splits(config, built.tokenizer, data.splits)["validation"]
model = built.model.eval()
pad = built.tokenizer.pad_token_id or 0
for size in (8, 16, 32, 64, 128, 256):
    started = time.time()
    with torch.inference_mode():
        for index in enc.eval_batches(size):
            batch = collate(enc, index, pad)
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    print(size, round(time.time() - started, 3), flush=True)
"""


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _first_event_time(runs: Path, split: str) -> float | None:
    if not runs.is_dir():
        return None
    for run_dir in runs.iterdir():
        for event in _events(run_dir):
            if event.get("split") == split:
                return time.time()  # seen now: the line's own time is the job's clock
    return None


def _all_ended(runs: Path) -> bool:
    for status in runs.glob("*/status.json"):
        try:
            if json.loads(status.read_text()).get("state") in ("queued", "running"):
                return False
        except (OSError, json.JSONDecodeError):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=HERE,
                        help="the checkout to measure (its .venv runs emotui; default: this one)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if not (MINILM.is_dir() and EMOTION.is_dir()):
        raise SystemExit(f"needs {MINILM} and {EMOTION} (../shared beside the checkout)")
    bench = Bench(args.repo.resolve(), args.json)
    print(f"checkout {bench.repo} ({bench.figures['commit']}), {os.cpu_count()} CPUs, "
          f"load {load():.2f}; {_uptime()}", flush=True)
    try:
        made: tuple[Path, str] | None = None  # a run to predict with
        cache = bench.tmp / "cache-run"
        if "run" in parts:
            bench.timed_run("cold", cache)
            made = bench.timed_run("warm", cache)
        if "imports" in parts:
            imported = bench.timed_run("imports", cache, importtime=True, small=True)
            made = made or imported
        if "predict" in parts:
            made = made or bench.timed_run("for-predict", cache, small=True)
            bench.predict(*made, cache)
        if "eval" in parts:
            bench.eval_batches()
        if "demo" in parts:
            bench.demo()
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
        print(f"done; {_uptime()}", flush=True)


def _uptime() -> str:
    """The machine's load as `uptime` says it (1, 5 and 15 minutes): the figures' context."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


if __name__ == "__main__":
    main()
