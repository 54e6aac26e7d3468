"""A W&B sweep file, read and validated against emotui's run config before anything launches.

``load_sweep(path, overrides)`` returns a ``SweepSpec``: method, metric, parameters (each a
``Distribution`` over one run-config field), run_cap and hyperband settings. Parameter names are
checked against the run config schema (``emotui.core.config``: FIELDS, the study's aliases such as
``text_column_name``, a method's settings by group: ``lora.r`` or W&B's nested ``lora:
{parameters: {r: ...}}``, and the other TrainingArguments), discrete values are coerced and
range-checked with the schema's own ``coerce_value``/``check_range``, continuous distributions must
stay inside a field's range (the same bound check, ``emotui.core.setting_values``) and give
integers for integer fields, and ``trial_config`` builds every trial's full ``RunConfig``
through ``build_config`` so the combination rules apply too (to each trial the sweep may run,
before anything launches: ``space.validate_combinations``, beside the grid's points).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotui.core import config as cfg
from emotui.core import methods
from emotui.core.config_files import read_yaml_mapping
from emotui.core.errors import ConfigError, quoted
from emotui.core.setting_values import above_max, below_min
from emotui.core.setting_values import refuse_unknown_keys
from emotui.core.yaml_load import load_yaml
from emotui.sweep.distributions import DISCRETE, GRID_OK, Distribution
from emotui.sweep.metric import Metric
from emotui.sweep.space import validate_combinations
# early_terminate's block; imported from here too (sweep files are read here).
from emotui.sweep.hyperband import Hyperband  # noqa: F401

METHODS = ("grid", "random", "bayes")
# Every top-level key W&B's sweep schema allows; emotui uses the first group.
TOP_LEVEL_KEYS = (
    "method", "parameters", "metric", "run_cap", "early_terminate", "program", "command",
    "name", "description", "project", "entity", "controller", "apiVersion", "kind", "job",
    "image_uri",
)
# The keys above that hold text; a number or a list there is refused, not turned into text.
TEXT_KEYS = ("name", "description", "program", "project", "entity")
UNSET = object()  # `--set key=` on a field without an empty value: fall back to its default


def _shown(value: Any) -> str:
    """A value as an error quotes it: its start, never all of it."""
    return quoted(value)


@dataclass
class Parameter:
    """One entry of ``parameters``: the run-config key it sets and its distribution."""

    key: str  # normalized: a RunConfig field, another TrainingArguments name, or "method"
    raw_key: str  # as the file spells it (W&B passes this name back to agents)
    dist: Distribution

    @property
    def swept(self) -> bool:
        """Whether trials differ in it; one that is not (value: X, values: [X]) still reaches
        every trial's config (SweepSpec.trial_config)."""
        return not self.dist.single


