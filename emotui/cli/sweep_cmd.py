"""`emotui sweep`: run a W&B sweep file offline (or through W&B), resume it, show its status."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from emotui.cli.flags import add_tracker_flags, tracker_status_fields
from emotui.cli.follow import follow_run
from emotui.cli.units import plain, plural
from emotui.core.config_files import read_yaml_mapping, split_sections
from emotui.core.errors import ConfigError, or_list
from emotui.core.runstore import RunStore, read_json
from emotui.launch.gpu_share import MPS_CHOICES, visible_gpus
from emotui.launch.registry import backend_names, backend_spec, backend_specs

DESCRIPTION = """\
Run a W&B sweep file (method grid | random | bayes, metric, parameters, run_cap,
early_terminate: hyperband) with emotui's training, offline by default. The study's sweep files
run unchanged; --set pins a setting for every trial (e.g. --set num_train_epochs=1,
--set model_name_or_path=/models/minilm; `--set dataset_name=` unsets one).

  emotui sweep FILE [options]      start the sweep, or continue it (same file, same --set)
  emotui sweep resume SWEEP        continue an interrupted sweep
  emotui sweep status SWEEP        progress, best trial, trials sorted by the metric
  emotui sweep ls                  the sweeps in the run store

Finished trials are never rerun; a trial that was running when the sweep stopped is resumed
from its last checkpoint. State lives in <runs>/sweeps/<sweep id>/.
"""

ACTIONS = ("resume", "status", "ls")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "sweep", parents=[common], help="run a W&B sweep file offline or through W&B",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="FILE|resume|status|ls",
                        help="a sweep YAML file, or resume / status / ls")
    parser.add_argument("sweep", nargs="?", metavar="SWEEP",
                        help="sweep id (or a unique part of it) for resume / status")
    add_backend_flags(parser)
    parser.add_argument("--controller", choices=("offline", "wandb"), default="offline",
                        help="offline: emotui picks the trials (default); wandb: a W&B sweep and "
                        "agents (needs a W&B key and network)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="pin a setting for every trial (repeatable)")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="start at most N new trials now (random/bayes without run_cap need it)")
    parser.add_argument("--name", default=None, metavar="ID",
                        help="sweep id (default: <file stem>-<hash of its settings>)")
    parser.add_argument("--config", dest="config_file", default=None, metavar="FILE",
                        help="YAML with slurm: / backend: / wandb: sections for the backend")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="validate and print the trials it would start now; start nothing")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--force", action="store_true",
                        help="with resume: take the sweep over from a controller whose "
                        "controller.json's time lies in the future (a clock running ahead), so "
                        "whether it lives cannot be told; warns")
    add_tracker_flags(parser)  # W&B/trackio settings of the trials (and of the sweep, --controller wandb)
    parser.set_defaults(handler=handle)


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    """--backend, --max-parallel, --trials-per-gpu and --mps, as `emotui sweep` and `emotui study`
    take them."""
    parser.add_argument("--backend", choices=backend_names(), default=None,
                        help="where trials run (default: inline, one at a time in this process; "
                        "local when --max-parallel > 1)")
    parser.add_argument("--max-parallel", "--max_parallel", dest="max_parallel", type=int,
                        default=None, metavar="N", help="trials running at once "
                        f"({', '.join(backend_names(detached=True))})")
    pinning = tuple(s.name for s in backend_specs() if s.pins_gpus)
    packing = tuple(s.name for s in backend_specs() if s.packs_trials)
    parser.add_argument("--trials-per-gpu", "--trials_per_gpu", dest="trials_per_gpu", type=int,
                        default=None, metavar="K",
                        help="K trials at once on each GPU (a small model leaves a GPU idle). "
                        f"{or_list(pinning)}: each trial pinned to one of this machine's GPUs, "
                        "K per GPU, K x GPUs at once unless --max-parallel says fewer; with no "
                        "GPU here, K has no effect beyond --max-parallel. "
                        f"{or_list(packing)}: K trials in each one-GPU job. Without --backend: "
                        "local")
    parser.add_argument("--mps", choices=MPS_CHOICES, default=None,
                        help="CUDA MPS for --trials-per-gpu K > 1: auto (default) starts its "
                        "daemon where nvidia-cuda-mps-control exists, on insists, off shares "
                        "the GPU without it")


def handle(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    if args.target == "ls":
        return _ls(store, args)
    if args.target == "status":
        return _status(store, _need_ref(args), args)
    if args.target == "resume":
        return _resume(store, _need_ref(args), args)
    if args.sweep:
        raise ConfigError(f"unexpected argument '{args.sweep}'; see 'emotui sweep --help'")
    return _start(store, args)


def _need_ref(args: argparse.Namespace) -> str:
    if not args.sweep:
        raise ConfigError(f"'emotui sweep {args.target}' needs a sweep id; 'emotui sweep ls' "
                          "lists them")
    return args.sweep


def _echo(json_output: bool):
    def echo(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr if json_output else sys.stdout,
              flush=True)
    return echo


def _trial_display():
    """On a terminal, the live progress `emotui run` shows, for each trial trained here;
    piped, nothing (the sweep's own lines are the log)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        return None
    def show(paths: Any, done: Any) -> None:
        follow_run(paths, console, done=done)

    return show


def _count(args: argparse.Namespace) -> int | None:
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count must be >= 1, got {args.count}")
    return args.count


def _backend(args: argparse.Namespace) -> tuple[str, int]:
    parallel = args.max_parallel
    if parallel is not None and parallel < 1:
        raise ConfigError(f"--max-parallel must be >= 1, got {parallel}")
    sharing_asked = args.trials_per_gpu is not None
    backend = args.backend or ("local" if (parallel and parallel > 1) or sharing_asked
                               else "inline")
    sharing = _sharing(args, backend)
    if parallel and parallel > 1 and not backend_spec(backend).detached:
        raise ConfigError(f"the {backend} backend runs one trial at a time; add --backend "
                          f"{or_list(backend_names(detached=True))} for --max-parallel > 1")
    if sharing is not None and parallel is None:
        # lazy: keeps `emotui --help` fast (2 ms)
        from emotui.sweep.sharing import trials_at_once

        parallel = trials_at_once(backend, None, sharing, _gpus(backend, sharing))
    return backend, parallel or 1


def _sharing(args: argparse.Namespace, backend: str) -> Any:
    """--trials-per-gpu / --mps checked for this backend (sweep.sharing); None when not given."""
    # lazy: keeps `emotui --help` fast (2 ms)
    from emotui.sweep.sharing import check_sharing

    return check_sharing(backend, args.trials_per_gpu, args.mps)


def _gpus(backend: str, sharing: Any) -> list[str]:
    """This machine's GPUs where the backend pins trials to them (else none are needed)."""
    if sharing is None or not backend_spec(backend).pins_gpus:
        return []
    return visible_gpus()


def _sections(args: argparse.Namespace) -> dict[str, Any]:
    if not args.config_file:
        return {}
    _run, sections = split_sections(read_yaml_mapping(args.config_file))
    return sections


def _start(store: Any, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (34 ms)
    from emotui.sweep.runner import open_sweep, save_sweep

    count = _count(args)
    backend, parallel = _backend(args)
    spec, paths, exists = open_sweep(args.target, args.overrides, store, name=args.name)
    if args.controller == "wandb":
        from emotui.sweep.wandb_controller import run_wandb_sweep

        return run_wandb_sweep(spec, store, backend=backend, max_parallel=parallel, count=count,
                               project=args.wandb_project, entity=args.wandb_entity,
                               dry_run=args.dry_run,
                               echo=_echo(args.json), sections=_sections(args))
    if args.dry_run:
        from emotui.sweep.estimate import describe
        from emotui.sweep.runner import estimate_dry_run

        trials, starting, estimate = estimate_dry_run(spec, paths if exists else None, store,
                                                      count=count, max_parallel=parallel)
        if len(trials) < starting:
            print(f"emotui: the sweep would start {starting:,} trials; listing the first "
                  f"{len(trials)} (--count N starts, and lists, N of them)", file=sys.stderr)
        if args.json:
            for trial, trial_estimate in zip(trials, estimate.trials):
                trial["estimate"] = trial_estimate.as_json()
            print(json.dumps(trials, indent=2, default=str))
        else:
            _print_plan(spec, paths.sweep_id, trials, exists, starting)
            for line in describe(estimate):
                print(line)
        return 0
    if not exists:
        from emotui.sweep.runner import check_runnable

        check_runnable(spec, count)
    save_sweep(spec, paths, args.target, args.overrides, trial_status=_trial_status(args))
    return _drive(spec, paths, store, args, backend, parallel, count, resumed=exists)


def _trial_status(args: argparse.Namespace) -> dict[str, Any]:
    """Fields every trial's status.json starts with: the tracker choices of --wandb-*,
    --trackio-* / --config."""
    return tracker_status_fields(args, _sections(args))


def _resume(store: Any, ref: str, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (33 ms)
    from emotui.sweep.runner import load_saved
    from emotui.sweep.store import SweepStore

    paths = SweepStore(store.root).find(ref)
    spec = load_saved(paths)
    if args.overrides:
        raise ConfigError("--set cannot change a sweep being resumed; start a new one with "
                          "'emotui sweep FILE --set ...'")
    previous = read_json(paths.controller) or {}
    if args.backend is None and args.max_parallel is None and args.trials_per_gpu is None:
        # Shared GPUs as before (controller.json), unless the command says otherwise.
        args.trials_per_gpu = previous.get("trials_per_gpu")
        args.mps = args.mps or (previous.get("mps") if args.trials_per_gpu else None)
    backend, parallel = _backend(args)
    if args.backend is None and args.max_parallel is None:
        backend = previous.get("backend") or backend
        parallel = int(previous.get("max_parallel") or parallel)
    return _drive(spec, paths, store, args, backend, parallel, _count(args), resumed=True)


def _drive(spec: Any, paths: Any, store: Any, args: argparse.Namespace, backend: str,
           parallel: int, count: int | None, *, resumed: bool) -> int:
    # lazy: keeps `emotui --help` fast (33 ms)
    from emotui.sweep.launching import SweepInterrupted, make_launcher
    from emotui.sweep.runner import run_sweep
    from emotui.sweep.summary import summarize_sweep

    from emotui.sweep.sharing import describe

    echo = _echo(args.json)
    sharing = _sharing(args, backend)
    gpus = _gpus(backend, sharing)
    launcher = make_launcher(backend, max_parallel=parallel, sections=_sections(args),
                             sharing=sharing, gpus=gpus, sweep_id=paths.sweep_id)
    if launcher.blocking and not args.json:
        launcher.show = _trial_display()
    total = spec.planned_total()
    echo(f"sweep {paths.sweep_id}: {'continuing' if resumed else 'starting'} ({spec.method}, "
         f"{total if total is not None else '?'} trials planned, backend {backend}"
         + (f", {parallel} at a time" if parallel > 1 else "")
         + describe(backend, sharing, gpus) + ")")
    started = time.time()
    try:
        saved = read_json(paths.spec) or {}
        ending = run_sweep(spec, paths, store, launcher, max_parallel=parallel, count=count,
                           echo=echo, trial_status=saved.get("trial_status") or {},
                           force=args.force)
    except (SweepInterrupted, KeyboardInterrupt):
        print(f"emotui: sweep {paths.sweep_id} interrupted; continue it with: emotui sweep "
              f"resume {paths.sweep_id}", file=sys.stderr)
        return 130
    summary = summarize_sweep(paths, store)
    summary["ending"] = ending
    summary["elapsed_s"] = round(time.time() - started, 1)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_status(summary)
        hint = {"paused": f"more trials remain: emotui sweep resume {paths.sweep_id} --count N",
                "target_reached": "metric target reached"}.get(ending)
        if hint:
            print(hint)
    rows = summary["rows"]
    if rows and all(r["state"] == "failed" for r in rows):
        return 1
    return 0


def _status(store: Any, ref: str, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (6 ms)
    from emotui.sweep.store import SweepStore
    from emotui.sweep.summary import summarize_sweep

    paths = SweepStore(store.root).find(ref)
    summary = summarize_sweep(paths, store)
    for warning in summary["warnings"]:
        print(f"emotui: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_status(summary)
    return 0


def _ls(store: Any, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (7 ms)
    from emotui.sweep.store import SweepStore
    from emotui.sweep.summary import summarize_sweep

    items = []
    for paths in SweepStore(store.root):
        s = summarize_sweep(paths, store)
        for warning in s["warnings"]:
            print(f"emotui: warning: {warning}", file=sys.stderr)
        best = s["best"]
        items.append({
            "sweep_id": s["sweep_id"], "method": s["method"], "trials": s["trials"],
            "planned": s["planned"], "finished": s["finished"],
            "controller": s["controller"]["state"], "alive": s["controller"]["alive"],
            "metric": (s["metric"] or {}).get("name"),
            "best_value": best["value"] if best else None,
            "best_run": best["run_id"] if best else None,
        })
    if args.json:
        print(json.dumps(items, indent=2, default=str))
        return 0
    from emotui.cli.sweep_table import print_sweeps

    print_sweeps(_console(), items)
    return 0


def _print_plan(spec: Any, sweep_id: str, trials: list[dict[str, Any]], exists: bool,
                starting: int) -> None:
    # Settings as every table shows them (core.units.plain: 2e-05, 0.002, 16), one rule for
    # every hyperparameter.
    total = spec.planned_total()
    print(f"sweep {sweep_id}: {spec.method}, "
          f"{'? trials' if total is None else plural(total, 'trial')} planned"
          f"{' (exists: these are the ones not yet started)' if exists else ''}; would start "
          f"{starting:,} now:")
    for t in trials:
        params = ", ".join(f"{k}={plain(v)}" for k, v in t["params"].items()) \
            or "(no swept values)"
        # What the sweep file leaves to the method (its learning rate, ...), so no value is hidden.
        filled = ", ".join(f"{k}={plain(t['config'].get(k))}"
                           for k in t["config"].get("method_defaults") or ())
        print(f"  {t['trial']:>3}  {t['config']['method']:<20} {params}"
              + (f"; method defaults: {filled}" if filled else ""))
    if starting > len(trials):
        print(f"  ... and {starting - len(trials):,} more")


def _console() -> Any:
    from rich.console import Console

    # Piped or redirected, tables are TSV with whole values (emotui.cli.sweep_table).
    return Console()


def print_status(summary: dict[str, Any]) -> None:
    # lazy: keeps `emotui --help` fast (1 ms)
    from emotui.cli.sweep_table import print_status as print_sweep_status

    print_sweep_status(_console(), summary)
