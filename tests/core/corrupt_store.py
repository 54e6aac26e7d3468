"""A run store in which every file of a run is broken in every way a reader may meet.

``build_corrupt_store(root)`` writes a few good runs (written with emotui.core's own helpers)
and, for each file of a run directory × each kind of damage (wrong shape, wrong types, empty, a
directory in its place, binary), one run that is good except for that file. Readers (`emotui
ls`, `ls --json`, `compare`, `show`, the TUI) must list every good run and show each broken one,
as ``unreadable`` with the file named where the listing reads that file.

(tests/ is on sys.path because tests/conftest.py lives there: ``from core.corrupt_store import
...``.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emotui.core.config import build_config
from emotui.core.lifecycle import create_run, mark_completed, mark_running
from emotui.core.results import empty_results
from emotui.core.runstore import RunPaths, RunStore, atomic_write_json

# The files of a run directory (core.runstore.RunPaths), as they are named on disk.
FILES = ("status.json", "results.json", "config.yaml", "metrics.jsonl", "exit.json",
         "heartbeat", "stdout.log", "stderr.log", "checkpoints")
KINDS = ("wrong_shape", "wrong_types", "empty", "directory", "binary")
# Files every listing reads: damage to them makes a run unreadable (with the file named).
LISTED_FILES = ("status.json", "results.json", "config.yaml")

BINARY = bytes(range(256)) * 4 + b"\xff\xfe\x00garbage\x00"
# What each file holds when it has the wrong shape (valid syntax, not what emotui writes).
WRONG_SHAPE = {
    "status.json": '["running", 0.5]\n',
    "results.json": "[0.91, 0.88]\n",
    "config.yaml": "- learning_rate\n- 0.001\n",
    "metrics.jsonl": '[1, 2, 3]\n"a string"\n42\nnull\n',
    "exit.json": '"completed"\n',
    "heartbeat": '{"not": "a timestamp"}\n',
    "stdout.log": "x" * (2 * 1024 * 1024),  # one 2 MB line without a newline
    "stderr.log": "y" * (2 * 1024 * 1024),
}
# Fields of the right names holding the wrong types; status.json has one case per field the
# adversarial pass used (state: 5, progress: "abc", started: {}) and one with everything.
WRONG_TYPES: dict[str, dict[str, object]] = {
    "status.json/state": {"state": 5},
    "status.json/progress": {"progress": "abc"},
    "status.json/started": {"started": {}},
    "status.json/all": {"state": ["completed"], "reason": {"why": 1}, "backend": 7,
                        "created": "yesterday", "started": {}, "ended": [], "epoch": "two",
                        "progress": "abc", "pid": "x", "starts": "many", "eta_s": "soon",
                        "position_time": {}, "elapsed_s": [1], "job_id": 1.5},
    "results.json": {"test_accuracy": "high", "eval_accuracy": [0.9], "per_class": "none",
                     "confusion_matrix": 3, "trainable_params": "many", "total_params": 1.5,
                     "train_runtime_s": {}, "collapsed": "maybe", "label_names": 5,
                     "best_epoch": "first", "checkpoint_bytes": "big"},
    "results.json/per_class": {"per_class": {"joy": "good", "anger": {"f1": "high"}}},
    "config.yaml": {"learning_rate": "fast", "method": 5, "num_train_epochs": [1],
                    "seed": {}, "model_name_or_path": ["a", "b"], "lora_r": "eight",
                    "per_device_train_batch_size": "large"},
    "metrics.jsonl": {"split": 5, "step": "x", "epoch": {}, "loss": "low", "accuracy": [],
                      "time": "now"},
    "exit.json": {"exit_code": "x", "outcome": 5, "time": []},
}


@dataclass(frozen=True)
class Damage:
    """One broken file of one run: which file, how, and the run that holds it."""

    file: str
    kind: str
    variant: str  # "" or the WRONG_TYPES key's part after the file ("state", "all")
    run_id: str

    @property
    def name(self) -> str:
        return "-".join(p for p in (self.file, self.kind, self.variant) if p)

    @property
    def makes_unreadable(self) -> bool:
        """Whether a listing shows the run as unreadable (it reads this file for every row)."""
        return self.file in LISTED_FILES


@dataclass
class CorruptStore:
    root: Path
    good: list[str]
    damaged: list[Damage]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def damages() -> list[tuple[str, str, str]]:
    """Every (file, kind, variant) the store holds a run for."""
    out: list[tuple[str, str, str]] = []
    for file in FILES:
        for kind in KINDS:
            if kind == "wrong_types":
                variants = [k.partition("/")[2] for k in WRONG_TYPES
                            if k.partition("/")[0] == file]
                if not variants and file == "checkpoints":
                    variants = [""]  # checkpoints/last as a file instead of a folder
                out += [(file, kind, v) for v in variants]
            elif kind == "wrong_shape" and file == "checkpoints":
                out.append((file, kind, ""))  # checkpoints as a file
            elif kind == "directory" and file == "checkpoints":
                continue  # it is one
            else:
                out.append((file, kind, ""))
    return out


def write_good_run(store: RunStore, run_id: str, *, method: str = "lora",
                   learning_rate: float = 1e-3, accuracy: float = 0.9) -> RunPaths:
    """A completed run as emotui writes one: every file of FILES present and well formed."""
    config, _ = build_config([("fixture", {"method": method, "learning_rate": learning_rate,
                                           "num_train_epochs": 2, "seed": 7})])
    paths = create_run(store, config, backend="inline", run_id=run_id)
    mark_running(paths, epoch=2.0, progress=1.0, step=20, total_steps=20)
    events = [{"time": 1.0 + i, "split": "train", "step": 10 * i, "epoch": float(i),
               "loss": 1.0 / i} for i in (1, 2)]
    events.append({"time": 3.0, "split": "eval", "step": 20, "epoch": 2.0, "loss": 0.4,
                   "accuracy": accuracy, "macro_f1": accuracy - 0.02})
    paths.metrics.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    paths.heartbeat.write_text("1.0\n")
    paths.stdout.write_text("2026-01-01 00:00:00 completed\n", encoding="utf-8")
    paths.stderr.write_text("", encoding="utf-8")
    (paths.checkpoint_last).mkdir(parents=True)
    (paths.checkpoint_last / "adapter_config.json").write_text("{}")
    results = empty_results(paths.run_id, config.method, config.model_name_or_path)
    results.update(status="completed", best_epoch=2, eval_accuracy=accuracy,
                   eval_macro_f1=accuracy - 0.02, test_accuracy=accuracy - 0.01,
                   test_macro_f1=accuracy - 0.03, trainable_params=890_118,
                   total_params=124_650_246, train_runtime_s=12.5, collapsed=False,
                   per_class={"joy": {"precision": 0.9, "recall": 0.9, "f1": 0.9,
                                      "support": 10}})
    atomic_write_json(paths.results, results)
    atomic_write_json(paths.exit_file, {"exit_code": 0, "outcome": "completed", "time": 3.0})
    mark_completed(paths)
    return paths


def _replace(path: Path, make: Callable[[Path], None]) -> None:
    """Put ``make``'s content where ``path`` was (file or folder)."""
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    make(path)


