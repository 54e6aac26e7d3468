"""The run store: one directory per run, the only channel between processes and machines.

Every path inside a run directory is named here (``RunPaths``) and nowhere else. Writers replace
JSON files atomically (tmp + rename) and append to JSONL; no locks, since NFS does not honour them.

A run's files are written only inside its folder: a file opened for appending (the logs,
metrics.jsonl) is opened without following a symbolic link (``open_for_append``), and one that
is a link is refused in one line (``LinkedRunFile``; ``refuse_linked_files`` checks them all
before a run is started again). An atomic replace needs no such care: its rename replaces a link
itself, never the file it points to.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from emotui.core.errors import ConfigError, EmotuiError, RunNotFound
from emotui.core.methods import run_id_tag
from emotui.core.processes import process_alive

RUNS_DIR_ENV = "EMOTUI_RUNS_DIR"
DEFAULT_RUNS_DIR = "runs"

# yymmdd-hhmmss-<method>-<4 chars>: sorts by creation time, unique, short enough to type.
RUN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o/1/l/i: easy to read aloud and type


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
    def status_lock(self) -> Path:
        """Held while status.json is read, checked and replaced (core.status)."""
        return self.root / ".status.lock"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def metrics_set_aside(self) -> Path:
        """Metric lines a resume or a restart took out of metrics.jsonl (past the checkpoint it
        continues from, or all of them when it starts over), each batch after a line saying
        when and why (core.events.set_aside): kept, never deleted."""
        return self.root / "metrics.set-aside.jsonl"

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
    def claim(self) -> Path:
        """Who starts or trains the run right now (core.claim): at most one process at a time."""
        return self.root / "claim.json"

    @property
    def disk_reserve(self) -> Path:
        """Space a job sets aside to record how it ended when the disk fills (core.lifecycle)."""
        return self.root / ".disk_reserve"

    @property
    def wandb(self) -> Path:
        return self.root / "wandb"

    @property
    def predictions(self) -> Path:
        return self.root / "test_predictions.jsonl"

    @property
    def export(self) -> Path:
        """Where `emotui export` writes the run's model folder unless told otherwise."""
        return self.root / "export"


