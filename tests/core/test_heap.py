"""The garbage collector around emotui's large heaps (core/heap.py)."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import textwrap
import threading

import pytest

from emotui.core import heap


def test_a_pause_turns_the_collector_back_on_only_where_it_found_it_on():
    assert gc.isenabled()
    with heap.paused():
        assert not gc.isenabled()
        with heap.paused():  # nested: the inner one leaves it off
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.paused():
            pass
        assert not gc.isenabled()  # someone else's choice stays
    finally:
        gc.enable()


def test_a_pause_ends_when_its_body_raises():
    try:
        with heap.paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_pauses_in_two_threads_leave_the_collector_on():
    inside = threading.Barrier(2)

    def pause():
        with heap.paused():
            inside.wait()

    threads = [threading.Thread(target=pause) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()


def test_the_long_lived_heap_is_frozen_once():
    # In a process of its own: a freeze would keep this test process's objects for good.
    code = textwrap.dedent("""
        import gc
        from emotui.core import heap
        assert gc.get_freeze_count() == 0
        heap.freeze_long_lived()
        frozen = gc.get_freeze_count()
        assert frozen > 1000, frozen  # the imported modules, at least
        junk = [[] for _ in range(5000)]
        heap.freeze_long_lived()  # a second call takes nothing in
        assert gc.get_freeze_count() == frozen
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not os.path.exists("/proc/self/status"),
                    reason="malloc_trim is glibc's; resident memory read from /proc")
def test_freed_memory_goes_back_to_the_system():
    # In a process of its own: resident memory is the whole process's.
    code = textwrap.dedent("""
        import gc
        from emotui.core import heap

        def rss_mb():
            with open("/proc/self/status") as fh:
                line = next(l for l in fh if l.startswith("VmRSS"))
            return int(line.split()[1]) / 1024

        gc.disable()  # the blocks below are freed by reference counting alone
        base = rss_mb()
        blocks = [bytearray(64 * 1024) for _ in range(4000)]  # 250 MB from malloc's heap
        keep = blocks[-1]  # the heap's top stays in use: only a trim gives the rest back
        del blocks
        freed = rss_mb()
        heap.give_back_freed()
        print(round(freed - base), round(rss_mb() - base))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    held, after = map(int, done.stdout.split())
    assert held > 200  # freed, but kept by the allocator
    assert after < 50  # handed back
