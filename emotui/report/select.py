"""Configurations and the honest pick: runs that differ only by seed form one configuration;
each method's best configuration is the one with the highest mean VALIDATION accuracy.

The test split is never used to choose: it is reported for the chosen configuration, as the
mean and the sample standard deviation over its seeds. (The study picked its best LoRA run on
the test split, which flatters it.)
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from emotui.core.vocabulary import ResultKey
from emotui.core.config import RunConfig
from emotui.core.export import format_value
from emotui.core.methods import applies
from emotui.report.gather import ReportRun

# What a seed varies: runs that differ only here are repetitions of one configuration.
SEED_KEYS = ("seed", "shuffle_seed")
# Settings that do not change what a run learns (names, logging, eval batch size, workers).
BOOKKEEPING_KEYS = (
    "run_name", "output_dir", "overwrite_output_dir", "disable_tqdm", "report_to",
    "logging_steps", "cache_dir", "token", "per_device_eval_batch_size", "dataloader_num_workers",
    "preprocessing_num_workers", "overwrite_cache", "extra_training_args", "stop_on_collapse",
    "collapse_patience", "method_defaults",
)
# How the report names the settings that tell configurations apart.
SHORT_NAMES = {
    "learning_rate": "lr", "per_device_train_batch_size": "batch", "num_train_epochs": "epochs",
    "lora_r": "r", "lora_alpha": "alpha", "lora_dropout": "dropout",
    "lora_target_modules": "targets", "prompt_tuning_num_virtual_tokens": "tokens",
    "prompt_tuning_init_text": "init text", "model_name_or_path": "model",
    "gradient_accumulation_steps": "accum", "max_seq_length": "max len",
}


# What a section of the report holds fixed: runs on different models or data are never put in
# one table or one Pareto front.
MODEL_KEYS = ("model_name_or_path",)
DATA_KEYS = ("train_file", "validation_file", "test_file", "data_dir", "dataset_name",
             "dataset_config_name")
NOTHING_RECORDED = "No model or data recorded"


@dataclass(frozen=True)
class Scope:
    """The model and the data a run trained on, as its config names them (None: not recorded)."""

    model: str | None
    data: str | None

    def label(self, short: bool = True) -> str:
        if self.model is None and self.data is None:
            return NOTHING_RECORDED
        model = _short_path(self.model) if short else self.model
        data = _short_path(self.data) if short else self.data
        return f"{model or 'model not recorded'} on {data or 'data not recorded'}"


def _short_path(value: str | None) -> str | None:
    """A local path by its last two parts (".../models/all-MiniLM-L6-v2"); a Hub id as it is."""
    if not value or not value.startswith(("/", "~", ".")):
        return value
    parts = value.rstrip("/").split("/")
    return value if len(parts) <= 3 else ".../" + "/".join(parts[-2:])


def scope_of(run: ReportRun) -> Scope:
    config = run.config
    model = config.get("model_name_or_path")
    files = [str(config[k]) for k in ("train_file", "validation_file", "test_file")
             if config.get(k)]
    if files:
        folders = {f.rsplit("/", 1)[0] for f in files if "/" in f}
        data = f"{folders.pop()}/" if len(folders) == 1 and all("/" in f for f in files) \
            else ", ".join(files)
    elif config.get("data_dir"):
        data = str(config["data_dir"]).rstrip("/") + "/"
    elif config.get("dataset_name"):
        data = str(config["dataset_name"]) + (f" ({config['dataset_config_name']})"
                                               if config.get("dataset_config_name") else "")
    else:
        data = None
    return Scope(str(model) if model else None, data)


def split_by_scope(runs: Iterable[ReportRun]) -> list[tuple[Scope, list[ReportRun]]]:
    """The runs by model and data, in order of first appearance."""
    out: dict[Scope, list[ReportRun]] = {}
    for run in runs:
        out.setdefault(scope_of(run), []).append(run)
    return list(out.items())


@dataclass(frozen=True)
class Stat:
    """A metric over a configuration's runs (those that have it)."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation (n - 1); None for fewer than two values."""
        return statistics.stdev(self.values) if self.n >= 2 else None


@dataclass
class Configuration:
    """Runs of one method with the same settings but for the seed."""

    method: str | None
    settings: dict[str, Any]
    runs: list[ReportRun] = field(default_factory=list)

    def stat(self, metric: str) -> Stat:
        return Stat(tuple(v for v in (r.metric(metric) for r in self.runs) if v is not None))

    @property
    def seeds(self) -> list[Any]:
        return [r.config.get("seed") for r in self.runs]

    @property
    def best_run(self) -> ReportRun:
        """The run whose details (confusion matrix) stand for the configuration: the highest
        validation accuracy, then the earliest id."""
        return min(self.runs, key=lambda r: (-(r.metric(ResultKey.EVAL_ACCURACY) or -math.inf),
                                             r.run_id))

    @property
    def collapsed_runs(self) -> int:
        return sum(1 for r in self.runs if r.collapsed)

    @property
    def label(self) -> str:
        return self.runs[0].run_id if len(self.runs) == 1 else \
            f"{self.runs[0].run_id} (+{len(self.runs) - 1})"


def _config_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(RunConfig)}


