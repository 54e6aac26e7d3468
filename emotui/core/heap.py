"""The cyclic garbage collector and emotui's large, long-lived heaps.

CPython frees almost everything by reference counting; its cyclic collector runs besides, every
700 new container objects, and now and then (a "full" collection) walks every container the
process holds. Two of emotui's heaps make that walk costly:

- a listing of a large store builds millions of rows and values at once (`ls`, `compare`, the
  run index): collections triggered by their allocation walk them again and again while they
  are built, a sixth of `compare`'s time at 100,000 runs (0.8 of 5 s, 2-core VM) -> ``paused``;
- the TUI holds its imported libraries, widgets and the home screen's rows for its whole life:
  a full collection walked them all, 55-65 ms at a time, every second or so while keys were
  typed: the tail of its key-to-screen latency (p95 80-100 ms on a 1 MB run, pty-measured) ->
  ``freeze_long_lived`` once the home screen is loaded, after which a full collection walks only
  what came later (5-15 ms);
- a sweep or study controller that trains its trials inline (one after another, in its own
  process) kept what each trial's model, data and optimizer had used: the C allocator keeps
  freed memory for reuse, and the process grew ~0.2 GB a trial (MiniLM, 2,000 examples) ->
  ``give_back_freed`` after each trial: ~0.05 GB a trial.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from typing import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector held off while a listing builds its rows (acyclic: reference counting
    frees them; a collection may run after). Nested and threaded use is safe: only the
    outermost pause that found it on turns it back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


_frozen = False


def freeze_long_lived() -> None:
    """Once per process: collect what is garbage now, then move every object left out of the
    collector's sight (gc.freeze). They are still freed by reference counting when no longer
    used; only a cycle among them would stay (what the TUI holds at that point lives as long as
    it does). Later calls do nothing: a second freeze would also take in screens that come and
    go."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()


def give_back_freed() -> None:
    """After a large piece of work in a process that goes on (an inline trial): collect what is
    garbage now, then have the C allocator hand its free memory back to the system (glibc's
    malloc_trim; elsewhere only the collection)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process already uses
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return
    trim(0)