@dataclass
class SweepSpec:
    method: str
    parameters: dict[str, Parameter]
    metric: Metric | None = None
    run_cap: int | None = None
    hyperband: Hyperband | None = None
    name: str | None = None
    program: str | None = None
    command: list[Any] | None = None
    project: str | None = None
    entity: str | None = None
    source: str = "sweep file"
    overrides: dict[str, Any] = field(default_factory=dict)

    # -- views ---------------------------------------------------------------------------------

    def swept(self) -> list[Parameter]:
        return [p for p in self.parameters.values() if p.swept]

    def grid_size(self) -> int:
        """The number of grid points, counted (never listed: a grid may hold millions)."""
        n = 1
        for p in self.parameters.values():
            n *= p.dist.grid_count()
        return n

    def planned_total(self) -> int | None:
        """How many trials the sweep runs in all (None: unbounded until --count or a target)."""
        if self.method == "grid":
            size = self.grid_size()
            return min(size, self.run_cap) if self.run_cap else size
        return self.run_cap

    def trial_config(self, values: Mapping[str, Any]) -> tuple[cfg.RunConfig, set[str]]:
        """The full RunConfig of one trial: the file's fixed values, the trial's, then --set.

        Every parameter of the file reaches it, whatever its spelling: a swept one from
        ``values``, one with a single value (``value: X`` or ``values: [X]``) from the file.
        """
        chosen = self.parameter_values(values)
        layer = {self.parameters[key].raw_key: value for key, value in chosen.items()}
        layers = [(self.source, layer)]
        if self.overrides:
            layers.append(("--set", {k: v for k, v in self.overrides.items() if v is not UNSET}))
        config, explicit = cfg.build_config(layers)
        check_trial_config(self, chosen, config.to_dict())
        return config, explicit

    def parameter_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """{parameter: the value this trial takes}: ``values`` (a trial's swept values) plus
        the single value of every parameter that is not swept."""
        out: dict[str, Any] = {}
        for key, param in self.parameters.items():
            if key in values:
                out[key] = values[key]
            elif param.dist.single:
                out[key] = param.dist.only_value
            else:
                raise ConfigError(f"{self.source}: trial values lack parameter "
                                  f"{param.raw_key} ({param.dist.kind}); nothing to run")
        return out

    def fingerprint(self) -> str:
        """Stable hash of what determines the trials (re-running the same command resumes)."""
        text = json.dumps(self.to_json(include_source=False), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def default_id(self) -> str:
        stem = re.sub(r"[^a-z0-9._-]+", "-", (self.name or Path(self.source).stem).lower())
        stem = stem.strip("-._")[:48] or "sweep"
        return f"{stem}-{self.fingerprint()}"

    def to_json(self, include_source: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "metric": None if self.metric is None else {
                "name": self.metric.name, "goal": self.metric.goal, "target": self.metric.target},
            "run_cap": self.run_cap,
            "early_terminate": self.hyperband.to_json() if self.hyperband else None,
            "parameters": {p.raw_key: {"distribution": p.dist.kind, **p.dist.args}
                           for p in self.parameters.values()},
            "overrides": {k: (None if v is UNSET else v) for k, v in self.overrides.items()},
        }
        if include_source:
            out.update(source=self.source, name=self.name, program=self.program,
                       command=self.command, project=self.project, entity=self.entity)
        return out

    def to_wandb(self) -> dict[str, Any]:
        """The sweep as W&B's server takes it, --set values folded in as constants."""
        params = {p.raw_key: p.dist.to_wandb() for p in self.parameters.values()}
        for key, value in self.overrides.items():
            for raw in [p.raw_key for p in self.parameters.values() if p.key == key]:
                params.pop(raw)
            if value is not UNSET:
                params[key] = {"value": value}
        out: dict[str, Any] = {"method": self.method, "parameters": params}
        if self.metric:
            out["metric"] = {"name": self.metric.name, "goal": self.metric.goal}
            if self.metric.target is not None:
                out["metric"]["target"] = self.metric.target
        if self.run_cap:
            out["run_cap"] = self.run_cap
        if self.hyperband:
            out["early_terminate"] = self.hyperband.to_json()
        if self.name:
            out["name"] = self.name
        return out


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read and fully validate a sweep file (plus ``--set key=value`` overrides)."""
    data = read_yaml_mapping(Path(path), "sweep file")
    return parse_sweep(data, source=str(path), overrides=parse_overrides(overrides or []))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` strings -> {field: raw value}; ``key=`` unsets (None, or the default)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like key=value (e.g. --set num_train_epochs=1)")
        raw_key, value = item.split("=", 1)
        key = cfg.normalize_key(raw_key)
        if key not in cfg.known_keys() or key == "extra_training_args":
            raise cfg.unknown_key_error(raw_key.strip(), "--set")
        if (key in cfg.FIELDS and cfg.FIELDS[key].secret) or key in cfg.SECRET_EXTRA_ARGS:
            raise ConfigError(f"--set {key}: secrets are never stored; set it in the environment")
        if value.strip() == "":
            out[key] = None if (key in cfg.FIELDS and cfg.is_nullable(key)) else UNSET
        elif key in cfg.EXTRA_TRAINING_ARGS:
            import yaml

            try:
                out[key] = load_yaml(value, f"--set {raw_key.strip()}")
            except yaml.YAMLError:
                out[key] = value
        else:
            out[key] = value
    return out


def parse_sweep(data: Mapping[str, Any], *, source: str = "sweep file",
                overrides: Mapping[str, Any] | None = None) -> SweepSpec:
    refuse_unknown_keys(data, TOP_LEVEL_KEYS, source,
                        "a W&B sweep file has method, parameters, metric, run_cap, "
                        "early_terminate, program, command")
    method = data.get("method")
    if method is None:
        raise ConfigError(f"{source}: method is missing; give grid, random or bayes")
    method = str(method).strip().lower()
    if method not in METHODS:
        raise ConfigError(
            f"{source}: unknown method '{data.get('method')}'{cfg.suggest(method, METHODS)}; "
            "emotui runs grid, random and bayes"
        )
    params = data.get("parameters")
    if not isinstance(params, dict) or not params:
        raise ConfigError(f"{source}: parameters must be a non-empty mapping of run settings")
    metric = Metric.parse(data["metric"], f"{source} metric") if data.get("metric") else None
    run_cap = data.get("run_cap")
    if run_cap is not None and (isinstance(run_cap, bool) or not isinstance(run_cap, int)
                                or run_cap < 1):
        raise ConfigError(f"{source}: run_cap must be a positive integer, got {run_cap!r}")
    hyperband = None
    if data.get("early_terminate") is not None:
        hyperband = Hyperband.parse(data["early_terminate"], f"{source} early_terminate")
        if metric is None:
            raise ConfigError(f"{source}: early_terminate needs a metric to compare runs by")
    if method == "bayes" and metric is None:
        raise ConfigError(f"{source}: bayes search needs a metric, e.g. "
                          "metric: {name: eval/accuracy, goal: maximize}")
    command = data.get("command")
    if command is not None and (not isinstance(command, list) or not all(
            isinstance(part, str) for part in command)):
        raise ConfigError(f"{source}: command must be a list of text (W&B's ${{env}} "
                          f"${{program}} ... form), got {_shown(command)}")
    for key in TEXT_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            hint = f'; quote it: {key}: "{value}"' if isinstance(value, (int, float)) else ""
            raise ConfigError(f"{source}: {key} must be text, got {_shown(value)}{hint}")

    spec = SweepSpec(
        method=method, parameters={}, metric=metric, run_cap=run_cap, hyperband=hyperband,
        name=data.get("name"), program=data.get("program"), command=command,
        project=data.get("project"), entity=data.get("entity"), source=source,
        overrides=dict(overrides or {}),
    )
    for raw_key, block in _spread_groups(params, source).items():
        param = parse_parameter(str(raw_key), block, source)
        if param.key in spec.parameters:
            raise ConfigError(f"{source}: parameters {spec.parameters[param.key].raw_key} and "
                              f"{raw_key} set the same setting; keep one")
        spec.parameters[param.key] = param
    _apply_overrides(spec)
    if method == "grid":
        for p in spec.parameters.values():
            if p.dist.kind not in GRID_OK or p.dist.args.get("probabilities"):
                what = "probabilities" if p.dist.args.get("probabilities") else \
                    f"distribution {p.dist.kind}"
                raise ConfigError(
                    f"{source} parameters.{p.raw_key}: grid search cannot use {what} (W&B allows "
                    "only value, values, int_uniform and q_uniform); list values: [...] or use "
                    "method random or bayes"
                )
    validate_combinations(spec)
    return spec


def _spread_groups(params: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A method's settings group, nested as W&B nests parameters (``lora: {parameters: {r:
    {values: [...]}}}``) or as config files do (``lora: {r: ...}``), as grouped keys (``lora.r``)."""
    unnested = {key: block["parameters"] if str(key).strip() in cfg.RUN_SETTINGS.nested
                and isinstance(block, dict) and set(block) == {"parameters"} else block
                for key, block in params.items()}
    return cfg.RUN_SETTINGS.spread(unnested, f"{source} parameters")


def parse_parameter(raw_key: str, block: Any, source: str) -> Parameter:
    where = f"{source} parameters.{raw_key}"
    key = cfg.normalize_key(raw_key)
    if key not in cfg.known_keys() or key == "extra_training_args":
        raise cfg.unknown_key_error(raw_key, f"{source} parameters")
    if (key in cfg.FIELDS and cfg.FIELDS[key].secret) or key in cfg.SECRET_EXTRA_ARGS:
        raise ConfigError(f"{where}: secrets cannot be swept or stored; set {key.upper()} or "
                          "HF_TOKEN in the environment")
    dist = Distribution.parse(block, where)
    if key in cfg.FIELDS:
        _check_field_values(key, dist, where)
    elif key == "method":
        for value in _discrete_values(dist, where, key):
            methods.resolve(value, f"{where}: method")
    return Parameter(key=key, raw_key=raw_key, dist=dist)


def _discrete_values(dist: Distribution, where: str, key: str) -> list[Any]:
    if dist.kind == "constant":
        return [dist.args["value"]]
    if dist.kind == "categorical":
        return dist.args["values"]
    raise ConfigError(f"{where}: {key} takes a value or values, not distribution {dist.kind}")


def _check_field_values(key: str, dist: Distribution, where: str) -> None:
    """Coerce discrete values in place and range-check them; check a continuous support."""
    typ = cfg.field_type(key)
    if dist.kind in DISCRETE:
        coerced = []
        for value in _discrete_values(dist, where, key):
            value = cfg.coerce_value(key, value, where)
            cfg.check_range(key, value, where)
            coerced.append(value)
        if dist.kind == "constant":
            dist.args["value"] = coerced[0]
        else:
            dist.args["values"] = coerced
        return
    if typ not in (int, float):
        raise ConfigError(f"{where}: {key} is a {typ.__name__} setting; give value or values, "
                          f"not distribution {dist.kind}")
    if typ is int and not dist.integer_valued:
        raise ConfigError(
            f"{where}: {key} takes integers; use distribution int_uniform (integer min/max) or a "
            f"q_ distribution with an integer q, not {dist.kind}"
        )
    # The field's own range check, applied to the ends of the distribution's support.
    lo, hi, lo_inclusive = dist.support()
    spec = cfg.FIELDS[key]
    problem = below_min(spec, lo, reachable=lo_inclusive)
    if problem:
        low = "-inf" if math.isinf(lo) else f"{lo:g}"
        raise ConfigError(f"{where}: distribution {dist.kind} can give {key} = {low} but "
                          f"{key} {problem}; narrow its bounds or use a "
                          "log_uniform_values / log_normal distribution")
    problem = above_max(spec, hi)
    if problem:
        high = "inf" if math.isinf(hi) else f"{hi:g}"
        raise ConfigError(f"{where}: distribution {dist.kind} can give {key} = {high} but "
                          f"{key} {problem}; narrow its bounds")


def _apply_overrides(spec: SweepSpec) -> None:
    """--set pins a setting for every trial: it replaces the file's entry for it, if any."""
    for key, value in list(spec.overrides.items()):
        if key in cfg.FIELDS and value is not UNSET and value is not None:
            value = cfg.coerce_value(key, value, "--set")
            cfg.check_range(key, value, "--set")
            spec.overrides[key] = value
        if key in spec.parameters:
            del spec.parameters[key]
    if not spec.parameters and not spec.overrides:
        raise ConfigError(f"{spec.source}: no parameters left after --set")


def check_trial_config(spec: SweepSpec, chosen: Mapping[str, Any],
                       config: Mapping[str, Any]) -> None:
    """Each parameter's value as the trial's resolved config (config.yaml) holds it; a
    ConfigError names the first one that did not arrive (a value that would silently fall
    back to its default)."""
    for key, value in chosen.items():
        raw_key = spec.parameters[key].raw_key
        if key in spec.overrides:
            continue  # --set replaced it for every trial
        if key == "method":
            want, have = methods.resolve(value).name, config.get("method")
        elif key in cfg.FIELDS:
            want, have = cfg.coerce_value(key, value, spec.source), config.get(key)
        else:  # another TrainingArguments setting, kept as given
            want, have = value, (config.get("extra_training_args") or {}).get(key)
        if want != have:
            raise ConfigError(
                f"{spec.source}: parameter {raw_key} = {want!r} did not reach the trial's config "
                f"(it holds {have!r}); please report this"
            )
