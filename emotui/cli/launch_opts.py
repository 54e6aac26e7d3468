"""`emotui run` options for where a run executes: --backend, --follow, --resume, and the
resources of the backends that take them (Slurm's), as their specs declare.

``emotui run --backend local|slurm`` creates the run directory, submits it, prints the run id
(``--json``: ``{"run_id", "status", "backend", "job_id"}``) and returns; ``--follow`` then shows
live progress until the run ends. ``emotui run --resume RUN`` continues a failed, cancelled or
preempted run from its last checkpoint, on the backend it ran on unless --backend says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from emotui.cli.flags import add_schema_flags, flag_values, schema_flag_values
from emotui.cli.follow import follow_run
from emotui.cli.inline_run import run_inline
from emotui.cli.render import results_table
from emotui.core.config import config_from_yaml
from emotui.core.errors import ConfigError, EmotuiError, or_list
from emotui.core.lifecycle import FINISHED
from emotui.core.runstore import RunPaths, RunStore, read_json
from emotui.core.status import read_status
from emotui.core.userconfig import load_user_config, user_config_path
from emotui.launch import runs
from emotui.launch.monitor import refresh_runs
from emotui.launch.registry import (
    DEFAULT_BACKEND,
    backend_names,
    backend_spec,
    backend_specs,
    backends_taking,
    resource_settings,
)


def add_launch_flags(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group(
        "where it runs",
        " ".join(f"{spec.name}{' (default)' if spec.name == DEFAULT_BACKEND else ''}: "
                 f"{spec.help}." for spec in backend_specs())
        + " Detached runs print their id and return.",
    )
    where.add_argument("--backend", choices=backend_names(), default=None,
                       help=f"{or_list(backend_names())} (default: the --config file's or user "
                       f"config's 'backend:', else {DEFAULT_BACKEND})")
    where.add_argument("--follow", "-f", action="store_true",
                       help=f"with {'/'.join(backend_names(detached=True))}: show live "
                       "progress until the run ends")
    where.add_argument("--resume", metavar="RUN", default=None,
                       help="continue a failed, cancelled or preempted run from its last "
                       "checkpoint (same run id, saved config)")
    where.add_argument("--force", action="store_true",
                       help="with --resume: take over a run whose claim's time lies in the "
                       "future (a clock running ahead), so whether its holder lives cannot be "
                       "told; warns, and never overrules a live process on this machine")
    for resources in resource_settings():  # "slurm resources": --partition, --gpus, ...
        group = parser.add_argument_group(
            f"{resources.section} resources",
            f"Also read from the '{resources.section}:' section of --config FILE and of the user "
            "config (~/.config/emotui/config.yaml); flags win.",
        )
        add_schema_flags(resources.schema, lambda _group, group=group: group)


def resource_flag_values(args: argparse.Namespace) -> list[tuple[Any, dict[str, Any]]]:
    """(the ResourceSettings, its settings given as flags) for each kind of resources that got
    flags on this command line."""
    given = [(resources, schema_flag_values(resources.schema, args))
             for resources in resource_settings()]
    return [(resources, flags) for resources, flags in given if flags]


def _backend_setting(value: Any, source: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # backend: {name: slurm}
        value = value.get("name")
    if value not in backend_names():
        raise ConfigError(f"backend (from {source}) must be one of: {', '.join(backend_names())}"
                          f"; got {value!r}")
    return value


def choose_backend(args: argparse.Namespace, sections: dict[str, Any],
                   previous: str | None = None) -> str:
    """--backend > --config 'backend:' > (a resumed run's own backend) > user config > inline."""
    if args.backend:
        return args.backend
    chosen = _backend_setting(sections.get("backend"), str(getattr(args, "config_file", "")))
    if chosen:
        return chosen
    if previous:
        return previous
    user = _backend_setting(load_user_config().get("backend"), str(user_config_path()))
    return user or DEFAULT_BACKEND


def resources_for(args: argparse.Namespace, backend: str, sections: dict[str, Any],
                  previous: dict[str, Any] | None = None):
    """The resources (the spec's ``resources.cls``) for a backend that takes them, from its
    config section and flags; refuses resources flags another backend takes."""
    takes = backend_spec(backend).resources
    flags: dict[str, Any] = {}
    for resources, given in resource_flag_values(args):
        if resources == takes:
            flags = given
            continue
        schema = resources.schema
        names = ", ".join(schema.flag_spellings(schema.fields[k])[0] for k in given)
        verb = "applies" if len(given) == 1 else "apply"
        takers = or_list(backends_taking(resources))
        raise ConfigError(f"{names} {verb} to --backend {takers}, but this run is "
                          f"{backend}; add --backend {takers} or drop them")
    if takes is None:
        return None
    return takes.from_sources(sections.get(takes.section), flags, previous=previous or None,
                              config_source=getattr(args, "config_file", None)
                              or "--config file")


def _summary(paths: RunPaths, status: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": paths.run_id, "status": status.get("state"),
            "backend": status.get("backend"), "job_id": status.get("job_id")}


def launch_detached(args: argparse.Namespace, store: RunStore, config, sections: dict[str, Any],
                    backend_name: str, status_extra: dict[str, Any]) -> int:
    """Create the run, submit it to a local/slurm backend, report, optionally follow."""
    resources = resources_for(args, backend_name, sections)  # bad settings: nothing created
    paths, status = runs.start(store, config, backend=backend_name, resources=resources,
                               **status_extra)
    return _report(args, paths, status)


def handle_resume(args: argparse.Namespace) -> int:
    """`emotui run --resume RUN [--backend B] [slurm flags]`."""
    given = sorted(flag_values(args))
    if given or getattr(args, "config_file", None):
        shown = ", ".join("--" + g for g in given) or "--config"
        raise ConfigError(f"--resume continues a run with its saved config; drop {shown} "
                          "(or start a new run)")
    store = RunStore(args.runs_dir)
    paths = store.find(args.resume)
    before = read_status(paths)
    backend_name = choose_backend(args, {}, previous=before.get("backend"))
    # The resources of the last submission apply again on the same backend.
    previous_resources = before.get("resources") if before.get("backend") == backend_name \
        else None
    resources = resources_for(args, backend_name, {}, previous=previous_resources)
    config = config_from_yaml(paths.config)

    def waiting(alive: list[str]) -> None:
        print(f"run {paths.run_id} is still stopping ({', '.join(alive)}); waiting for it to "
              "exit...", file=sys.stderr, flush=True)

    def train_here(resumed: RunPaths) -> int:
        return run_inline(resumed, config, json_output=args.json, quiet=args.quiet,
                          resume=True)

    def warn(notice: str) -> None:
        print(f"emotui: warning: {notice}", file=sys.stderr, flush=True)

    outcome = runs.resume(paths, backend=backend_name, resources=resources, on_wait=waiting,
                          train_here=train_here, warn=warn, force=args.force)
    if not backend_spec(backend_name).detached:
        return outcome
    return _report(args, paths, outcome)


def _report(args: argparse.Namespace, paths: RunPaths, status: dict[str, Any]) -> int:
    summary = _summary(paths, status)
    if not args.follow:
        if args.json:
            print(json.dumps(summary))
        else:
            job = f" (job {summary['job_id']})" if summary["job_id"] else ""
            rid = paths.run_id
            print(f"{summary['status']}: run {rid} on {summary['backend']}{job}\n"
                  f"  watch: emotui show {rid} | emotui logs {rid} -f | emotui cancel {rid}")
        return 0
    if not args.json:
        job = f" (job {summary['job_id']})" if summary["job_id"] else ""
        print(f"{summary['status']}: run {paths.run_id} on {summary['backend']}{job}", flush=True)
    final = follow_detached(paths, json_output=args.json)
    summary = _summary(paths, final)
    if args.json:
        print(json.dumps(dict(summary, reason=final.get("reason"))))
    elif final.get("state") == "completed":
        from rich.console import Console

        results = read_json(paths.results)
        if results:
            Console().print(results_table(results))
    else:
        print(f"emotui: run {paths.run_id} {final.get('state')}: {final.get('reason')} "
              f"(details: emotui logs {paths.run_id} --stderr)", file=sys.stderr)
    return 0 if final.get("state") == "completed" else 1


def follow_detached(paths: RunPaths, *, json_output: bool = False,
                    refresh_every_s: float = 3.0) -> dict[str, Any]:
    """Live progress (follow.py) until the run ends; the backend is asked every few seconds,
    so a job killed by the scheduler ends the display too."""
    from rich.console import Console

    last = [0.0]

    def done() -> bool:
        if read_status(paths).get("state") in FINISHED:
            return True
        if time.monotonic() - last[0] < refresh_every_s:
            return False
        last[0] = time.monotonic()
        try:
            return refresh_runs([paths])[paths.run_id].get("state") in FINISHED
        except EmotuiError:
            return False

    console = Console(stderr=json_output)
    follow_run(paths, console, done=done)
    return read_status(paths)
