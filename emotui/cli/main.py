"""`emotui` entry point: builds the parser from the subcommand modules and maps errors to exit codes.

Each module in COMMANDS exposes ``register(subparsers, common)``, adding its parsers with
``set_defaults(handler=fn)``; a handler takes the parsed args and returns an exit code.
Nothing here imports torch: `emotui --help` and the TUI start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap

from emotui import __version__
from emotui.cli.flags import explain_argparse_error, join_dash_values, unknown_argument_message
from emotui.cli.stdout_document import document_stdout
from emotui.core.errors import EmotuiError
from emotui.core.methods import METHODS
from emotui.core.trackers import TRACKERS
from emotui.launch.foreground import end_process_if_abandoned

COMMANDS = (
    "emotui.cli.run_cmd",
    "emotui.cli.runs_cmd",
    "emotui.cli.export_cmd",
    "emotui.cli.cancel_cmd",
    "emotui.cli.sweep_cmd",
    "emotui.cli.study_cmd",
    "emotui.cli.compare_cmd",
    "emotui.cli.sync_cmd",
    "emotui.cli.report_cmd",
    "emotui.cli.demo_cmd",
    "emotui.cli.serve_cmd",
)

EPILOG = """\
With no command, emotui opens the terminal UI on the run store (./runs, --runs-dir or
$EMOTUI_RUNS_DIR). Exit codes: 0 ok, 1 a run failed, 2 bad input, 130 interrupted.
"""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors and 'did you mean' for unknown flags."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"emotui: error: {explain_argparse_error(self, message)}", file=sys.stderr)
        raise SystemExit(2)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        # Each subcommand's parser gets its own arguments here: its values that start with '-'
        # (compare --sort -test_accuracy) are joined to their option first.
        if args is not None:
            args = join_dash_values(self, list(args))
        return super().parse_known_args(args, namespace)


def common_parser(default: object = argparse.SUPPRESS) -> argparse.ArgumentParser:
    # Subcommands get SUPPRESS so `emotui --runs-dir X run` keeps X: a subparser's own default
    # would otherwise overwrite the value parsed before the subcommand name.
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "--runs-dir", "--runs_dir", dest="runs_dir", metavar="DIR", default=default,
        help="run store (default: $EMOTUI_RUNS_DIR or ./runs)",
    )
    return common


def method_families() -> str:
    """'full fine-tuning, LoRA, prompt tuning, ...': the registry's methods, variants merged."""
    # "prompt tuning, text init" and "prompt tuning, random init" are one family here.
    return ", ".join(dict.fromkeys(m.label.split(",")[0].split(" (")[0] for m in METHODS))


def build_parser() -> ArgumentParser:
    common = common_parser()
    parser = ArgumentParser(
        prog="emotui",
        description=textwrap.fill(
            f"Fine-tune transformer text classifiers ({method_families()}) locally or on Slurm; "
            "sweep, monitor and compare runs.", width=88),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_parser(default=None)],
    )
    parser.add_argument("--version", action="version", version=f"emotui {__version__}")
    for spec in TRACKERS:  # --wandb ENTITY/PROJECT, --trackio PROJECT
        parser.add_argument(
            f"--{spec.name}", metavar=spec.project_metavar, default=None,
            help=f"TUI: also show this {spec.label} project's runs (read-only; default: the "
            f"user config's {spec.name}: tui_project; 'none' shows none)",
        )
    parser.add_argument(
        "--read-only", "--read_only", dest="read_only", action="store_true",
        help="TUI: look only: nothing can be launched, cancelled, resumed or deleted",
    )
    parser.add_argument("--open", dest="open_run", metavar="RUN", default=None,
                        help="TUI: open this run's detail first (a run id or a unique part)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module_name in COMMANDS:
        importlib.import_module(module_name).register(sub, common)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str | None):
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction) and name:
            return action.choices.get(name)
    return None


def _prints_a_document(args: argparse.Namespace) -> bool:
    """Whether the command's stdout is one machine-readable document (--json, predict's
    --jsonl, compare's csv/tsv/json on stdout): nothing else may reach it."""
    if getattr(args, "json", False) or getattr(args, "jsonl", False):
        return True
    return getattr(args, "command", None) == "compare" and not getattr(args, "output", None) \
        and getattr(args, "format", None) in ("csv", "tsv", "json")


def main(argv: list[str] | None = None) -> int:
    program = argv is None  # the process is ours to end (not a caller's, such as a test)
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Report against the subcommand's own flags, so the suggestion is one it accepts.
        sub = _subparser(parser, getattr(args, "command", None)) or parser
        print(f"emotui: error: {unknown_argument_message(sub, unknown[0])}", file=sys.stderr)
        return 2
    handler = getattr(args, "handler", None)
    try:
        if handler is None:
            from emotui.tui.app import run_tui  # lazy: only with no command (textual, the TUI)

            return run_tui(runs_dir=args.runs_dir, read_only=args.read_only,
                           projects={spec.name: getattr(args, spec.name) for spec in TRACKERS},
                           first_run=args.open_run)
        if _prints_a_document(args):
            with document_stdout():  # what libraries print goes to stderr
                return int(handler(args) or 0)
        return int(handler(args) or 0)
    except EmotuiError as exc:
        print(f"emotui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("emotui: interrupted", file=sys.stderr)
        if program:
            end_process_if_abandoned(130)  # a second Ctrl-C left training running in a thread
        return 130
    except BrokenPipeError:  # `emotui ls | head`
        return 0
    except Exception as exc:
        # A bug, not bad input: still one line for the user; the traceback on request.
        if os.environ.get("EMOTUI_DEBUG"):
            raise
        print(f"emotui: internal error: {type(exc).__name__}: {exc} "
              "(rerun with EMOTUI_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return 1
