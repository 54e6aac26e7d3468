"""The run store: one directory per run, the only channel between processes and machines.

Every path inside a run directory is named here (``RunPaths``) and nowhere else. Writers replace
JSON files atomically (tmp + rename) and append to JSONL; no locks, since NFS does not honour them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from emotui.core.errors import ConfigError, RunNotFound

RUNS_DIR_ENV = "EMOTUI_RUNS_DIR"
DEFAULT_RUNS_DIR = "runs"

# yymmdd-hhmmss-<method>-<4 chars>: sorts by creation time, unique, short enough to type.
RUN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o/1/l/i: easy to read aloud and type
METHOD_TAGS = {
    "full": "full",
    "lora": "lora",
    "prompt_tuning_text": "ptext",
    "prompt_tuning_random": "prand",
}


@dataclass(frozen=True)
class RunPaths:
    """Every file of a run directory, named once (submitit's JobPaths is the model)."""

    root: Path

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def heartbeat(self) -> Path:
        return self.root / "heartbeat"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def checkpoint_best(self) -> Path:
        return self.checkpoints / "best"

    @property
    def checkpoint_last(self) -> Path:
        return self.checkpoints / "last"

    @property
    def resume_state(self) -> Path:
        """Optimizer, scheduler, RNG and step of the last checkpoint (for requeue/resume)."""
        return self.checkpoints / "last" / "trainer_state.pt"

    @property
    def launch(self) -> Path:
        """Backend bookkeeping: submitit's pickles and scheduler logs, launcher scripts."""
        return self.root / "launch"

    @property
    def exit_file(self) -> Path:
        """Written by the job as its very last act: exit code + time (works without sacct)."""
        return self.root / "exit.json"

    @property
    def wandb(self) -> Path:
        return self.root / "wandb"

    @property
    def predictions(self) -> Path:
        return self.root / "test_predictions.jsonl"


def atomic_write_text(path: Path, text: str) -> None:
    """Write a whole file so readers see the old or the new content, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in path, or None if absent or (mid-replace on some NFS) unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def validate_run_id(run_id: str) -> str:
    """A run id as typed by a user, checked: no separators, no traversal, no oddities."""
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id) or ".." in run_id:
        raise ConfigError(
            f"'{run_id}' is not a valid run id (lowercase letters, digits, '.', '_', '-'; "
            "'emotui ls' lists the runs)"
        )
    return run_id


def new_run_id(method: str, now: float | None = None) -> str:
    stamp = time.strftime("%y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(4))
    return f"{stamp}-{METHOD_TAGS.get(method, 'run')}-{suffix}"


def resolve_runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--runs-dir, else $EMOTUI_RUNS_DIR, else ./runs."""
    chosen = explicit or os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR
    return Path(chosen).expanduser().absolute()


class RunStore:
    """The folder of run directories."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = resolve_runs_dir(root)

    def paths(self, run_id: str) -> RunPaths:
        return RunPaths(self.root / validate_run_id(run_id))

    def create(self, method: str, run_id: str | None = None) -> RunPaths:
        """Make a new, empty run directory with a fresh id (or the given one)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            rid = validate_run_id(run_id) if run_id else new_run_id(method)
            root = self.root / rid
            try:
                root.mkdir()
            except FileExistsError:
                if run_id:
                    raise ConfigError(f"run {run_id} already exists in {self.root}") from None
                continue
            return RunPaths(root)
        raise RuntimeError("could not allocate a run id")  # pragma: no cover

    def run_ids(self) -> list[str]:
        """All run ids, oldest first (ids sort by creation time)."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(
            e for e in entries
            if RUN_ID_RE.match(e) and ".." not in e and (self.root / e / "status.json").exists()
        )

    def __iter__(self) -> Iterator[RunPaths]:
        for rid in self.run_ids():
            yield RunPaths(self.root / rid)

    def find(self, ref: str) -> RunPaths:
        """A run by exact id, unique prefix, or unique suffix (the 4 random chars)."""
        if len(ref) >= 3 or not re.fullmatch(r"[a-z0-9_-]+", ref):
            validate_run_id(ref)  # a short prefix is fine; a path or traversal never is
        exact = self.root / ref
        if (exact / "status.json").exists():
            return RunPaths(exact)
        ids = self.run_ids()
        matches = [r for r in ids if r.startswith(ref) or r.endswith(ref)]
        if len(matches) == 1:
            return RunPaths(self.root / matches[0])
        if not matches:
            raise RunNotFound(f"no run '{ref}' in {self.root}; 'emotui ls' lists the runs")
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        raise RunNotFound(f"'{ref}' matches {len(matches)} runs ({shown}); give more of the id")

    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.paths(run_id).root)
