"""W&B tests run against files and a local stand-in server only; nothing leaves 127.0.0.1.

Every test gets its own HOME, caches and a clean W&B environment, so wandb cannot find a real
key in ~/.netrc, write into the user's folders, or reach the service.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

WANDB_VARS = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT",
              "WANDB_RUN_GROUP", "WANDB_TAGS", "WANDB_NAME", "WANDB_NOTES", "WANDB_JOB_TYPE",
              "WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_DIR", "WANDB_DISABLED",
              "WANDB_IDENTITY_TOKEN_FILE", "EMOTUI_CONFIG",
              # The stand-in lives on 127.0.0.1: no proxy may sit in between.
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

# A fake key that no real file would hold by chance: the hygiene tests grep for it.
PLANTED_KEY = "emotuiplantedkey" + "7f3a9c2e" * 3


@pytest.fixture(autouse=True)
def wandb_sandbox(monkeypatch, tmp_path) -> Path:
    """Private HOME/XDG folders, W&B offline by default, no W&B variables from outside."""
    home = tmp_path / "home"
    home.mkdir()
    for name in WANDB_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("EMOTUI_CACHE_DIR", str(home / ".cache" / "emotui"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / ".local" / "share" / "wandb"))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens: 'no network' that answers at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def all_files(*roots: Path) -> list[Path]:
    out = []
    for root in roots:
        if root.is_file():
            out.append(root)
        elif root.exists():
            out += [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return out


def files_containing(needle: str, *roots: Path) -> list[Path]:
    data = needle.encode()
    return [p for p in all_files(*roots) if data in p.read_bytes()]


def make_offline_run(root: Path, *, project: str = "study", config: dict | None = None,
                     rows: list[dict] | None = None, summary: dict | None = None,
                     run_id: str | None = None) -> Path:
    """A real W&B offline run written by wandb itself (independent of emotui's training)."""
    import wandb

    run = wandb.init(mode="offline", project=project, dir=str(root), id=run_id,
                     config=config or {}, reinit="create_new",
                     settings=wandb.Settings(console="off", silent=True, disable_git=True,
                                             x_disable_stats=True))
    for row in rows or []:
        run.log(row)
    for key, value in (summary or {}).items():
        run.summary[key] = value
    run.finish()
    files = sorted((root / "wandb").glob(f"offline-run-*-{run.id}/run-{run.id}.wandb"))
    assert files, f"wandb wrote no offline file under {root}"
    wait_for_exit_record(files[-1])
    return files[-1]


def wait_for_exit_record(path: Path, limit_s: float = 20.0):
    """wandb-core may still be flushing the file when finish() returns: wait for its exit
    record (the limit only bounds a hang; nothing is asserted about time)."""
    import time

    from emotui.tracking.offline import read_run_file

    deadline = time.monotonic() + limit_s
    while True:
        run = read_run_file(path)
        if run.exit_code is not None or time.monotonic() > deadline:
            return run
        time.sleep(0.05)

