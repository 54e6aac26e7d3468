"""How checkpoints/last and checkpoints/best are swapped, so that a kill at any instant leaves a
complete checkpoint that a resume finds.

A checkpoint is written into a staging folder beside its target (``.last.tmp-<hex>``), its files
are flushed to disk, and a marker (``checkpoint.json``, holding the step) is written last: a
folder with the marker is complete ("sealed"). Publishing it takes two renames, since a rename
cannot replace a non-empty folder: ``last`` -> ``.last.old-<hex>``, then staging -> ``last``.
Between the two there is no ``last``, but both the old and the new checkpoint are complete on
disk; ``recover`` puts the newest sealed one back as ``last`` before anything reads it. An old
folder loses its marker before it is deleted, so a half-deleted one is never taken for complete.

Only the process that owns the run (its claim, core.claim) recovers or publishes; readers never
touch these folders.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

from emotui.core.events import set_aside_all
from emotui.core.runstore import RunPaths, atomic_write_json

log = logging.getLogger("emotui")

MARKER = "checkpoint.json"
NAMES = ("last", "best")


def staging_folder(paths: RunPaths, name: str) -> Path:
    """A new, empty folder to write checkpoint ``name`` into before it is published."""
    paths.checkpoints.mkdir(exist_ok=True)  # not the run's folder: a deleted one stays gone
    folder = paths.checkpoints / f".{name}.tmp-{secrets.token_hex(3)}"
    folder.mkdir()
    return folder


def seal(folder: Path, step: int) -> None:
    """Mark a fully written checkpoint folder complete: its files reach the disk first, then the
    marker (written atomically) says which step it holds."""
    for item in folder.iterdir():
        if item.is_file() and item.name != MARKER:
            fd = os.open(item, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    atomic_write_json(folder / MARKER, {"step": int(step), "saved": round(time.time(), 3)})


def sealed_step(folder: Path) -> int | None:
    """The step a sealed checkpoint folder holds; None when it is not sealed (being written, or
    written before checkpoints were sealed)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return int(marker["step"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def publish(staged: Path, target: Path) -> None:
    """Make the sealed folder ``staged`` the checkpoint ``target`` (see the module's docstring)."""
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(3)}")
    moved = False
    if target.exists():
        os.replace(target, old)
        moved = True
    try:
        os.replace(staged, target)
    except BaseException:
        if moved and not target.exists():
            os.replace(old, target)  # put the previous checkpoint back where readers look
        raise
    if moved:
        _remove(old)


def discard(folder: Path) -> None:
    """Delete a checkpoint folder that is not (or no longer) a checkpoint: its marker first."""
    _remove(folder)


def _remove(folder: Path) -> None:
    (folder / MARKER).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def recover(paths: RunPaths, name: str) -> Path | None:
    """Checkpoint ``name`` ("last" or "best") after any crash: the folder itself when it is
    there, else the newest complete one a save left under a staging or old name, renamed back
    into place. Leftovers of interrupted saves are removed. None when there is no checkpoint."""
    target = paths.checkpoints / name
    if not target.is_dir():
        chosen = _newest_complete(paths, name)
        if chosen is None:
            return None
        os.replace(chosen, target)
        log.warning("checkpoints/%s was missing (a save was interrupted): recovered the complete "
                    "checkpoint of step %s", name, sealed_step(target))
    for leftover in _leftovers(paths, name):
        _remove(leftover)
    return target


def recover_all(paths: RunPaths) -> None:
    """recover() every checkpoint of the run (before training continues it)."""
    for name in NAMES:
        recover(paths, name)


def has_resumable_checkpoint(paths: RunPaths) -> bool:
    """Whether a resume can continue the run: checkpoints/last (recovered if a save was cut
    short) holds the trainer state."""
    return recover(paths, "last") is not None and paths.resume_state.is_file()


def resume_problem(paths: RunPaths) -> str | None:
    """Why a resume cannot continue the run from checkpoints/last, in a few words; None when
    it can (has_resumable_checkpoint, so a checkpoint a save left under a temporary name is put
    back first: only the run's claim holder asks)."""
    if has_resumable_checkpoint(paths):
        return None
    if paths.checkpoint_last.is_dir():
        return f"checkpoints/last holds no trainer state ({paths.resume_state.name})"
    if _leftovers(paths, "last"):
        return "its first save of checkpoints/last was cut short (no complete checkpoint)"
    return "it stopped before its first checkpoint"


def start_over(paths: RunPaths, why: str | None) -> str | None:
    """A run trains from its first step again (``why``: what made a resume impossible; None
    when nobody asked to resume): its earlier metric lines go to the side file, never deleted
    (core.events.set_aside_all). Returns the one line to tell (None when there is nothing to
    say: no resume asked and no earlier metrics)."""
    moved = set_aside_all(paths.metrics, why or "the run started over from its first step")
    if why is None and not moved:
        return None
    return restart_notice(paths, why or "no checkpoint to continue from", moved)


def restart_notice(paths: RunPaths, why: str, lines: int) -> str:
    """The one line that says a resume starts over: what was unusable (``why``), that training
    restarts, and where the ``lines`` earlier metric lines are kept."""
    kept = (f"its {lines} earlier metric line{'s' if lines != 1 else ''} kept in "
            f"{paths.metrics_set_aside.name}" if lines else "it had no metrics yet")
    return f"run {paths.run_id}: {why}; training restarts from the first step ({kept})"


def metric_lines(paths: RunPaths) -> int:
    """How many lines metrics.jsonl holds (what a start-over sets aside)."""
    try:
        return sum(1 for line in paths.metrics.read_bytes().splitlines() if line.strip())
    except FileNotFoundError:
        return 0


def _leftovers(paths: RunPaths, name: str) -> list[Path]:
    try:
        entries = list(paths.checkpoints.iterdir())
    except FileNotFoundError:
        return []
    prefixes = (f".{name}.tmp-", f".{name}.old-")
    return [e for e in entries if e.name.startswith(prefixes) and e.is_dir()]


def _newest_complete(paths: RunPaths, name: str) -> Path | None:
    """The sealed leftover with the highest step (a staged one wins a tie: it is the newer); else
    an unsealed old folder (one emotui wrote before checkpoints were sealed; it was complete when
    it was renamed away), the newest first."""
    sealed: list[tuple[int, int, Path]] = []
    unsealed_old: list[tuple[float, Path]] = []
    for folder in _leftovers(paths, name):
        step = sealed_step(folder)
        staged = folder.name.startswith(f".{name}.tmp-")
        if step is not None:
            sealed.append((step, 1 if staged else 0, folder))
        elif not staged and (name != "last" or (folder / paths.resume_state.name).is_file()):
            unsealed_old.append((folder.stat().st_mtime, folder))
    if sealed:
        return max(sealed, key=lambda s: (s[0], s[1]))[2]
    if unsealed_old:
        return max(unsealed_old, key=lambda s: s[0])[1]
    return None