def temporary_for(path: Path) -> Path:
    """Where a file is written before it is renamed to ``path``: beside it, hidden, named after
    this process (``.<name>.<host>.<pid>.<hex>.tmp``), so that whoever takes the run over can
    tell what a killed writer left (remove_stray_temporaries) from a write in progress."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}."
                          f"{secrets.token_hex(3)}.tmp")


def remove_stray_temporaries(folder: Path, *, stale_after_s: float) -> None:
    """Delete the temporaries (temporary_for) writers killed mid-write left in ``folder``:
    those of gone processes on this machine, and any other machine's older than
    ``stale_after_s``. A write in progress is never touched."""
    host = socket.gethostname()
    try:
        entries = [e for e in folder.iterdir() if _TEMPORARY.match(e.name)]
    except OSError:
        return
    for entry in entries:
        rest, pid = _TEMPORARY.match(entry.name).groups()
        here = rest.endswith("." + host)
        try:
            gone = here and process_alive({"pid": int(pid), "host": host}) is False
            if gone or (not here and time.time() - entry.stat().st_mtime > stale_after_s):
                entry.unlink()
        except OSError:
            pass  # removed meanwhile, or not ours to remove


_TEMPORARY = re.compile(r"^\.(.+)\.(\d+)\.[0-9a-f]{6}\.tmp$")


def write_synced(path: Path, data: str | bytes, mode: str = "w") -> None:
    """Write ``data`` to ``path`` and wait until it is on the disk (``mode`` "x": only if the
    file does not exist yet). What the atomic writers, claims and the disk reserve build on."""
    binary = isinstance(data, bytes)
    with open(path, mode + ("b" if binary else ""), encoding=None if binary else "utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class LinkedRunFile(EmotuiError):
    """A run file that is a symbolic link: emotui never writes through it (it may lead out of
    the run folder)."""

    def __init__(self, path: Path):
        try:
            target = f" to {os.readlink(path)}"
        except OSError:
            target = ""
        super().__init__(f"{path} is a symbolic link{target}; emotui writes a run's files only "
                         f"inside its folder, never through a link: remove the link (rm {path}) "
                         "and try again")


# The files a run's job appends to (or touches) in place: each must be a file of the run folder.
def appended_files(paths: RunPaths) -> tuple[Path, ...]:
    return (paths.stdout, paths.stderr, paths.metrics, paths.metrics_set_aside,
            paths.heartbeat, paths.disk_reserve)


def refuse_linked_files(paths: RunPaths) -> None:
    """LinkedRunFile for the first file a job of the run would write in place that is a
    symbolic link: checked before a run is started again, so nothing is written."""
    for path in appended_files(paths):
        if path.is_symlink():
            raise LinkedRunFile(path)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_for_append(path: Path, *, text: bool = False, encoding: str = "utf-8"):
    """``path`` opened for appending (created if absent), never through a symbolic link: a
    link raises LinkedRunFile, nothing is written."""
    def opener(name: str, flags: int) -> int:
        return os.open(name, flags | _NOFOLLOW, 0o644)

    try:
        if text:
            return open(os.fspath(path), "a", encoding=encoding, opener=opener)
        return open(os.fspath(path), "ab", opener=opener)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LinkedRunFile(Path(path)) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a whole file so readers see the old or the new content, never half of it. A
    ``path`` that is a symbolic link is replaced by the file (rename replaces the link itself):
    nothing outside the run folder is written."""
    tmp = temporary_for(path)
    try:
        write_synced(tmp, text)
        os.replace(tmp, path)
    except BaseException:
        # A full disk (or any failure) leaves the old file as it was and no temporary behind.
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in path, or None if absent, (mid-replace on some NFS) unreadable, or
    not an object (core.runview says what is wrong with it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, json.JSONDecodeError,
            UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


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
    return f"{stamp}-{run_id_tag(method)}-{suffix}"


def resolve_runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--runs-dir, else $EMOTUI_RUNS_DIR, else ./runs."""
    chosen = explicit or os.environ.get(RUNS_DIR_ENV) or DEFAULT_RUNS_DIR
    return Path(chosen).expanduser().absolute()


def unusable_store(root: Path, exc: OSError) -> ConfigError:
    """One line for a run store that cannot be listed or written: a file where its folder
    should be, no permission, a read-only filesystem."""
    hint = f"give --runs-dir DIR or ${RUNS_DIR_ENV} (default: ./{DEFAULT_RUNS_DIR})"
    if root.exists() and not root.is_dir():
        return ConfigError(f"run store {root} is a file, not a folder; {hint}")
    blocking = next((p for p in root.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        return ConfigError(f"run store {root} cannot be a folder: {blocking} is a file; {hint}")
    if exc.errno == errno.EROFS:
        return ConfigError(f"run store {root} is on a read-only filesystem; {hint}")
    if isinstance(exc, PermissionError):
        return ConfigError(f"run store {root}: permission denied; {hint}")
    return ConfigError(f"run store {root} cannot be used ({exc.strerror or exc}); {hint}")


def refuse_linked_folder(paths: RunPaths) -> None:
    """A one-line ConfigError when the run's folder is a symbolic link (to a folder that may
    lie outside the store): emotui deletes nothing through it."""
    if not paths.root.is_symlink():
        return
    try:
        target = f" to {os.readlink(paths.root)}"
    except OSError:
        target = ""
    raise ConfigError(f"run {paths.run_id} is a symbolic link{target}, not a folder of the run "
                      f"store {paths.root.parent}; emotui deletes nothing outside the store: "
                      f"remove the link itself with: rm {paths.root}")


# A run folder that cannot be written: a read-only filesystem, no permission.
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def unwritable_run(paths: RunPaths, exc: OSError, action: str, *,
                   partial: bool = False) -> ConfigError:
    """One line for a run that cannot be ``action``-ed (resumed, deleted) because its folder
    cannot be written; ``partial``: some of it may have been changed already."""
    if exc.errno == errno.EROFS:
        why = f"the run store {paths.root.parent} is on a read-only filesystem"
        partial = False  # nothing can have been written there
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = f"permission denied ({exc.filename or paths.root})"
    else:
        why = f"{exc.strerror or exc} ({exc.filename or paths.root})"
    done = "some of its files may be left" if partial else "nothing was changed"
    return ConfigError(f"cannot {action} run {paths.run_id}: {why}; {done} (remount it "
                       "read-write, or work on a copy with --runs-dir DIR)")


class RunStore:
    """The folder of run directories."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = resolve_runs_dir(root)

    def paths(self, run_id: str) -> RunPaths:
        return RunPaths(self.root / validate_run_id(run_id))

    def open_root(self) -> None:
        """The store's folder, made if it is not there yet: one line (unusable_store) when it
        cannot be (a file in its place, no permission, a read-only filesystem)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unusable_store(self.root, exc) from None

    def create(self, method: str, run_id: str | None = None) -> RunPaths:
        """Make a new, empty run directory with a fresh id (or the given one)."""
        self.open_root()
        for _ in range(100):
            rid = validate_run_id(run_id) if run_id else new_run_id(method)
            root = self.root / rid
            try:
                root.mkdir()
            except FileExistsError:
                if run_id:
                    raise ConfigError(f"run {run_id} already exists in {self.root}") from None
                continue
            except OSError as exc:
                raise unusable_store(self.root, exc) from None
            return RunPaths(root)
        raise RuntimeError("could not allocate a run id")  # pragma: no cover

    def run_ids(self) -> list[str]:
        """All run ids, oldest first (ids sort by creation time)."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        except OSError as exc:  # a file where the store should be, no permission to list it
            raise unusable_store(self.root, exc) from None
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
        """Delete a run's folder; a one-line ConfigError when it is a symbolic link (to a folder
        that may lie outside the store: nothing is deleted there) or cannot be deleted."""
        paths = self.paths(run_id)
        refuse_linked_folder(paths)
        try:
            shutil.rmtree(paths.root)
        except OSError as exc:
            raise unwritable_run(paths, exc, "delete", partial=True) from None
