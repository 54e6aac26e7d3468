"""`emotui --help`, the CLI and the core never import torch and friends."""

import subprocess
import sys

# The training libraries, the trackers' and emotui serve's (textual-serve and its aiohttp):
# none of them may cost `emotui --help` or any subcommand's help anything.
HEAVY = ("torch", "transformers", "peft", "datasets", "wandb", "submitit", "optuna", "trackio",
         "textual_serve", "aiohttp", "huggingface_hub", "textual")


def test_help_does_not_import_heavy_packages():
    code = (
        "import sys, contextlib, io\n"
        "from emotui.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_subcommand_help_is_light():
    code = (
        "import sys, contextlib, io\n"
        "from emotui.cli.main import build_parser\n"
        "parser = build_parser()\n"
        "for action in parser._actions:\n"
        "    for name, sub in (getattr(action, 'choices', None) or {}).items():\n"
        "        with contextlib.redirect_stdout(io.StringIO()):\n"
        "            sub.format_help()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