def _normalized(value: Any) -> Any:
    """W&B and YAML spell numbers differently (2e-05, "2e-5", 2.0e-05): compare them as floats."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def settings_of(run: ReportRun, fields: set[str] | None = None) -> dict[str, Any]:
    """The run's settings that make it this configuration (seeds, bookkeeping and other methods'
    settings left out). A setting its config does not record (an older emotui, another tool's
    W&B run, a missing config.yaml) is left out too: unknown, not a difference."""
    fields = fields if fields is not None else _config_fields()
    skip = set(SEED_KEYS) | set(BOOKKEEPING_KEYS)
    # Another method's settings (an IA3 run's lora_r) change nothing this run learns.
    out = {key: _normalized(run.config[key]) for key in sorted(fields - skip)
           if key in run.config and applies(key, run.method)}
    out["method"] = run.method
    return out


def group_by_seed(runs: Iterable[ReportRun]) -> list[Configuration]:
    """Configurations in order of first appearance; each run in exactly one, a configuration's
    runs in seed order (run ids made in the same second sort by their random tail, so the
    store's order is not the order they were made in). A run without a config is a
    configuration of its own: nothing says what it repeats."""
    fields = _config_fields()
    groups: dict[str, Configuration] = {}
    for run in runs:
        settings = settings_of(run, fields)
        key = json.dumps(settings, sort_keys=True, default=str) if run.config else \
            f"no config: {run.run_id}"
        if key not in groups:
            groups[key] = Configuration(run.method, settings)
        groups[key].runs.append(run)
    for config in groups.values():
        config.runs.sort(key=_seed_order)
    return list(groups.values())


def _seed_order(run: ReportRun) -> tuple:
    seed = run.config.get("seed")
    numeric = isinstance(seed, (int, float)) and not isinstance(seed, bool)
    return (0, seed, "", run.run_id) if numeric else (1, 0, str(seed), run.run_id)


def selection_key(config: Configuration) -> tuple:
    """Highest mean validation accuracy; ties: validation macro-F1, fewer trainable
    parameters, then the earliest run id (a stable order)."""
    eval_acc = config.stat(ResultKey.EVAL_ACCURACY).mean
    eval_f1 = config.stat(ResultKey.EVAL_MACRO_F1).mean
    params = config.stat(ResultKey.TRAINABLE_PARAMS).mean
    return (-eval_acc if eval_acc is not None else math.inf,
            -eval_f1 if eval_f1 is not None else math.inf,
            params if params is not None else math.inf,
            min(r.run_id for r in config.runs))


def best_per_method(configs: Iterable[Configuration]) -> dict[str | None, Configuration]:
    """Each method's configuration picked on validation; methods whose runs have no validation
    accuracy are left out (they cannot be picked honestly)."""
    best: dict[str | None, Configuration] = {}
    for config in sorted(configs, key=selection_key):
        if config.stat(ResultKey.EVAL_ACCURACY).n and config.method not in best:
            best[config.method] = config
    return best


def unpickable_methods(configs: Iterable[Configuration]) -> list[str | None]:
    """Methods that have runs but no validation accuracy in any of them."""
    configs = list(configs)
    have = {c.method for c in configs if c.stat(ResultKey.EVAL_ACCURACY).n}
    return sorted({c.method for c in configs} - have, key=str)


@dataclass(frozen=True)
class Differences:
    """The settings that tell a method's configurations apart.

    ``keys``: every setting with more than one value among the configurations that record it
    (the learning rate always), those that tell configurations apart first: the report's short
    names, then the settings with the most values. ``usual``: for a setting most configurations
    share and a few depart from (an edited or older config, one run with a larger batch), the
    shared value: a configuration names that setting only where it departs."""

    keys: tuple[str, ...] = ()
    usual: dict[str, str] = field(default_factory=dict)

    def of(self, config: Configuration) -> list[str]:
        """The settings that describe ``config``."""
        return [k for k in self.keys if k in config.settings
                and self.usual.get(k) != _key(config.settings[k])]


def _key(value: Any) -> str:
    return json.dumps(value, default=str)


def differing_settings(configs: list[Configuration], same: Iterable[str] = ()) -> Differences:
    """The Differences of a method's configurations; ``same``: settings known to be shared (the
    model and data of a report's section)."""
    values: dict[str, list[str]] = {}
    for config in configs:
        for key, value in config.settings.items():
            values.setdefault(key, []).append(_key(value))
    skip = {"method", *same}
    keys = [k for k, seen in values.items()
            if k not in skip and (len(set(seen)) > 1 or k == "learning_rate")]
    order = {name: i for i, name in enumerate(SHORT_NAMES)}
    keys.sort(key=lambda k: (0, order[k], 0, k) if k in order
              else (1, 0, -len(set(values[k])), k))
    usual = {}
    for key in keys:
        seen = values[key]
        common, count = Counter(seen).most_common(1)[0]
        if len(set(seen)) > 1 and len(configs) >= 3 and count > len(configs) / 2:
            usual[key] = common
    return Differences(tuple(keys), usual)


# A table cell or a figure's key names at most this many settings; the rest are counted.
SHOWN_SETTINGS = 4
NO_CONFIG = "settings not recorded"


def describe_settings(config: Configuration, differences: Differences,
                      limit: int | None = None) -> str:
    """"lr=0.001, r=8": the settings that tell the configuration apart (Differences.of), short
    names first; with ``limit``, at most that many and "+N more" for the rest."""
    parts = []
    for key in differences.of(config):
        value = config.settings.get(key)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer() and key != "learning_rate":
            value = int(value)
        parts.append(f"{SHORT_NAMES.get(key, key)}={format_value(value)}")
    if not parts:
        return NO_CONFIG if not any(r.config for r in config.runs) else "defaults"
    if limit is not None and len(parts) > limit:
        parts = parts[:limit] + [f"+{len(parts) - limit} more"]
    return ", ".join(parts)
