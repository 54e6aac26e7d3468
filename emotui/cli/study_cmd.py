"""`emotui study`: search each method, pick winners on validation, confirm with seeds, test,
report and export, as one resumable command (emotui.study)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from emotui.cli import sweep_cmd
from emotui.cli.flags import add_tracker_flags
from emotui.core.errors import ConfigError
from emotui.core.runstore import RUN_ID_RE, RunStore, read_json

DESCRIPTION = """\
Run a study: a comparison of methods, end to end. For each method, search (a sweep), select
the winner on a VALIDATION metric, confirm it with several seeds, gather the test results
(mean ± std), then write the report and export each method's best run.

  emotui study FILE [options]          a study file (model, data, fixed, methods, search,
                                       select, confirm, budget, report, export; see README)
  emotui study SWEEP.yaml... [options] W&B sweep files, each one method's search
  emotui study resume STUDY            continue an interrupted study
  emotui study status STUDY            phases, trials done/planned, best so far, budget, ETA
  emotui study ls                      the studies in the run store

Running the same command again continues the study: nothing finished is redone, nothing is
lost. State lives in <runs>/studies/<study id>/; each search and confirmation is an ordinary
sweep (<study id>-search-<method>, <study id>-confirm-<method>).
"""
EPILOG = """\
examples:
  emotui study sweep_configs/study.yaml --dry-run
  emotui study sweep_configs/study-cpu.yaml
  emotui study sweep_configs/full_finetuning.yaml sweep_configs/lora.yaml \\
      sweep_configs/prompt_tuning_hard.yaml sweep_configs/prompt_tuning_soft.yaml \\
      --confirm-seeds 1,2,3 --backend slurm --max-parallel 8
