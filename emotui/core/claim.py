"""An exclusive claim on a run: at most one process starts or trains a run at a time, across
every machine that shares the run store.

The claim is ``runs/<id>/claim.json``, holding its holder's identity (host, pid, process start
time, boot id: core.processes) and a random token. It is created atomically with ``link()`` of a
fully written private file, which NFS arbitrates on the server (fcntl/flock locks are not
reliable there); where a filesystem has no hard links, ``O_CREAT | O_EXCL`` does the same job.
The holder touches the file every few seconds. A claim is stale when its holder is gone: a
process on this machine that no longer runs (pid + start time + boot id), or, for a holder on
another machine, a file nobody touched for CLAIM_STALE_S. A stale claim is taken over; a live
one is refused with a one-line RunClaimed. Whoever gets the claim also removes the temporaries
that writers killed mid-write left in the run directory (runstore.remove_stray_temporaries).

A process holds a claim once, however often it asks (the CLI claims a run before resuming it,
then trains it in the same process). Who claims: whatever starts a run's job or trains it
(``emotui run --resume``, the TUI's resume, launch.foreground, launch.job, train.train).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotui.core.clock import ahead_by, staleness
from emotui.core.errors import EmotuiError
from emotui.core.processes import process_alive, process_identity
from emotui.core.runstore import (
    UNWRITABLE, RunPaths, remove_stray_temporaries, temporary_for, unwritable_run, write_synced,
)
from emotui.core.status import HEARTBEAT_INTERVAL_S, HEARTBEAT_STALE_S, now

log = logging.getLogger("emotui")

# A claim from another machine whose holder stopped touching it this long ago is stale.
CLAIM_STALE_S = HEARTBEAT_STALE_S
RETRY_INTERVAL_S = 0.2


class RunClaimed(EmotuiError):
    """Another live process has claimed the run (it is starting or training it)."""


@dataclass
class Claim:
    """A claim this process holds."""

    paths: RunPaths
    record: dict[str, Any]
    depth: int = 1
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


# The claims this process holds, by the claim file's real path (one run reached through two
# spellings of its path is one claim).
_held: dict[str, Claim] = {}
_held_lock = threading.Lock()


@contextmanager
def claim_run(paths: RunPaths, *, wait_s: float = 0.0,
              force: bool = False) -> Iterator[dict[str, Any]]:
    """Hold the run's claim for the block; yields the claim's record. ``wait_s``: how long to
    wait for a live holder to let go (a job started by a launcher that still holds the claim)
    before RunClaimed. ``force``: a claim whose time lies in the future is taken over
    (claim_is_stale)."""
    with _held_lock:
        held = _held.get(_key(paths))
        if held is not None:
            held.depth += 1
    if held is None:
        held = _acquire(paths, wait_s, force)
    try:
        yield held.record
    finally:
        _let_go(held)


def read_claim(paths: RunPaths) -> dict[str, Any] | None:
    """The claim's record; None when there is none. A claim being written reads as {}."""
    try:
        text = paths.claim.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def claim_is_stale(paths: RunPaths, record: dict[str, Any], *,
                   force: bool = False) -> bool:
    """Whether the claim's holder is gone (see the module's docstring). A holder on another
    machine whose claim's time lies in the future is judged by whether the claim changes
    (core.clock); ``force`` takes such a claim for gone at once (`--force`: its holder cannot
    be asked, and the user says it is gone)."""
    alive = process_alive(record) if record.get("pid") else None
    if alive is not None:
        return not alive
    try:
        mtime = paths.claim.stat().st_mtime
    except FileNotFoundError:
        return True
    if force and ahead_by(mtime) is not None:
        return True
    return staleness(f"claim:{_key(paths)}:{record.get('token')}", mtime) > CLAIM_STALE_S


def claim_ahead_by(paths: RunPaths, record: dict[str, Any]) -> float | None:
    """How far in the future the time of a claim lies whose holder cannot be asked (another
    machine, or none named): its staleness cannot be told from it. None otherwise."""
    if record.get("pid") and process_alive(record) is not None:
        return None
    try:
        return ahead_by(paths.claim.stat().st_mtime)
    except FileNotFoundError:
        return None


def held_here(paths: RunPaths) -> bool:
    """Whether this process holds the run's claim."""
    with _held_lock:
        return _key(paths) in _held


def _key(paths: RunPaths) -> str:
    return os.path.realpath(paths.claim)


# -- acquiring and letting go ------------------------------------------------------------------


