"""A run's disk reserve (``.disk_reserve`` in its folder): space set aside as the run is created
and as each attempt starts, given back once its end is recorded, or when a full disk (or quota)
refuses that record, which is then written in the space it frees (``core.lifecycle.end_run``).
Written only inside the run's folder, never through a symbolic link.
"""

from __future__ import annotations

import errno
import logging

from emotui.core.runstore import RunPaths, write_synced

log = logging.getLogger("emotui")

# A full disk or quota: what the disk reserve is for.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# Set aside by a job as it starts (status.json and exit.json are a few KiB).
DISK_RESERVE_BYTES = 128 * 1024


def set_aside_disk_reserve(paths: RunPaths) -> None:
    """Fill the run's disk reserve (when a run is created, and again as each attempt starts),
    so a run whose disk fills up can still record how it ended."""
    try:
        # "x": created here, never through a symbolic link in its place.
        write_synced(paths.disk_reserve, bytes(DISK_RESERVE_BYTES), "x")
    except FileExistsError:
        return
    except OSError as exc:
        log.warning("run %s: no disk space set aside to record its end (%s)", paths.run_id, exc)
        give_back_disk_reserve(paths)


def give_back_disk_reserve(paths: RunPaths) -> bool:
    """Delete the run's disk reserve; whether there was one to delete."""
    try:
        paths.disk_reserve.unlink()
    except OSError:  # none (FileNotFoundError), or a store that cannot be written
        return False
    return True
