"""One line, never "internal error": `rm` of a run that is a symbolic link out of the store, and
`rm` / `run --resume` on a read-only store."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_store import build_cli_store

from emotui.cli.main import main
from emotui.core.lifecycle import RunState, set_state
from emotui.core.runstore import RunStore
from emotui.launch import backend_names

COMPLETED = "261120-091500-full-ab2c"
FAILED = "261121-101500-full-jk6m"


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("emotui: error: ") and "internal error" not in lines[0]
    return lines[0]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_rm_of_a_run_linked_to_outside_the_store_refuses_and_deletes_nothing(tmp_path, capsys):
    store = build_cli_store(tmp_path / "runs")
    outside = tmp_path / "elsewhere" / "261130-000000-full-zz9z"
    outside.parent.mkdir()
    shutil.copytree(store.root / COMPLETED, outside)
    link = store.root / outside.name
    link.symlink_to(outside)
    before = _tree(outside)
    for argv in (["rm", outside.name, "--yes"], ["rm", COMPLETED, outside.name, "--yes"]):
        assert main(["--runs-dir", str(store.root), *argv]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"run {outside.name} is a symbolic link to {outside}" in line
        assert f"remove the link itself with: rm {link}" in line
        assert _tree(outside) == before and link.is_symlink()
        assert (store.root / COMPLETED).is_dir()  # every run is checked before any goes


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` read-only: a read-only bind mount where this process may mount (root in a
    container that allows it), else the writes emotui makes fail with EROFS as they would."""
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)],
                             capture_output=True).returncode == 0
    if mounted:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)],
                                   capture_output=True).returncode == 0
        try:
            if remounted:
                yield "mount"
                return
        finally:
            subprocess.run(["umount", str(folder)], capture_output=True)
    with pytest.MonkeyPatch.context() as patch:
        real_open, real_link, real_rmtree = os.open, os.link, shutil.rmtree
        inside = str(folder)

        def refuse(path: object) -> None:
            if str(path).startswith(inside):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

        def fake_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                refuse(path)
            return real_open(path, flags, *args, **kwargs)

        def fake_rmtree(path, *args, **kwargs):
            refuse(path)
            return real_rmtree(path, *args, **kwargs)

        patch.setattr(os, "open", fake_open)
        patch.setattr(os, "link", lambda src, dst, *a, **k: (refuse(dst), real_link(src, dst)))
        patch.setattr(shutil, "rmtree", fake_rmtree)
        import builtins

        real_builtin_open = builtins.open

        def fake_builtin_open(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+"):
                refuse(file)
            return real_builtin_open(file, mode, *args, **kwargs)

        patch.setattr(builtins, "open", fake_builtin_open)
        yield "patched"


def test_rm_and_resume_on_a_read_only_store_say_so_in_one_line(tmp_path, capsys):
    store = build_cli_store(tmp_path / "runs")
    set_state(RunStore(store.root).paths(FAILED), RunState.FAILED, reason="killed")
    before = _tree(store.root)
    with read_only(store.root):
        assert main(["--runs-dir", str(store.root), "rm", COMPLETED, "--yes"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert line == (f"emotui: error: cannot delete run {COMPLETED}: the run store "
                        f"{store.root} is on a read-only filesystem; nothing was changed "
                        "(remount it read-write, or work on a copy with --runs-dir DIR)")
        for backend in backend_names():  # each refuses before it would start anything
            code = main(["--runs-dir", str(store.root), "run", "--resume", FAILED,
                         "--backend", backend])
            line = _one_line(capsys.readouterr().err)
            assert code == 2, line
            assert f"cannot start or train run {FAILED}: the run store {store.root} is on a " \
                   "read-only filesystem; nothing was changed" in line
    assert _tree(store.root) == before
