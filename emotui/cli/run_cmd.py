"""`emotui run`: train one run from flags and/or a YAML config: inline (in the foreground), or
detached on a local process or Slurm (emotui.cli.launch_opts); --resume continues a run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from emotui.cli.flags import add_config_flags, config_from_args
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.lifecycle import create_run, discard_run, never_started, record_failure
from emotui.core.methods import describe
from emotui.core.runstore import RunPaths, RunStore
from emotui.train.preflight import check_before_run

DESCRIPTION = f"""\
Train a text classifier with one of these methods (--method NAME):
{describe()}
Accepts the study's train.py flags unchanged instead (e.g. --model_name_or_path roberta-base
--dataset_name dair-ai/emotion --peft_method lora --lora_r 8 --learning_rate 2e-4).
Settings: defaults < user config file < --config FILE < flags.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "run", parents=[common], help="train one run (foreground by default)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the results object as JSON")
    out.add_argument("--quiet", "-q", action="store_true", help="no live display")
    add_config_flags(parser)
    from emotui.tracking.settings import add_wandb_flags

    add_wandb_flags(parser)
    from emotui.cli.launch_opts import add_launch_flags

    add_launch_flags(parser)
    from emotui.cli.seed_runs import add_seeds_flag

    add_seeds_flag(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from emotui.cli.launch_opts import choose_backend, handle_resume, launch_detached
    from emotui.core.errors import or_list
    from emotui.launch.registry import backend_names, backend_spec
    from emotui.tracking.settings import run_choices_from_args, status_fields

    if args.seeds is not None:
        from emotui.cli.seed_runs import run_seed_group

        return run_seed_group(args)
    if args.resume:
        return handle_resume(args, run_inline)
    config, sections = config_from_args(args)
    wandb_choices = status_fields(run_choices_from_args(args, sections))
    store = RunStore(args.runs_dir)
    backend = choose_backend(args, sections)
    if backend_spec(backend).detached:
        return launch_detached(args, store, config, sections, backend, wandb_choices)
    if args.follow:
        raise ConfigError(f"--follow is for --backend {or_list(backend_names(detached=True))} "
                          f"({backend} runs always show their progress)")
    from emotui.cli.launch_opts import resources_for

    resources_for(args, backend, sections)  # Slurm flags on an inline run: a one-line error
    check_before_run(config)  # the model folder and data files: last, they are read
    paths = create_run(store, config, backend=backend, **wandb_choices)
    return run_inline(paths, config, json_output=args.json, quiet=args.quiet)


def run_inline(paths: RunPaths, config: RunConfig, *, json_output: bool, quiet: bool,
               resume: bool = False,
               emit_json: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Train in this process (launch.foreground: Ctrl-C stops it after a checkpoint), show its
    progress and report. ``emit_json`` takes the results --json would print (a seed group
    prints its runs' results together)."""
    from rich.console import Console

    from emotui.cli.follow import follow_run
    from emotui.launch.foreground import record_interrupted, run_in_foreground

    console = Console(stderr=json_output)
    if not json_output:
        # The values nobody gave, so a run never trains on a rate the user cannot see.
        filled = ", ".join(f"{k}={getattr(config, k)}" for k in config.method_defaults)
        # Piped, a line stays whole (Rich would fold it at 80 columns); in a terminal Rich
        # wraps it between words, the terminal itself anywhere.
        whole = not console.is_terminal
        console.print(f"[dim]run[/] [bold]{paths.run_id}[/]  ({config.method}, "
                      f"{config.model_name_or_path})", soft_wrap=whole, highlight=False)
        if filled:
            console.print(f"[dim]method defaults:[/] {filled}", soft_wrap=whole,
                          highlight=False)

    def show(done) -> None:
        follow_run(paths, console, done=done)

    def stopping(how: str) -> None:
        console.print("[yellow]stopping: saving a checkpoint (Ctrl-C again to abort)...[/]")

    run = run_in_foreground(paths, config, resume=resume,
                            show=None if quiet or json_output else show, on_interrupt=stopping)
    if run.interrupted:
        record_interrupted(paths, run.interrupted)
        raise KeyboardInterrupt
    error = run.error
    if never_started(paths, error, resume=resume):
        discard_run(paths)
        raise error
    if error is not None:
        return report_failure(paths, error, console)
    results = run.results
    if json_output and emit_json is not None:
        emit_json(results)
    elif json_output:
        print(json.dumps(results, indent=2))
    else:
        print_summary(results, console)
    return 0


def report_failure(paths: RunPaths, error: BaseException, console: Any) -> int:
    status = record_failure(paths, error)
    print(f"emotui: run {paths.run_id} {status.get('state')}: {status.get('reason')} "
          f"(details: emotui logs {paths.run_id} --stderr)", file=sys.stderr)
    if isinstance(error, EmotuiError):
        return error.exit_code
    return 1


def print_summary(results: dict[str, Any], console: Any) -> None:
    from emotui.cli.render import results_table

    console.print(results_table(results))
