"""`emotui run` options for where a run executes: --backend, --follow, --resume, Slurm resources.

``emotui run --backend local|slurm`` creates the run directory, submits it, prints the run id
(``--json``: ``{"run_id", "status", "backend", "job_id"}``) and returns; ``--follow`` then shows
live progress until the run ends. ``emotui run --resume RUN`` continues a failed, cancelled or
preempted run from its last checkpoint, on the backend it ran on unless --backend says otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any

from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.runstore import RunPaths, RunStore

SLURM_DEST = "slurm__"
BACKEND_CHOICES = ("inline", "local", "slurm")
FINISHED = ("completed", "failed", "cancelled")


def add_launch_flags(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group(
        "where it runs",
        "inline (default): in this terminal. local: a detached process that outlives this "
        "command. slurm: an sbatch job (submitit). Detached runs print their id and return.",
    )
    where.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                       help="inline, local or slurm (default: the --config file's or user "
                       "config's 'backend:', else inline)")
    where.add_argument("--follow", "-f", action="store_true",
                       help="with local/slurm: show live progress until the run ends")
    where.add_argument("--resume", metavar="RUN", default=None,
                       help="continue a failed, cancelled or preempted run from its last "
                       "checkpoint (same run id, saved config)")
    slurm = parser.add_argument_group(
        "slurm resources",
        "Also read from the 'slurm:' section of --config FILE and of the user config "
        "(~/.config/emotui/config.yaml); flags win.",
    )

    def add(flag: str, key: str, help: str, **kw: Any) -> None:
        slurm.add_argument(flag, dest=SLURM_DEST + key, default=None, help=help, **kw)

    add("--partition", "partition", "partition (queue)", metavar="NAME")
    add("--gpus", "gpus", "GPUs per node (--gpus-per-node)", metavar="N")
    add("--gres", "gres", "generic resources, e.g. gpu:a100:1 (instead of --gpus)", metavar="SPEC")
    add("--cpus-per-task", "cpus_per_task", "CPUs for the job", metavar="N")
    add("--mem", "mem", "memory per node, e.g. 32G", metavar="SIZE")
    add("--time", "time", "time limit: minutes or [D-]HH:MM:SS (default: the partition's)",
        metavar="LIMIT")
    add("--account", "account", "account to charge", metavar="NAME")
    add("--qos", "qos", "quality of service", metavar="NAME")
    add("--constraint", "constraint", "node features, e.g. a100", metavar="EXPR")
    add("--sbatch-arg", "sbatch_args", "any other sbatch option as KEY=VALUE (repeatable), "
        "e.g. --sbatch-arg mail-type=END", metavar="KEY=VALUE", action="append")
    add("--setup", "setup", "shell line run before the job starts (repeatable), e.g. "
        "'module load cuda/12.4'", metavar="LINE", action="append")


def slurm_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    return {dest[len(SLURM_DEST):]: value for dest, value in vars(args).items()
            if dest.startswith(SLURM_DEST) and value is not None}


def _backend_setting(value: Any, source: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # backend: {name: slurm}
        value = value.get("name")
    if value not in BACKEND_CHOICES:
        raise ConfigError(f"backend (from {source}) must be one of: {', '.join(BACKEND_CHOICES)}; "
                          f"got {value!r}")
    return value


def choose_backend(args: argparse.Namespace, sections: dict[str, Any],
                   previous: str | None = None) -> str:
    """--backend > --config 'backend:' > (a resumed run's own backend) > user config > inline."""
    if args.backend:
        return args.backend
    from emotui.core.userconfig import load_user_config, user_config_path

    chosen = _backend_setting(sections.get("backend"), str(getattr(args, "config_file", "")))
    if chosen:
        return chosen
    if previous:
        return previous
    user = _backend_setting(load_user_config().get("backend"), str(user_config_path()))
    return user or "inline"


def resources_for(args: argparse.Namespace, backend: str, sections: dict[str, Any],
                  previous: dict[str, Any] | None = None):
    """SlurmResources for a slurm run; refuses Slurm flags for another backend."""
    flags = slurm_flag_values(args)
    if backend != "slurm":
        if flags:
            names = ", ".join("--" + k.replace("_", "-").replace("sbatch-args", "sbatch-arg")
                              for k in flags)
            verb = "applies" if len(flags) == 1 else "apply"
            raise ConfigError(f"{names} {verb} to --backend slurm, but this run is {backend}; "
                              "add --backend slurm or drop them")
        return None
    from emotui.core.userconfig import user_config_path, user_section
    from emotui.launch.resources import merge_resources

    base = (("previous submission", previous) if previous
            else (f"{user_config_path()} (slurm:)", user_section("slurm")))
    return merge_resources([
        base,
        (f"{getattr(args, 'config_file', None) or '--config file'} (slurm:)",
         sections.get("slurm")),
        ("command line", flags),
    ])


def _summary(paths: RunPaths, status: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": paths.run_id, "status": status.get("state"),
            "backend": status.get("backend"), "job_id": status.get("job_id")}


def launch_detached(args: argparse.Namespace, store: RunStore, config, sections: dict[str, Any],
                    backend_name: str, status_extra: dict[str, Any], create_run) -> int:
    """Create the run, submit it to a local/slurm backend, report, optionally follow."""
    from emotui.launch import get_backend

    resources = resources_for(args, backend_name, sections)  # bad settings: nothing created
    backend = get_backend(backend_name)
    paths = create_run(store, config, backend=backend_name, **status_extra)
    try:
        status = backend.submit(paths, resources=resources)
    except BaseException:
        shutil.rmtree(paths.root, ignore_errors=True)
        raise
    return _report(args, paths, status)


def handle_resume(args: argparse.Namespace, run_inline) -> int:
    """`emotui run --resume RUN [--backend B] [slurm flags]`."""
    from emotui.cli.flags import flag_values
    from emotui.core.config import config_from_yaml
    from emotui.core.status import read_status, write_status
    from emotui.launch import get_backend
    from emotui.launch.monitor import prepare_resume

    given = sorted(flag_values(args))
    if given or getattr(args, "config_file", None):
        shown = ", ".join("--" + g for g in given) or "--config"
        raise ConfigError(f"--resume continues a run with its saved config; drop {shown} "
                          "(or start a new run)")
    store = RunStore(args.runs_dir)
    paths = store.find(args.resume)
    before = read_status(paths)
    backend_name = choose_backend(args, {}, previous=before.get("backend"))
    previous_resources = before.get("resources") if before.get("backend") == "slurm" else None
    resources = resources_for(args, backend_name, {}, previous=previous_resources)
    config = config_from_yaml(paths.config)
    prepare_resume(paths)
    if backend_name == "inline":
        write_status(paths, backend="inline")
        return run_inline(paths, config, json_output=args.json, quiet=args.quiet, resume=True)
    try:
        write_status(paths, backend=backend_name)
        status = get_backend(backend_name).submit(paths, resume=True, resources=resources)
    except BaseException:
        write_status(paths, **{k: before.get(k) for k in ("state", "reason", "backend", "ended")})
        raise
    return _report(args, paths, status)


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

        from emotui.cli.render import results_table
        from emotui.core.runstore import read_json

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

    from emotui.cli.follow import follow_run
    from emotui.core.status import read_status
    from emotui.launch.monitor import refresh_runs

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
