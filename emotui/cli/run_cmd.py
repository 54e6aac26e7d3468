"""`emotui run`: train one run from flags and/or a YAML config: inline (in the foreground), or
detached on a local process or Slurm (emotui.cli.launch_opts); --resume continues a run."""

from __future__ import annotations

import argparse

from emotui.cli.flags import (
    add_config_flags,
    add_tracker_flags,
    config_from_args,
    tracker_status_fields,
)
from emotui.cli.inline_run import run_inline
from emotui.cli.launch_opts import (
    add_launch_flags,
    choose_backend,
    handle_resume,
    launch_detached,
    resources_for,
)
from emotui.cli.seed_runs import add_seeds_flag, run_seed_group
from emotui.core.errors import ConfigError, or_list
from emotui.core.methods import describe
from emotui.core.runstore import RunStore
from emotui.launch import runs
from emotui.launch.registry import backend_names, backend_spec

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
    add_tracker_flags(parser)
    add_launch_flags(parser)
    add_seeds_flag(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.force and not args.resume:
        raise ConfigError("--force goes with --resume RUN (it takes over a run whose claim's "
                          "time lies in the future)")
    if args.seeds is not None:
        return run_seed_group(args)
    if args.resume:
        return handle_resume(args)
    config, sections = config_from_args(args)
    wandb_choices = tracker_status_fields(args, sections)
    store = RunStore(args.runs_dir)
    backend = choose_backend(args, sections)
    if backend_spec(backend).detached:
        return launch_detached(args, store, config, sections, backend, wandb_choices)
    if args.follow:
        raise ConfigError(f"--follow is for --backend {or_list(backend_names(detached=True))} "
                          f"({backend} runs always show their progress)")
    resources_for(args, backend, sections)  # Slurm flags on an inline run: a one-line error
    runs.check_start(config, backend, store)  # the model and data: last, they are read
    paths = runs.create(store, config, backend=backend, **wandb_choices)
    return run_inline(paths, config, json_output=args.json, quiet=args.quiet)
