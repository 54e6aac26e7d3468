"""Upload runs' offline W&B data with ``wandb sync``, after checking it can work at all.

``wandb sync`` without a key fails, and with a key but no network it retries for a long time;
both are answered here first, in one line, before a subprocess starts. The key stays in the
environment the subprocess inherits: it is never put on its command line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from emotui.core.runstore import RunPaths
from emotui.core.lifecycle import ACTIVE, state_of
from emotui.core.status import now, read_status, write_status
from emotui.tracking.offline import OFFLINE_GLOB
from emotui.tracking.settings import base_url, has_credentials, reachable

_URL = re.compile(r"https?://\S+/runs/[\w.-]+")


@dataclass
class SyncOutcome:
    ok: bool
    message: str = ""
    url: str | None = None
    # True when every other run would fail the same way (no key, no network).
    fatal: bool = False


def offline_dirs(paths: RunPaths) -> list[Path]:
    return [d for d in sorted(paths.wandb.glob(OFFLINE_GLOB)) if any(d.glob("run-*.wandb"))]


def is_synced(run_dir: Path) -> bool:
    """wandb sync leaves ``run-<id>.wandb.synced`` beside each file it uploaded."""
    files = list(run_dir.glob("run-*.wandb"))
    return bool(files) and all(f.with_name(f.name + ".synced").exists() for f in files)


def is_active(paths: RunPaths) -> bool:
    return state_of(read_status(paths)) in ACTIVE


def pending_uploads(targets: Iterable[RunPaths], *, include_synced: bool = False,
                    include_active: bool = False) -> list[tuple[RunPaths, list[Path]]]:
    """(run, offline folders to upload) for the runs that have any."""
    plan = []
    for paths in targets:
        if not include_active and is_active(paths):
            continue  # still writing its file: upload once it has ended
        dirs = [d for d in offline_dirs(paths) if include_synced or not is_synced(d)]
        if dirs:
            plan.append((paths, dirs))
    return plan


def check_ready() -> SyncOutcome | None:
    """None when an upload can be tried; else the one-line reason it cannot."""
    url = base_url()
    if not has_credentials(url):
        return SyncOutcome(False, "no W&B API key: set WANDB_API_KEY or run 'wandb login', "
                                  "then 'emotui sync' again", fatal=True)
    problem = reachable(url)
    if problem:
        return SyncOutcome(False, f"W&B unreachable ({problem}); the data stays in the run "
                                  "directory for a later 'emotui sync'", fatal=True)
    return None


def sync_run(paths: RunPaths, dirs: list[Path], *, timeout: float = 600) -> SyncOutcome:
    blocked = check_ready()
    if blocked is not None:
        return blocked
    # The folders are already chosen (pending_uploads): no prompt, no skipping synced ones.
    command = [sys.executable, "-m", "wandb", "sync", "--yes", "--include-synced",
               *[str(d) for d in dirs]]
    try:
        # cwd: wandb sync writes its debug log to ./wandb/, i.e. into the run's wandb folder.
        done = subprocess.run(command, cwd=paths.root, env=dict(os.environ), text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return SyncOutcome(False, f"upload did not finish within {timeout:g} s; "
                                  "run 'emotui sync' again later")
    except OSError as exc:
        return SyncOutcome(False, f"could not start wandb sync: {exc.strerror or exc}")
    output = (done.stdout or "") + (done.stderr or "")
    failed = done.returncode != 0 or re.search(r"^(wandb: ERROR|Error:)", output, re.M)
    if failed or not all(is_synced(d) for d in dirs):
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines or ["no output"]
        return SyncOutcome(False, f"wandb sync failed: {errors[-1][:200]}")
    match = _URL.search(output)
    url = match.group(0) if match else None
    changes = {"wandb_synced": now()}
    if url:
        changes["wandb_url"] = url
    write_status(paths, **changes)
    return SyncOutcome(True, url=url)
