"""Each method's search in a study: its ``methods:`` entry (inline parameters, a W&B sweep file,
or nothing: the method's defaults) and the study's ``search:`` settings -> the W&B sweep that
searches it (``MethodSearch``).

The sweep pins what the study pins for every run (``model``, ``data``, ``fixed``, ``--set``) and
is parsed by the sweep layer (``emotui.sweep.spec.parse_sweep``), so names, values, ranges and
every grid trial's full run config are checked exactly as `emotui sweep` checks them; a sweep
that trains another method, or several, is refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from emotui.core import config as cfg
from emotui.core import methods as registry
from emotui.core.errors import ConfigError
from emotui.core.setting_values import mapping_block
from emotui.study.spec import MethodSearch
from emotui.sweep.distributions import DISCRETE, Distribution
from emotui.sweep.metric import Metric
from emotui.sweep.space import representative_values
from emotui.sweep.spec import UNSET, SweepSpec, parse_sweep

METHOD_KEYS = ("parameters", "sweep", "trials", "confirm")
# The run settings that name the data: the study's `data:` replaces a method's own.
DATA_FIELDS = ("dataset_name", "dataset_config_name", "data_dir", "train_file",
               "validation_file", "test_file")
# Settings that choose the method: `methods:` does that, never fixed: or confirm:.
SELECTORS = ("method", registry.PEFT_FIELD)


@dataclass
class SearchSettings:
    """The study's `search:` block; None: not given (a sweep file's own value stands)."""

    method: str | None = None
    trials: int | None = None
    early_terminate: dict[str, Any] | None = None
    seeds: list[int] | None = None


def positive_count(value: Any, where: str, what: str) -> int:
    """``value`` if it is a whole number >= 1 (of ``what``), else one line naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a whole number of {what} >= 1, got {value!r}")
    return value


def method_entry(block: Any, where: str
                  ) -> tuple[dict[str, Any] | None, str, dict[str, Any], int | None]:
    """(parameters, origin, the sweep file's top level, trials) of one methods: entry."""
    if block is None or block == {}:
        return None, "defaults", {}, None
    if isinstance(block, str):
        block = {"sweep": block}
    mapping_block(block, METHOD_KEYS, where,
                  must_be="empty (the method's defaults), the path of a W&B sweep file, or a "
                  "mapping with parameters: or sweep:",
                  holds="a method has parameters (W&B style) or sweep (a W&B sweep file), "
                  "trials, and confirm (settings its confirm runs change)")
    trials = positive_count(block["trials"], f"{where}.trials", "trials") \
        if block.get("trials") is not None else None
    if block.get("parameters") is not None and block.get("sweep") is not None:
        raise ConfigError(f"{where}: give parameters or sweep, not both")
    if set(block) <= {"trials", "confirm"}:
        return None, "defaults", {}, trials
    if block.get("sweep") is not None:
        path = str(block["sweep"])
        top = cfg.read_yaml_mapping(Path(path), f"{where}.sweep file")
        if "parameters" not in top:
            raise ConfigError(f"{where}.sweep: {path} is not a W&B sweep file (no parameters:)")
        parse_sweep(top, source=path)  # the file alone, as `emotui sweep` checks it
        return top.get("parameters"), path, top, trials
    parameters = block.get("parameters")
    if parameters is None:
        return None, "defaults", {}, trials
    if not isinstance(parameters, dict):
        raise ConfigError(f"{where}.parameters must map run settings to W&B parameter blocks, "
                          "e.g. learning_rate: {values: [1.0e-4, 3.0e-4]}")
    return parameters, "inline", {}, trials


def build_search(parameters: Any, where: str, *, origin: str, method: str | None,
               top: Mapping[str, Any], settings: SearchSettings, fixed: dict[str, Any],
               pinned: dict[str, Any], metric: Metric, data_given: bool,
               trials: int | None = None) -> MethodSearch:
    """One method's search sweep, built and validated (see the module's docstring)."""
    if parameters is not None and not isinstance(parameters, dict):
        raise ConfigError(f"{where}: parameters must be a mapping of run settings")
    params: dict[str, Any] = {}
    seeds = settings.seeds
    for raw_key, block in (parameters or {}).items():
        key = cfg.normalize_key(str(raw_key))
        if key in pinned or (data_given and key in DATA_FIELDS):
            continue  # --set and data: replace whatever the method says
        if key in fixed or (key == "seed" and seeds):
            if is_searched(block, f"{where} parameters.{raw_key}"):
                pinned_by = "fixed" if key in fixed else "search.seeds"
                raise ConfigError(f"{where}: {raw_key} is searched here and pinned by "
                                  f"{pinned_by}; a study pins a setting or searches it, not both")
            continue
        params[str(raw_key)] = block
    keys = {cfg.normalize_key(k) for k in params}
    if method is not None and not keys & set(SELECTORS):
        params["method"] = {"value": registry.get(method).alias}
    for key, value in {**fixed, **pinned}.items():
        if value is not UNSET:
            params[key] = {"value": value}
    if seeds and len(seeds) == 1:
        params["seed"] = {"value": seeds[0]}
    elif seeds:
        params["seed"] = {"values": list(seeds)}
    sweep: dict[str, Any] = {
        "method": settings.method or top.get("method") or "grid",
        "metric": {"name": metric.name, "goal": metric.goal},
        "parameters": params,
    }
    run_cap = trials or settings.trials or top.get("run_cap")
    early = settings.early_terminate or top.get("early_terminate")
    if run_cap is not None:
        sweep["run_cap"] = run_cap
    if early is not None:
        sweep["early_terminate"] = early
    if not any(is_searched(b, where) for b in params.values()):
        # Nothing to search (a method at its defaults): one run, whatever search says.
        sweep.update(method="grid")
        sweep.pop("run_cap", None)
        sweep.pop("early_terminate", None)
    elif sweep["method"] != "grid" and seeds and len(seeds) > 1:
        raise ConfigError(f"{where}: search.seeds lists {len(seeds)} seeds but {sweep['method']} "
                          "search draws each trial once; give one seed, or use grid")
    elif sweep["method"] != "grid" and run_cap is None:
        raise ConfigError(f"{where}: {sweep['method']} search needs a number of trials; add "
                          "search.trials: N (or trials: N under the method)")
    spec = parse_sweep(sweep, source=where)
    found = searched_methods(spec)
    if len(found) > 1:
        raise ConfigError(f"{where} searches several methods ({', '.join(found)}); a study "
                          "searches one method per sweep file or methods: entry")
    if method is not None and found[0] != method:
        raise ConfigError(f"{where}: {origin} searches {found[0]}, not {method}; list it as "
                          f"methods.{registry.get(found[0]).alias}")
    return MethodSearch(found[0], origin, sweep, spec)


def is_searched(block: Any, where: str) -> bool:
    """Whether a parameter block gives trials more than one value."""
    return not Distribution.parse(block, where).single if isinstance(block, dict) else False


def searched_methods(spec: SweepSpec) -> list[str]:
    """The methods a sweep's trials train (those the values of its method-choosing settings
    select, the others at one of their values)."""
    base = representative_values(spec)
    found = [spec.trial_config(base)[0].method]
    for key in (*SELECTORS, registry.INIT_TEXT_FIELD):
        param = spec.parameters.get(key)
        if param is None or param.dist.single or param.dist.kind not in DISCRETE:
            continue
        for value in param.dist.args["values"]:
            method = spec.trial_config({**base, key: value})[0].method
            if method not in found:
                found.append(method)
    return found

