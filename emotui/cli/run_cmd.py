"""`emotui run`: train one run from flags and/or a YAML config: inline (in the foreground), or
detached on a local process or Slurm (emotui.cli.launch_opts); --resume continues a run."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
from typing import Any

from emotui.cli.flags import add_config_flags, config_from_args
from emotui.core.config import RunConfig, dump_config
from emotui.core.errors import ConfigError, DataError, EmotuiError
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import RunPaths, RunStore, atomic_write_text
from emotui.core.status import RunState, now, read_status, write_status

DESCRIPTION = """\
Train a text classifier: full fine-tuning, LoRA or prompt tuning (text- or random-initialised).
Accepts the study's train.py flags unchanged (e.g. --model_name_or_path roberta-base
--dataset_name dair-ai/emotion --peft_method lora --lora_r 8 --learning_rate 2e-4), or the short
--method full|lora|prompt-text|prompt-random. Settings: defaults < user config file <
--config FILE < flags.
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
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from emotui.cli.launch_opts import choose_backend, handle_resume, launch_detached
    from emotui.tracking.settings import run_choices_from_args, status_fields

    if args.resume:
        return handle_resume(args, run_inline)
    config, sections = config_from_args(args)
    wandb_choices = status_fields(run_choices_from_args(args, sections))
    store = RunStore(args.runs_dir)
    backend = choose_backend(args, sections)
    if backend != "inline":
        return launch_detached(args, store, config, sections, backend, wandb_choices, create_run)
    if args.follow:
        raise ConfigError("--follow is for --backend local or slurm (inline runs always show "
                          "their progress)")
    from emotui.cli.launch_opts import resources_for

    resources_for(args, backend, sections)  # Slurm flags on an inline run: a one-line error
    paths = create_run(store, config, backend="inline", **wandb_choices)
    return run_inline(paths, config, json_output=args.json, quiet=args.quiet)


def create_run(store: RunStore, config: RunConfig, *, backend: str, **status: Any) -> RunPaths:
    """A new run directory with its resolved config.yaml and a queued status.json."""
    paths = store.create(config.method)
    try:
        atomic_write_text(paths.config, dump_config(config))
        write_status(paths, run_id=paths.run_id, state=RunState.QUEUED, reason=None,
                     backend=backend, method=config.method, created=now(), **status)
    except BaseException:
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    return paths


def run_inline(paths: RunPaths, config: RunConfig, *, json_output: bool, quiet: bool,
               resume: bool = False) -> int:
    """Train in this process (in a worker thread, so Ctrl-C can stop it cleanly) and report."""
    from rich.console import Console

    from emotui.cli.follow import follow_run

    console = Console(stderr=json_output)
    outcome: dict[str, Any] = {}
    stop = threading.Event()

    def work() -> None:
        try:
            from emotui.train import train

            outcome["results"] = train(config, paths.root, resume=resume, stop_event=stop)
        except BaseException as exc:  # handed to the main thread, which decides what it means
            outcome["error"] = exc
        finally:
            finished.set()

    # Wait on our own flag, not Thread.join(): on CPython 3.11 a Ctrl-C landing inside join()
    # can mark a thread that is still training as dead.
    finished = threading.Event()
    with RunLogFiles(paths):
        worker = threading.Thread(target=work, name=f"train-{paths.run_id}", daemon=True)
        worker.start()
        if not json_output:
            console.print(f"[dim]run[/] [bold]{paths.run_id}[/]  ({config.method}, "
                          f"{config.model_name_or_path})")
        try:
            if quiet or json_output:
                while not finished.wait(0.5):
                    pass
            else:
                follow_run(paths, console, done=finished.is_set)
        except KeyboardInterrupt:
            console.print("[yellow]stopping: saving a checkpoint (Ctrl-C again to abort)...[/]")
            stop.set()
            while not finished.wait(0.5):
                pass
            write_status(paths, state=RunState.CANCELLED, ended=now(),
                         reason=f"interrupted (Ctrl-C); resume with: emotui run --resume "
                                f"{paths.run_id}")
            raise
    error = outcome.get("error")
    if isinstance(error, (ConfigError, DataError)) and not resume:
        # Bad input found while setting up: no run happened, so leave nothing behind.
        shutil.rmtree(paths.root, ignore_errors=True)
        raise error
    if error is not None:
        return report_failure(paths, error, console)
    results = outcome["results"]
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        print_summary(results, console)
    return 0


def report_failure(paths: RunPaths, error: BaseException, console: Any) -> int:
    status = read_status(paths)
    if status.get("state") not in (RunState.FAILED.value, RunState.CANCELLED.value,
                                   RunState.PREEMPTED.value):
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
        status = write_status(paths, state=RunState.FAILED, reason=reason, ended=now())
    print(f"emotui: run {paths.run_id} {status.get('state')}: {status.get('reason')} "
          f"(details: emotui logs {paths.run_id} --stderr)", file=sys.stderr)
    if isinstance(error, EmotuiError):
        return error.exit_code
    return 1


def print_summary(results: dict[str, Any], console: Any) -> None:
    from emotui.cli.render import results_table

    console.print(results_table(results))
