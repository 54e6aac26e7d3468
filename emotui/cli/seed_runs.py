"""`emotui run --seeds 1,2,3`: one run per seed, grouped (core.seeds).

Inline, the runs train one after another in this terminal, each created just before it starts
(Ctrl-C leaves no queued run nobody will start). On a detached backend they are submitted
together with the backend's submit_many: Slurm makes them one job array. Every check (the seeds,
the flags, the config, the Slurm settings) runs before the first run exists, so bad input is one
line and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from emotui.cli.flags import DashValue, config_from_args, flag_values, tracker_status_fields
from emotui.cli.inline_run import run_inline
from emotui.cli.launch_opts import choose_backend, resources_for
from emotui.core.config import RunConfig
from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore
from emotui.core.seeds import GROUP_FIELD, SEEDS_FLAG, new_group_id, parse_seeds, with_seed
from emotui.core.status import read_status
from emotui.core.vocabulary import ResultKey
from emotui.launch import runs
from emotui.launch.registry import backend_spec


def add_seeds_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        SEEDS_FLAG, metavar="S1,S2,...", default=None, action=DashValue,
        help="one run per seed (e.g. 1,2,3), grouped: the same settings but the seed. Inline "
        "they train one after another; local/slurm submits them together (Slurm: one job "
        "array). `emotui compare --by-seed` shows them as mean ± std")


def check_request(args: argparse.Namespace) -> list[int]:
    """The seeds, or a one-line ConfigError for a combination a group cannot take."""
    if args.resume:
        raise ConfigError(f"--resume continues one run with its saved config; drop {SEEDS_FLAG} "
                          "(resume each run of a group by its id)")
    seeds = parse_seeds(args.seeds)
    if "seed" in flag_values(args):
        raise ConfigError(f"--seed and {SEEDS_FLAG} both given; {SEEDS_FLAG} sets each run's "
                          "seed: drop --seed")
    if args.follow:
        raise ConfigError(f"--follow shows one run; a group of {len(seeds)} is watched with "
                          "'emotui ls' (or 'emotui compare --by-seed RUN...')")
    return seeds


def run_seed_group(args: argparse.Namespace) -> int:
    seeds = check_request(args)
    config, sections = config_from_args(args)
    status_extra = tracker_status_fields(args, sections)
    store = RunStore(args.runs_dir)
    backend = choose_backend(args, sections)
    resources = resources_for(args, backend, sections)  # wrong Slurm flags: nothing created
    runs.check_start(config, backend, store)  # the model and data: last, they are read
    configs = [with_seed(config, seed) for seed in seeds]
    status_extra[GROUP_FIELD] = new_group_id(config.method)
    if backend_spec(backend).detached:
        return submit_group(args, store, configs, backend, resources, status_extra)
    return train_group_inline(args, store, configs, backend, status_extra)


def train_group_inline(args: argparse.Namespace, store: RunStore, configs: list[RunConfig],
                       backend: str, status_extra: dict[str, Any]) -> int:
    """Each seed in turn, in the foreground; the exit code of the first that did not complete."""
    group = status_extra[GROUP_FIELD]
    finished: list[dict[str, Any]] = []
    code = 0
    for index, config in enumerate(configs):
        if not args.json:
            print(f"seed {config.seed} ({index + 1}/{len(configs)}) of group {group}",
                  flush=True)
        paths = runs.create(store, config, backend=backend, **status_extra)
        results: list[dict[str, Any]] = []
        try:
            run_code = run_inline(paths, config, json_output=args.json, quiet=args.quiet,
                                  emit_json=results.append)
        except KeyboardInterrupt:
            left = [str(c.seed) for c in configs[index + 1:]]
            if left:
                print(f"emotui: seeds {', '.join(left)} of group {group} not started",
                      file=sys.stderr)
            raise
        status = read_status(paths)
        finished.append({"run_id": paths.run_id, "seed": config.seed,
                         "status": status.get("state"), "reason": status.get("reason"),
                         "results": results[0] if results else None})
        code = code or run_code
    if args.json:
        print(json.dumps({"group": group, "runs": finished}, indent=2))
    else:
        print(group_summary(group, finished))
    return code


def group_summary(group: str, members: list[dict[str, Any]]) -> str:
    """'group G: 3 runs, 3 completed; test accuracy 91.20 ± 0.50 % ...' after an inline group."""
    # lazy: keeps `emotui --help` fast (24 ms)
    from emotui.report.select import Stat

    done = [r for r in members if r["status"] == "completed"]
    parts = [f"group {group}: {len(members)} runs, {len(done)} completed"]
    for key, name in ((ResultKey.EVAL_ACCURACY, "eval accuracy"),
                      (ResultKey.TEST_ACCURACY, "test accuracy")):
        stat = Stat(tuple(float(r["results"][key]) for r in done
                          if r["results"] and isinstance(r["results"].get(key), (int, float))))
        if stat.n:
            spread = f" ± {100 * stat.std:.2f}" if stat.std is not None else ""
            parts.append(f"{name} {100 * stat.mean:.2f}{spread} % (n={stat.n})")
    ids = " ".join(r["run_id"] for r in members)
    return "; ".join(parts) + f"\n  compare: emotui compare --by-seed {ids}"


def submit_group(args: argparse.Namespace, store: RunStore, configs: list[RunConfig],
                 backend_name: str, resources: Any, status_extra: dict[str, Any]) -> int:
    """Create every run, then submit them together (Slurm: one job array). If that fails, the
    runs no job took are removed; any already started keep running and are named."""
    group = status_extra[GROUP_FIELD]
    started = runs.start_many(store, configs, backend=backend_name, resources=resources,
                              job_name=group, label=f"group {group}", checked=True,
                              **status_extra)
    created = [paths for paths, _status in started]
    statuses = [status for _paths, status in started]
    submitted = [{"run_id": p.run_id, "seed": c.seed, "status": s.get("state"),
                  "backend": s.get("backend"), "job_id": s.get("job_id")}
                 for p, c, s in zip(created, configs, statuses)]
    if args.json:
        print(json.dumps({"group": group, "backend": backend_name, "runs": submitted}))
        return 0
    print(f"{submitted[0]['status']}: {len(submitted)} runs of group {group} on {backend_name}")
    for run in submitted:
        job = f" (job {run['job_id']})" if run["job_id"] else ""
        print(f"  {run['run_id']}  seed {run['seed']}{job}")
    ids = " ".join(r["run_id"] for r in submitted)
    print(f"  watch: emotui ls | emotui compare --by-seed {ids}")
    return 0
