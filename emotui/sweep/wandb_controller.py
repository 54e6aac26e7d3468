"""--controller wandb: the same sweep file as a real W&B sweep, trials run by W&B agents.

Before anything touches W&B: the key must exist (WANDB_API_KEY or a netrc entry for the W&B
host, as `wandb login` writes) and the host must answer a TCP connect within a few seconds;
otherwise one line suggests ``--controller offline`` and the command exits 2 without hanging.
The key is never read into emotui's files or command lines: wandb finds it itself. (The checks
are emotui.tracking.settings' has_credentials and reachable, shared with W&B logging.)

With both present, ``wandb.sweep`` creates the sweep from ``SweepSpec.to_wandb()`` (``--set``
values folded in as constants, ``report_to`` forced to wandb so the agents' runs report the
metric) and ``wandb.agent`` runs trials in this process: each agent call builds the trial's
RunConfig through the same validation as offline trials, creates an ordinary run directory
(status.json carries ``sweep_id`` = the W&B sweep path) and calls ``emotui.train.train``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import emotui.train
from emotui.core.config import normalize_key
from emotui.core.errors import ConfigError
from emotui.core.runstore import RunStore
from emotui.core.yaml_load import load_yaml
from emotui.launch import backend_spec, runs
from emotui.sweep.spec import SweepSpec
from emotui.tracking.settings import base_url, has_credentials, reachable

OFFLINE_HINT = "run it offline with --controller offline"


def preflight() -> None:
    """Raise a one-line ConfigError unless W&B can be used now."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode in ("disabled", "offline", "dryrun"):
        raise ConfigError(f"W&B is {mode} here (WANDB_MODE={mode}), so a W&B sweep cannot be "
                          f"created; {OFFLINE_HINT}")
    if not has_credentials():
        raise ConfigError("no W&B API key (set WANDB_API_KEY or run 'wandb login'); "
                          f"{OFFLINE_HINT}")
    why = reachable()
    if why:
        raise ConfigError(f"W&B server {base_url()} is unreachable: {why}; {OFFLINE_HINT}")


def wandb_sweep_config(spec: SweepSpec) -> dict[str, Any]:
    config = spec.to_wandb()
    config["parameters"]["report_to"] = {"value": "wandb"}
    for key in [k for k in config["parameters"] if normalize_key(k) == "report_to"
                and k != "report_to"]:
        config["parameters"].pop(key)
    return config


def run_wandb_sweep(spec: SweepSpec, store: RunStore, *, backend: str, max_parallel: int,
                    count: int | None, project: str | None, entity: str | None, dry_run: bool,
                    echo: Callable[[str], None], sections: dict[str, Any]) -> int:
    import json

    sweep_config = wandb_sweep_config(spec)
    if dry_run:
        print(json.dumps(sweep_config, indent=2, default=str))
        return 0
    preflight()
    if backend_spec(backend).detached:
        raise ConfigError(f"--controller wandb runs its agent inline in this process; start one "
                          f"'emotui sweep FILE --controller wandb' per GPU (or use --controller "
                          f"offline with --backend {backend})")
    wandb_section = sections.get("wandb") or {}
    project = project or wandb_section.get("project") or spec.project or "emotui"
    entity = entity or wandb_section.get("entity") or spec.entity
    return _create_and_run(spec, store, sweep_config, project, entity, count, echo)


def _create_and_run(spec: SweepSpec, store: RunStore, sweep_config: dict[str, Any], project: str,
                    entity: str | None, count: int | None,
                    echo: Callable[[str], None]) -> int:  # pragma: no cover - needs W&B
    import wandb

    sweep_id = wandb.sweep(sweep_config, project=project, entity=entity)
    path = f"{entity + '/' if entity else ''}{project}/{sweep_id}"
    echo(f"W&B sweep {path} created; running an agent here (more agents: "
         f"'wandb agent {path}' elsewhere won't use emotui; run this command again instead)")
    wandb.agent(sweep_id, function=lambda: agent_trial(spec, store, path), project=project,
                entity=entity, count=count)
    return 0


def agent_params() -> dict[str, Any]:  # pragma: no cover - needs a W&B agent
    """The values W&B's agent chose for this trial.

    The agent writes them to the YAML file named by WANDB_SWEEP_PARAM_PATH (``{key: {value: v}}``)
    and sets WANDB_RUN_ID/WANDB_SWEEP_ID, so the training's own ``wandb.init`` (emotui.tracking)
    attaches to the agent's run: reading the file avoids a second, competing ``wandb.init``.
    """
    path = os.environ.get("WANDB_SWEEP_PARAM_PATH")
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            data = load_yaml(fh.read(), f"W&B's sweep parameters {path}") or {}
        return {k: (v.get("value") if isinstance(v, dict) and "value" in v else v)
                for k, v in data.items() if not str(k).startswith("_")}
    import wandb

    return dict(wandb.init().config)


def agent_trial(spec: SweepSpec, store: RunStore, sweep_path: str) -> None:  # pragma: no cover
    """One W&B agent trial: W&B's suggested values -> a validated RunConfig -> train."""
    values = {normalize_key(k): v for k, v in agent_params().items()}
    values = {k: v for k, v in values.items() if k in spec.parameters}
    config, _ = spec.trial_config(values)
    config.report_to = "wandb"  # the agent's run must receive the metric
    paths = runs.create(store, config, backend="inline", sweep_id=sweep_path,
                        wandb_run_id=os.environ.get("WANDB_RUN_ID"))
    emotui.train.train(config, paths.root)