def damage(paths: RunPaths, file: str, kind: str, variant: str = "") -> None:
    """Break ``file`` of the run in ``paths`` in the way ``kind`` (and ``variant``) names."""
    target = paths.root / file
    if file == "checkpoints":
        if kind == "wrong_types":  # checkpoints/last as a file, not a folder
            _replace(paths.checkpoint_last, lambda p: p.write_text("not a checkpoint"))
            return
        if kind == "wrong_shape":
            _replace(target, lambda p: p.write_text("not a folder"))
            return
        if kind == "empty":
            _replace(target, lambda p: p.mkdir())
            return
        if kind == "binary":
            _replace(target, lambda p: p.write_bytes(BINARY))
            return
    if kind == "wrong_shape":
        _replace(target, lambda p: p.write_text(WRONG_SHAPE[file], encoding="utf-8"))
    elif kind == "wrong_types":
        key = f"{file}/{variant}" if variant else file
        bad = WRONG_TYPES[key]
        if file == "config.yaml":
            import yaml

            good = yaml.safe_load(target.read_text(encoding="utf-8"))
            good.update(bad)
            _replace(target, lambda p: p.write_text(yaml.safe_dump(good), encoding="utf-8"))
        elif file == "metrics.jsonl":
            _replace(target, lambda p: p.write_text(json.dumps(bad) + "\n", encoding="utf-8"))
        else:
            good = json.loads(target.read_text(encoding="utf-8"))
            good.update(bad)
            _replace(target, lambda p: p.write_text(json.dumps(good), encoding="utf-8"))
    elif kind == "empty":
        _replace(target, lambda p: p.write_bytes(b""))
    elif kind == "directory":
        _replace(target, lambda p: (p.mkdir(), (p / "inside").write_text("x")))
    elif kind == "binary":
        _replace(target, lambda p: p.write_bytes(BINARY))
    else:  # pragma: no cover
        raise AssertionError(kind)


def build_corrupt_store(root: Path) -> CorruptStore:
    """Good runs plus one damaged run per (file, kind, variant) of ``damages()``."""
    store = RunStore(root)
    good = [write_good_run(store, "250101-000000-full-good", method="full",
                           learning_rate=2e-5, accuracy=0.92).run_id,
            write_good_run(store, "250101-000100-lora-good", learning_rate=1e-3,
                           accuracy=0.91).run_id]
    damaged: list[Damage] = []
    for index, (file, kind, variant) in enumerate(damages()):
        run_id = f"250102-{index:06d}-bad-{_slug(file)}-{_slug(kind)}" + \
            (f"-{_slug(variant)}" if variant else "")
        paths = write_good_run(store, run_id)
        damage(paths, file, kind, variant)
        damaged.append(Damage(file, kind, variant, run_id))
    good.append(write_good_run(store, "250103-000000-ptext-good", method="prompt-text",
                               learning_rate=2e-2, accuracy=0.81).run_id)
    return CorruptStore(root=Path(root), good=good, damaged=damaged)
