"""Helpers for the W&B tests: the environment to clear, a planted key, file searches, real
offline runs written by wandb itself, and parsers for the typeset export formats."""

from __future__ import annotations

import re
from pathlib import Path

WANDB_VARS = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT",
              "WANDB_RUN_GROUP", "WANDB_TAGS", "WANDB_NAME", "WANDB_NOTES", "WANDB_JOB_TYPE",
              "WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_DIR", "WANDB_DISABLED",
              "WANDB_IDENTITY_TOKEN_FILE", "EMOTUI_CONFIG",
              # The stand-in lives on 127.0.0.1: no proxy may sit in between.
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

def isolate_wandb(monkeypatch, home: Path) -> Path:
    """Point HOME, XDG folders, W&B's folders and netrc into ``home``; no W&B variables from
    outside, no W&B chatter."""
    home.mkdir(exist_ok=True)
    for name in WANDB_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("EMOTUI_CACHE_DIR", str(home / ".cache" / "emotui"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / ".cache" / "wandb"))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return home


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens: 'no network' that answers at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# A fake key that no real file would hold by chance: the hygiene tests grep for it.
PLANTED_KEY = "emotuiplantedkey" + "7f3a9c2e" * 3


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


# -- parsers of the typeset export formats --------------------------------------------------


def parse_markdown(text: str) -> list[list[str]]:
    rows = []
    for line in text.strip().splitlines():
        assert line.startswith("| ") and line.endswith(" |"), line
        body = line[2:-2]
        cells = re.split(r"(?<!\\) \| ", body)  # cells are separated by unescaped pipes
        rows.append([re.sub(r"\\(.)", r"\1", c).strip() for c in cells])
    return rows


LATEX_UNESCAPE = [(r"\textbackslash{}", "\\"), (r"\textasciitilde{}", "~"),
                  (r"\textasciicircum{}", "^"), (r"\&", "&"), (r"\%", "%"), (r"\$", "$"),
                  (r"\#", "#"), (r"\_", "_"), (r"\{", "{"), (r"\}", "}")]


def latex_unescape(cell: str) -> str:
    out, i = [], 0
    while i < len(cell):
        for escaped, plain in LATEX_UNESCAPE:
            if cell.startswith(escaped, i):
                out.append(plain)
                i += len(escaped)
                break
        else:
            out.append(cell[i])
            i += 1
    return "".join(out)


def parse_latex(text: str) -> tuple[str, list[list[str]]]:
    lines = text.strip().splitlines()
    spec = re.fullmatch(r"\\begin\{tabular\}\{([lrc]+)\}", lines[0]).group(1)
    assert lines[-1] == r"\end{tabular}"
    rows = []
    for line in lines[1:-1]:
        if line == r"\hline":
            continue
        assert line.endswith(r" \\"), line
        cells = re.split(r"(?<!\\) & ", line[:-3])  # an escaped \& is not a separator
        rows.append([latex_unescape(c) for c in cells])
    return spec, rows


def parse_typst(text: str) -> tuple[int, list[list[str]]]:
    assert text.startswith("#table(") and text.rstrip().endswith(")")
    ncols = int(re.search(r"columns: (\d+),", text).group(1))
    header = re.search(r"table\.header\((.*)\),", text).group(1)
    string = r'"((?:[^"\\]|\\.)*)"'
    unescape = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
    head = [unescape(s) for s in re.findall(string, header)]
    body_text = text[text.index("table.header"):]
    body_text = body_text[body_text.index("\n"):]
    cells = [unescape(s) for s in re.findall(string, body_text)]
    assert len(cells) % ncols == 0
    return ncols, [head] + [cells[i:i + ncols] for i in range(0, len(cells), ncols)]
