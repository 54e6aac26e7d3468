"""Training a run in this terminal: the live display, Ctrl-C handling and the summary that
`emotui run` (inline), `emotui run --seeds` (inline) and `emotui run --resume` (inline) share."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from rich.console import Console

from emotui.cli.follow import follow_run
from emotui.cli.render import results_table
from emotui.core.config import RunConfig
from emotui.core.errors import EmotuiError
from emotui.core.lifecycle import discard_run, never_started, record_failure
from emotui.core.runstore import RunPaths
from emotui.core.status import RunFolderGone, StaleAttempt
from emotui.launch.foreground import record_interrupted, run_in_foreground


def run_inline(paths: RunPaths, config: RunConfig, *, json_output: bool, quiet: bool,
               resume: bool = False,
               emit_json: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Train in this process (launch.foreground: Ctrl-C stops it after a checkpoint), show its
    progress and report. ``emit_json`` takes the results --json would print (a seed group
    prints its runs' results together)."""
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
    if isinstance(error, (RunFolderGone, StaleAttempt)):
        print(f"emotui: {error}", file=sys.stderr)  # the run is not this process's any more
        return error.exit_code
    status = record_failure(paths, error)
    print(f"emotui: run {paths.run_id} {status.get('state')}: {status.get('reason')} "
          f"(details: emotui logs {paths.run_id} --stderr)", file=sys.stderr)
    if isinstance(error, EmotuiError):
        return error.exit_code
    return 1


def print_summary(results: dict[str, Any], console: Any) -> None:
    console.print(results_table(results))