"""
ACTIONS = ("resume", "status", "ls")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "study", parents=[common], help="search, select on validation, confirm with seeds, "
        "test, report and export: a comparison of methods", description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("targets", nargs="+", metavar="FILE",
                        help="a study file, W&B sweep files, or resume / status / ls (+ STUDY)")
    sweep_cmd.add_backend_flags(parser)
    parser.add_argument("--confirm-seeds", "--confirm_seeds", dest="confirm_seeds",
                        metavar="S1,S2,...", default=None,
                        help="seeds each method's winner is rerun with (overrides confirm: "
                        "seeds of a study file), e.g. 1,2,3")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="pin a setting for every run, like fixed: "
                        "(it also replaces a searched setting; repeatable)")
    parser.add_argument("--name", default=None, metavar="ID",
                        help="study id (default: <name or file stem>-<hash of its settings>)")
    parser.add_argument("--config", dest="config_file", default=None, metavar="FILE",
                        help="YAML with slurm: / backend: / wandb: sections for the backend")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="validate and print the plan (runs per phase and method) and its "
                        "cost estimate; start nothing")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document on stdout (messages go to stderr)")
    add_tracker_flags(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    first, rest = args.targets[0], args.targets[1:]
    if first in ACTIONS and not Path(first).is_file():
        if first == "ls":
            if rest:
                raise ConfigError(f"unexpected argument '{rest[0]}'; 'emotui study ls' takes none")
            return _ls(store, args)
        if len(rest) != 1:
            raise ConfigError(f"'emotui study {first}' needs one study id; 'emotui study ls' "
                              "lists them")
        return _status(store, rest[0], args) if first == "status" else \
            _resume(store, rest[0], args)
    return _start(store, args)


def _start(store: Any, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (24 ms)
    from emotui.study.study_file import load_study
    from emotui.study.store import StudyStore

    spec = load_study(args.targets, confirm_seeds=args.confirm_seeds, overrides=args.overrides)
    backend, parallel = sweep_cmd._backend(args)
    study_id = _study_id(args.name, spec)
    paths = StudyStore(store.root).paths(study_id)
    existing = read_json(paths.spec)
    if existing is not None and existing.get("fingerprint") != spec.fingerprint():
        raise ConfigError(f"study {study_id} exists with other settings (from "
                          f"{existing.get('source')}); pick another --name or continue it with "
                          f"'emotui study resume {study_id}'")
    if args.dry_run:
        return _dry_run(spec, study_id, store, parallel, existing is not None, args)
    _preflight(spec)
    sections = sweep_cmd._sections(args)
    trial_status = sweep_cmd._trial_status(args)
    _check_launcher(args, backend, parallel, sections)
    if existing is None:
        from emotui.study.store import create_study_dir

        data = {**spec.to_json(), "fingerprint": spec.fingerprint(),
                "trial_status": trial_status}
        create_study_dir(paths, data, [Path(f) for f in args.targets], list(spec.methods))
    return _drive(spec, paths, store, args, backend, parallel, sections,
                  resumed=existing is not None, trial_status=trial_status)


def _study_id(name: str | None, spec: Any) -> str:
    if name is None:
        return spec.default_id()
    if not RUN_ID_RE.match(name) or ".." in name or len(name) > 44:
        raise ConfigError(f"--name {name!r}: a study id has 3 to 44 lowercase letters, digits, "
                          "'.', '_' or '-'")
    return name


def _preflight(spec: Any) -> None:
    """The model folder and data files, checked before the study exists (study.plan)."""
    # lazy: keeps `emotui --help` fast (43 ms)
    from emotui.study.plan import check_inputs

    check_inputs(spec)


def _check_launcher(args: argparse.Namespace, backend: str, parallel: int,
                    sections: dict[str, Any]) -> None:
    """The backend's settings (Slurm's partition, ...) checked before the study exists."""
    # lazy: keeps `emotui --help` fast (4 ms)
    from emotui.sweep.launching import make_launcher

    sharing = sweep_cmd._sharing(args, backend)
    make_launcher(backend, max_parallel=parallel, sections=sections, sharing=sharing,
                  gpus=sweep_cmd._gpus(backend, sharing), sweep_id="study-check").close()


def _dry_run(spec: Any, study_id: str, store: Any, parallel: int, exists: bool,
             args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (47 ms)
    from emotui.study.plan import estimate_study
    from emotui.sweep.estimate import describe

    plan = estimate_study(spec, store, parallel)
    if args.json:
        doc = {
            "study_id": study_id, "exists": exists,
            "metric": {"name": spec.metric.name, "goal": spec.metric.goal},
            "confirm_seeds": spec.confirm_seeds, "budget": spec.budget.to_json(),
            "methods": [m.as_json() for m in plan.methods],
            "search_trials": plan.search_trials, "confirm_runs": plan.confirm_runs,
            "total_runs": plan.total,
            "estimate": {phase: _estimate_json(est) for phase, est in
                         (("search", plan.search), ("confirm", plan.confirm)) if est},
        }
        print(json.dumps(doc, indent=2, default=str))
        return 0
    from emotui.cli.study_table import print_plan

    lines = []
    for phase, est in (("search", plan.search), ("confirm", plan.confirm)):
        if est is not None:
            lines += [f"{phase} {line}" for line in describe(est)]
    print_plan(_console(), study_id, plan, spec, exists, lines)
    return 0


def _estimate_json(estimate: Any) -> dict[str, Any]:
    return {"trials_estimated": len(estimate.estimated),
            "trials_without_basis": len(estimate.unestimated),
            "device_hours": estimate.device_hours, "wall_s": estimate.wall_s,
            "devices": estimate.devices, "max_parallel": estimate.max_parallel}


def _resume(store: Any, ref: str, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (47 ms)
    from emotui.study.store import StudyStore
    from emotui.study.summary import load_spec

    paths = StudyStore(store.root).find(ref)
    spec = load_spec(paths)
    if args.overrides or args.confirm_seeds:
        raise ConfigError("--set and --confirm-seeds cannot change a study being resumed; start "
                          "a new one with 'emotui study FILE ...'")
    previous = read_json(paths.controller) or {}
    if args.backend is None and args.max_parallel is None and args.trials_per_gpu is None:
        args.trials_per_gpu = previous.get("trials_per_gpu")
        args.mps = args.mps or (previous.get("mps") if args.trials_per_gpu else None)
    backend, parallel = sweep_cmd._backend(args)
    if args.backend is None and args.max_parallel is None:
        backend = previous.get("backend") or backend
        parallel = int(previous.get("max_parallel") or parallel)
    if args.dry_run:
        return _dry_run(spec, paths.study_id, store, parallel, True, args)
    sections = sweep_cmd._sections(args)
    saved = read_json(paths.spec) or {}
    return _drive(spec, paths, store, args, backend, parallel, sections, resumed=True,
                  trial_status=saved.get("trial_status") or {})


def _drive(spec: Any, paths: Any, store: Any, args: argparse.Namespace, backend: str,
           parallel: int, sections: dict[str, Any], *, resumed: bool,
           trial_status: dict[str, Any]) -> int:
    # lazy: keeps `emotui --help` fast (84 ms)
    from emotui.study.controller import StudyController
    from emotui.study.summary import summarize_study
    from emotui.sweep.launching import SweepInterrupted

    echo = sweep_cmd._echo(args.json)
    sharing = sweep_cmd._sharing(args, backend)
    echo(f"study {paths.study_id}: {'continuing' if resumed else 'starting'} "
         f"({len(spec.methods)} methods, backend {backend}"
         + (f", {parallel} at a time" if parallel > 1 else "") + f"); state in {paths.root}")
    controller = StudyController(spec, paths, store, backend=backend, max_parallel=parallel,
                                 sharing=sharing, gpus=sweep_cmd._gpus(backend, sharing),
                                 sections=sections, echo=echo, trial_status=trial_status)
    try:
        controller.run()
    except (SweepInterrupted, KeyboardInterrupt):
        print(f"emotui: study {paths.study_id} interrupted; continue it with: emotui study "
              f"resume {paths.study_id}", file=sys.stderr)
        return 130
    summary = summarize_study(paths, store)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        from emotui.cli.study_table import print_status

        print_status(_console(), summary)
    tested = [m for m in summary["methods"] if (m["test"] or {}).get("completed")]
    return 0 if tested else 1


def _status(store: Any, ref: str, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (51 ms)
    from emotui.study.store import StudyStore
    from emotui.study.summary import summarize_study

    summary = summarize_study(StudyStore(store.root).find(ref), store)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    from emotui.cli.study_table import print_status

    print_status(_console(), summary)
    return 0


def _ls(store: Any, args: argparse.Namespace) -> int:
    # lazy: keeps `emotui --help` fast (51 ms)
    from emotui.study.summary import list_studies

    rows = list_studies(store)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    from emotui.cli.study_table import print_studies

    print_studies(_console(), rows)
    return 0


def _console() -> Any:
    from rich.console import Console

    return Console()
