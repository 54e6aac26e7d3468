"""The README's Quick start works from a fresh clone as written: every `emotui` command in it
parses, and the paths of its first run are the ones `emotui demo` makes (the repository ships no
model or data). The first run itself, as written, trains on them (`-m slow`: it trains for real)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from emotui.cli import demo_driver
from emotui.cli.main import build_parser
from emotui.core.runstore import RunStore
from emotui.train.demo_assets import DemoAssets

README = Path(__file__).resolve().parents[2] / "README.md"
PATH_FLAGS = ("--model_name_or_path", "--data_dir", "--train_file", "--validation_file",
              "--test_file")


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quick start")
    return text[start:text.index("\n## ", start + 1)]


def commands(section: str) -> list[list[str]]:
    """Every `uv run emotui ...` of the section's bash blocks, continuation lines joined, without
    its comment."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:3] == ["uv", "run", "emotui"]:
                out.append(words[3:])
    return out


def _first_run(section: str) -> list[str]:
    return next(c for c in commands(section) if c[:1] == ["run"])


def test_every_quick_start_command_parses():
    found = commands(quick_start())
    assert len(found) >= 6
    parser = build_parser()
    for argv in found:
        argv = [w.replace("<run>", "RUN") for w in argv]
        args, unknown = parser.parse_known_args(argv)
        assert not unknown, (argv, unknown)


def test_the_first_run_uses_what_the_demo_builds():
    """No ./my-encoder or data/ that a fresh clone lacks: the demo's model and data, whose
    folders are where `emotui demo` (run just before, in the same section) puts them."""
    section = quick_start()
    found = commands(section)
    assert found.index(["demo"]) < found.index(_first_run(section))
    argv = _first_run(section)
    assets = DemoAssets(Path("runs") / demo_driver.ASSETS_FOLDER)  # in ./runs, the default store
    given = {flag: Path(argv[argv.index(flag) + 1]) for flag in PATH_FLAGS if flag in argv}
    assert given == {"--model_name_or_path": assets.model_dir, "--data_dir": assets.data_dir}
    assert "../shared" in section  # and it says where the real encoder and data come from


@pytest.mark.slow  # trains the tiny demo model for the README's epochs
def test_the_first_run_works_as_written(tmp_path, monkeypatch, capsys):
    from emotui.cli.main import main
    from emotui.train.demo_assets import build_demo_assets

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMOTUI_RUNS_DIR")  # ./runs, as in a fresh clone
    build_demo_assets(demo_driver.assets_root(RunStore(Path("runs"))))
    assert main(_first_run(quick_start()) + ["--quiet"]) == 0
    [run_id] = [p.name for p in Path("runs").iterdir() if (p / "status.json").exists()]
    capsys.readouterr()
    assert main(["ls"]) == 0 and run_id in capsys.readouterr().out
    assert main(["show", run_id[-4:]]) == 0
    assert main(["predict", run_id[-4:], "i feel wonderful today"]) == 0
    assert "i feel wonderful today" in capsys.readouterr().out
