"""Run the CLI in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from emotui.cli.main import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, tmp_path):
    """cli(*argv) -> CliResult, with --runs-dir pointing at a fresh tmp store."""
    runs = tmp_path / "store"

    def run(*argv: str, runs_dir=runs) -> CliResult:
        capsys.readouterr()
        try:
            code = main([*argv[:1], "--runs-dir", str(runs_dir), *argv[1:]] if argv else [])
        except SystemExit as exc:  # argparse's own --help / usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    run.runs_dir = runs
    return run
