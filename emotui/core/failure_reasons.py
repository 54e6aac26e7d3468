"""How a run's end reads: the one line status.json keeps as ``reason`` for the error that ended
the run (``failure_reason``: emotui's own message, what ran out and what to change, or the
exception's type and last line), or for a stop from its terminal (``interrupted_reason``).
Pure text: core never imports torch, so its out-of-memory errors are told by name and message.
"""

from __future__ import annotations

import errno
import re

from emotui.core.errors import EmotuiError

_ALLOCATION = re.compile(r"Tried to allocate [\d.]+ ?[KMGT]i?B", re.IGNORECASE)
_SMALLER_BATCHES = "lower --per_device_train_batch_size or --max_seq_length"


def failure_reason(error: BaseException, run_id: str | None = None) -> str:
    """The one line status.json keeps as ``reason`` for a run that ``error`` ended.

    EmotuiError: its own message (already one line, saying what to do). Out of disk, host or GPU
    memory: what ran out and what to change. Ctrl-C: interrupted, and how to resume. Anything
    else: the exception's type and the last line of its message (a traceback's last line says
    the most).
    """
    resume = f"emotui run --resume {run_id}" if run_id else "emotui run --resume RUN"
    if isinstance(error, EmotuiError):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        return interrupted_reason(run_id=run_id)
    last = _last_line(error)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {error.filename}" if error.filename else ""
        return (f"out of disk space ({error.strerror or last}{where}); free some space, then "
                f"resume with: {resume}")
    if isinstance(error, MemoryError):
        return f"out of host memory (MemoryError); ask for more memory or {_SMALLER_BATCHES}"
    if type(error).__name__ == "OutOfMemoryError" or "out of memory" in last.lower():
        # torch's CUDA/MPS out-of-memory errors, recognised by name and message: core never
        # imports torch.
        allocation = _ALLOCATION.search(str(error))
        detail = f": {allocation.group(0)}" if allocation else ""
        return f"out of GPU memory ({type(error).__name__}{detail}); {_SMALLER_BATCHES}"
    return f"{type(error).__name__}: {last}" if last else type(error).__name__


def interrupted_reason(how: str | None = None, run_id: str | None = None) -> str:
    """A run stopped from its terminal: how (Ctrl-C, SIGTERM) and, given its id, how to go on."""
    text = f"interrupted ({how})" if how else "interrupted"
    return f"{text}; resume with: emotui run --resume {run_id}" if run_id else text


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