def _acquire(paths: RunPaths, wait_s: float, force: bool = False) -> Claim:
    record = dict(process_identity(os.getpid()), token=secrets.token_hex(8), since=now())
    deadline = time.monotonic() + wait_s
    while True:
        try:
            holder = _try_acquire(paths, record, force)
        except OSError as exc:
            if exc.errno in UNWRITABLE:  # a read-only store: one line, nothing written
                raise unwritable_run(paths, exc, "start or train") from None
            raise
        if holder is None:
            break
        if time.monotonic() >= deadline:
            raise RunClaimed(refusal(paths, holder))
        time.sleep(RETRY_INTERVAL_S)
    # What writers killed mid-write left (claims, status, results) goes with their claim.
    remove_stray_temporaries(paths.root, stale_after_s=CLAIM_STALE_S)
    claim = Claim(paths, record)
    claim.thread = threading.Thread(target=_keep_fresh, args=(claim,),
                                    name=f"claim-{paths.run_id}", daemon=True)
    with _held_lock:
        _held[_key(paths)] = claim
    claim.thread.start()
    return claim


def _let_go(claim: Claim) -> None:
    with _held_lock:
        claim.depth -= 1
        if claim.depth > 0:
            return
        _held.pop(_key(claim.paths), None)
    claim.stop.set()
    current = read_claim(claim.paths)
    if current and current.get("token") == claim.record["token"]:
        claim.paths.claim.unlink(missing_ok=True)


def _try_acquire(paths: RunPaths, record: dict[str, Any],
                 force: bool = False) -> dict[str, Any] | None:
    """Create the claim, or take over a stale one. None: it is ours; else the live holder."""
    for _ in range(5):
        if _create(paths.claim, record):
            return None
        holder = read_claim(paths)
        if holder is None:
            continue  # let go of between our try and our look: try again
        if not claim_is_stale(paths, holder, force=force):
            return holder
        if _break_stale(paths, holder):
            log.info("run %s: took over the claim of pid %s on %s (gone)", paths.run_id,
                     holder.get("pid"), holder.get("host"))
    return read_claim(paths) or {}


def _create(path: Path, record: dict[str, Any]) -> bool:
    """Atomically create ``path`` holding ``record``; False when it already exists."""
    text = json.dumps(record, indent=2) + "\n"
    private = temporary_for(path)
    try:
        write_synced(private, text, "x")
        try:
            os.link(private, path)
            return True
        except FileNotFoundError:
            return False  # removed as a stray by a concurrent holder: look and try again
        except FileExistsError:
            # NFS: a retransmitted link() may report EEXIST although it worked; the private
            # file's link count says whether it did.
            return os.stat(private).st_nlink == 2
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        return _create_exclusive(path, text)  # a filesystem without hard links
    finally:
        private.unlink(missing_ok=True)


def _create_exclusive(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return True


def _break_stale(paths: RunPaths, judged: dict[str, Any]) -> bool:
    """Remove the stale claim ``judged``. It is renamed aside first and checked there, so a
    fresh claim another process took meanwhile is never deleted (it is put back)."""
    aside = temporary_for(paths.claim)
    try:
        os.rename(paths.claim, aside)
    except FileNotFoundError:
        return True  # someone else removed it
    try:
        try:
            moved = json.loads(aside.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            moved = {}
        if moved == judged or (judged.get("token") and moved.get("token") == judged.get("token")):
            return True
        try:
            os.link(aside, paths.claim)  # not the one judged stale: give it back
        except FileExistsError:
            pass
        return False
    finally:
        aside.unlink(missing_ok=True)


def _keep_fresh(claim: Claim) -> None:
    """Touch the claim while holding it (the heartbeat a holder on another machine is judged
    by); stop if someone took it over (then this holder was judged gone: say so)."""
    while not claim.stop.wait(HEARTBEAT_INTERVAL_S):
        current = read_claim(claim.paths)
        if current and current.get("token") != claim.record["token"]:
            log.error("run %s: its claim was taken over by pid %s on %s", claim.paths.run_id,
                      current.get("pid"), current.get("host"))
            return
        try:
            os.utime(claim.paths.claim)
        except OSError:
            pass  # a flaky network filesystem: the next beat retries


def refusal(paths: RunPaths, holder: dict[str, Any]) -> str:
    """The one line that refuses to start or train a run whose claim ``holder`` holds."""
    if holder.get("pid"):
        line = (f"run {paths.run_id} is already running (pid {holder['pid']} on "
                f"{holder.get('host')})")
    else:
        line = f"run {paths.run_id} is being started by another process; try again in a moment"
    return line + future_claim_hint(paths, holder)


def future_claim_hint(paths: RunPaths, holder: dict[str, Any]) -> str:
    """"; its claim's time lies N s in the future ... --force" when it does (else "")."""
    ahead = claim_ahead_by(paths, holder)
    if ahead is None:
        return ""
    return (f"; its claim's time lies {ahead:.0f} s in the future (a clock running ahead?), so "
            "whether its holder lives cannot be told: if it is gone, take the run over with "
            f"emotui run --resume {paths.run_id} --force")
