"""The command's files read and validated into a ``StudySpec`` before anything is stored: one
study file (it has ``methods:``), or W&B sweep files, each one method's search.

A study file's sections are read here (``name``, ``select``, ``search``, ``model``, ``data``,
``fixed``, ``confirm``, ``budget``, ``report``, ``export``); each method's search sweep is built
by ``emotui.study.searches``, and each method's confirmation sweep, built for a stand-in winner,
is parsed too. Errors are one line naming the file and the key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from emotui.core import config as cfg
from emotui.core import methods as registry
from emotui.core.errors import ConfigError
from emotui.core.seeds import parse_seeds
from emotui.core.setting_values import mapping_block, refuse_unknown_keys
from emotui.core.settings import suggest
from emotui.core.vocabulary import Event, EventField
from emotui.study.budget import Budget
from emotui.study.searches import (
    DATA_FIELDS,
    SELECTORS,
    SearchSettings,
    build_search,
    method_entry,
    positive_count,
)
from emotui.study.spec import (
    CONFIRM_FORCED,
    DEFAULT_METRIC,
    REPORT_FORMATS,
    MethodSearch,
    StudySpec,
)
from emotui.sweep.metric import Metric, split_name
from emotui.sweep.space import representative_values
from emotui.sweep.spec import METHODS as SEARCH_METHODS
from emotui.sweep.spec import Hyperband, parse_overrides, parse_sweep

TOP_KEYS = ("name", "description", "model", "data", "fixed", "methods", "search", "select",
            "confirm", "budget", "report", "export")
SEARCH_KEYS = ("method", "trials", "early_terminate", "seeds")
SELECT_KEYS = ("metric", "goal")
REPORT_KEYS = ("formats", "title")
EXPORT_KEYS = ("merged",)
# `data:` as a mapping: its keys and the run settings they set.
DATA_KEYS = {"dataset_name": "dataset_name", "dataset_config_name": "dataset_config_name",
             "dir": "data_dir", "data_dir": "data_dir", "train": "train_file",
             "validation": "validation_file", "test": "test_file"}
ID_STEM = re.compile(r"[^a-z0-9._-]+")


# ---------------------------------------------------------------------------------------------
# Reading the command's files
# ---------------------------------------------------------------------------------------------


def load_study(files: list[str], *, confirm_seeds: str | None = None,
               overrides: list[str] | None = None) -> StudySpec:
    """The study the command's files describe: one study file (it has ``methods:``), or W&B
    sweep files, each one method's search. ``confirm_seeds``: --confirm-seeds; ``overrides``:
    --set KEY=VALUE, pinned for every run like ``fixed:`` (and replacing a searched setting)."""
    if not files:
        raise ConfigError("emotui study needs a study file or W&B sweep files; see "
                          "'emotui study --help'")
    loaded = [(str(f), cfg.read_yaml_mapping(Path(f), "study file")) for f in files]
    pinned = parse_overrides(list(overrides or []))
    for key, value in pinned.items():
        if key in SELECTORS:
            raise ConfigError(f"--set {key}: a study's methods are chosen by its files; drop it")
        if key in cfg.PATH_FIELDS and isinstance(value, str):
            pinned[key] = _local_path(value)
    seeds = parse_seeds(confirm_seeds, "--confirm-seeds") if confirm_seeds is not None else None
    study_files = [f for f, data in loaded if "methods" in data]
    if study_files:
        if len(loaded) > 1:
            raise ConfigError(f"{study_files[0]} is a study file (it has methods:); give it alone, "
                              "or give W&B sweep files (one method each)")
        path, data = loaded[0]
        return parse_study(data, source=path, pinned=pinned, confirm_seeds=seeds)
    for path, data in loaded:
        if "parameters" not in data:
            raise ConfigError(f"{path} is neither a study file (methods:) nor a W&B sweep file "
                              "(parameters:); see 'emotui study --help'")
    return study_of_sweep_files(loaded, pinned=pinned, confirm_seeds=seeds)


def study_of_sweep_files(loaded: list[tuple[str, dict[str, Any]]], *,
                         pinned: dict[str, Any], confirm_seeds: list[int] | None) -> StudySpec:
    """W&B sweep files run as a study: each file searches one method, as the file says (its
    method, run_cap and early_terminate); the winners are picked on eval/accuracy."""
    source = ", ".join(path for path, _ in loaded)
    metric = Metric.parse(DEFAULT_METRIC, "select")
    searches: dict[str, MethodSearch] = {}
    for path, data in loaded:
        parse_sweep(data, source=path)  # the file alone, as `emotui sweep` checks it
        search = build_search(data.get("parameters"), path, origin=path, method=None,
                            top=data, settings=SearchSettings(), fixed={}, pinned=pinned,
                            metric=metric, data_given=False)
        if search.method in searches:
            raise ConfigError(f"{path} and {searches[search.method].origin} both search "
                              f"{search.method}; a study searches each method once")
        searches[search.method] = search
    spec = StudySpec(name="study", source=source, methods=searches, metric=metric,
                     confirm_seeds=confirm_seeds or [])
    _check_confirm(spec)
    return spec


# ---------------------------------------------------------------------------------------------
# The study file's sections
# ---------------------------------------------------------------------------------------------


def parse_study(data: Mapping[str, Any], *, source: str, pinned: dict[str, Any] | None = None,
                confirm_seeds: list[int] | None = None) -> StudySpec:
    refuse_unknown_keys(data, TOP_KEYS, source,
                        f"a study file has {', '.join(TOP_KEYS)}")
    name = _name(data.get("name"), source)
    metric = _select(data.get("select"), source)
    settings = _search_settings(data.get("search"), source)
    fixed, data_given = _fixed(data, source)
    pinned = dict(pinned or {})
    blocks = data.get("methods")
    if not isinstance(blocks, dict) or not blocks:
        raise ConfigError(f"{source}: methods must map method names to their search spaces, "
                          f"e.g. methods: {{full: {{parameters: ...}}, lora: }}; methods: "
                          f"{', '.join(registry.aliases())}")
    searches: dict[str, MethodSearch] = {}
    for raw_name, block in blocks.items():
        where = f"{source} methods.{raw_name}"
        method = registry.resolve(raw_name, where).name
        if method in searches:
            raise ConfigError(f"{where}: {method} is listed twice; a study searches each method "
                              "once")
        parameters, origin, top, trials = method_entry(block, where)
        search = build_search(parameters, where, origin=origin, method=method, top=top,
                            settings=settings, fixed=fixed, pinned=pinned, metric=metric,
                            data_given=data_given, trials=trials)
        if isinstance(block, dict) and block.get("confirm") is not None:
            search.confirm_settings = _confirm_settings(block["confirm"], f"{where}.confirm")
        searches[method] = search
    seeds, settings_ = _confirm(data.get("confirm"), source)
    spec = StudySpec(
        name=name or _stem(source), source=source, methods=searches, metric=metric,
        confirm_seeds=confirm_seeds if confirm_seeds is not None else seeds,
        confirm_settings=settings_,
        budget=Budget.parse(data.get("budget"), f"{source} budget"),
        description=str(data["description"]) if data.get("description") else None,
    )
    spec.report_formats, spec.report_title = _report(data.get("report"), source)
    spec.export, spec.export_merged = _export(data.get("export"), source)
    _check_confirm(spec)
    return spec


def _stem(source: str) -> str:
    return _name(Path(source).stem, source, check=False) or "study"


def _name(value: Any, source: str, check: bool = True) -> str | None:
    if value is None:
        return None
    stem = ID_STEM.sub("-", str(value).lower()).strip("-._")[:40]
    if check and not stem:
        raise ConfigError(f"{source}: name {value!r} has no letters or digits; give e.g. "
                          "name: emotion-study")
    return stem or None


def _select(block: Any, source: str) -> Metric:
    where = f"{source} select"
    if block is None:
        block = {"metric": DEFAULT_METRIC["name"], "goal": DEFAULT_METRIC["goal"]}
    elif isinstance(block, str):
        block = {"metric": block}
    mapping_block(block, SELECT_KEYS, where,
                  must_be="a mapping such as {metric: eval/accuracy, goal: maximize}",
                  holds="select has metric and goal")
    name = str(block.get("metric") or DEFAULT_METRIC["name"])
    split, fld = split_name(name, f"{where}.metric")
    if split != Event.EVAL:
        raise ConfigError(f"{where}.metric {name} is a {split} metric; a study picks its "
                          "winners on validation only: use eval/accuracy, eval/macro_f1 or "
                          "eval/loss")
    goal = block.get("goal") or ("minimize" if fld == EventField.LOSS else "maximize")
    return Metric.parse({"name": name, "goal": goal}, f"{where}")


def _search_settings(block: Any, source: str) -> SearchSettings:
    where = f"{source} search"
    if block is None:
        return SearchSettings()
    mapping_block(block, SEARCH_KEYS, where, must_be="a mapping such as {method: grid, trials: 12}",
                  holds=f"search has {', '.join(SEARCH_KEYS)}")
    out = SearchSettings()
    if block.get("method") is not None:
        out.method = str(block["method"]).strip().lower()
        if out.method not in SEARCH_METHODS:
            raise ConfigError(f"{where}.method: unknown search '{block['method']}'"
                              f"{suggest(out.method, SEARCH_METHODS)}; give grid, random or bayes")
    if block.get("trials") is not None:
        out.trials = positive_count(block["trials"], f"{where}.trials", "trials per method")
    if block.get("early_terminate") is not None:
        Hyperband.parse(block["early_terminate"], f"{where}.early_terminate")
        out.early_terminate = dict(block["early_terminate"])
    if block.get("seeds") is not None:
        out.seeds = _seeds(block["seeds"], f"{where}.seeds")
    return out


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        text = str(value)
    return parse_seeds(text, where)


def _fixed(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], bool]:
    """{setting: raw value} pinned for every run (model, data, fixed), and whether data: was
    given (then no method keeps a data setting of its own)."""
    out: dict[str, Any] = {}
    block = data.get("fixed")
    if block is not None and not isinstance(block, dict):
        raise ConfigError(f"{source} fixed must be a mapping of run settings, e.g. "
                          "fixed: {num_train_epochs: 2, max_seq_length: 128}")
    for raw_key, value in (block or {}).items():
        key = _setting_key(str(raw_key), f"{source} fixed")
        if key in SELECTORS:
            raise ConfigError(f"{source} fixed.{raw_key}: the methods are chosen under methods:, "
                              "not pinned; drop it")
        if isinstance(value, dict):
            raise ConfigError(f"{source} fixed.{raw_key}: give the value itself (fixed pins a "
                              "setting; search spaces go under methods.<name>.parameters)")
        out[key] = _local_path(value) if key in cfg.PATH_FIELDS and isinstance(value, str) \
            else value
    if data.get("model") is not None:
        if "model_name_or_path" in out:
            raise ConfigError(f"{source}: model and fixed.model_name_or_path both given; keep one")
        out["model_name_or_path"] = _local_path(str(data["model"]))
    data_given = data.get("data") is not None
    if data_given:
        given = [k for k in DATA_FIELDS if k in out]
        if given:
            raise ConfigError(f"{source}: data and fixed.{given[0]} both name the data; keep "
                              "data:")
        out.update(_data(data["data"], f"{source} data"))
    return out, data_given


def _setting_key(raw_key: str, where: str) -> str:
    key = cfg.normalize_key(raw_key)
    if key not in cfg.known_keys() or key == "extra_training_args":
        raise cfg.unknown_key_error(raw_key, where)
    if (key in cfg.FIELDS and cfg.FIELDS[key].secret) or key in cfg.SECRET_EXTRA_ARGS:
        raise ConfigError(f"{where}.{raw_key}: secrets are never stored; set it in the "
                          "environment")
    return key


def _local_path(value: str) -> str:
    """An existing local path made absolute (a resumed study works from any folder)."""
    path = Path(value).expanduser()
    return os.path.normpath(os.path.abspath(path)) if path.exists() else value


def _data(block: Any, where: str) -> dict[str, Any]:
    """`data:` -> data settings: a folder with train/validation/test files, a Hub dataset name,
    or a mapping (dataset_name, dataset_config_name, dir, train, validation, test)."""
    out: dict[str, Any] = {key: None for key in DATA_FIELDS}
    if isinstance(block, str):
        text = block.strip()
        path = Path(text).expanduser()
        if path.is_dir():
            out["data_dir"] = _local_path(text)
        elif path.is_file():
            raise ConfigError(f"{where}: {text} is a file; give its folder (train, validation "
                              "and test files inside) or data: {train: ..., validation: ..., "
                              "test: ...}")
        elif text.startswith(("./", "../", "/", "~")) or text in (".", ".."):
            raise ConfigError(f"{where}: folder {text} does not exist; check the path, or give "
                              "a dataset name such as dair-ai/emotion")
        elif not text:
            raise ConfigError(f"{where} is empty; give a data folder or a dataset name")
        else:
            out["dataset_name"] = text
        return out
    if not isinstance(block, dict) or not block:
        raise ConfigError(f"{where} must be a data folder, a dataset name, or a mapping such as "
                          "{train: train.jsonl, validation: validation.jsonl, test: test.jsonl}")
    for key, value in block.items():
        if key not in DATA_KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'{suggest(str(key), DATA_KEYS)}; "
                              f"data has {', '.join(DATA_KEYS)}")
        setting = DATA_KEYS[key]
        out[setting] = _local_path(str(value)) if setting not in ("dataset_name",
                                                                  "dataset_config_name") \
            else value
    return out


def _confirm(block: Any, source: str) -> tuple[list[int], dict[str, Any]]:
    where = f"{source} confirm"
    if block is None:
        return [], {}
    if isinstance(block, (list, int, str)) and not isinstance(block, bool):
        return _seeds(block, f"{where}.seeds"), {}
    if not isinstance(block, dict):
        raise ConfigError(f"{where} must be a list of seeds, or a mapping such as "
                          "{seeds: [1, 2, 3], num_train_epochs: 5}")
    seeds = _seeds(block["seeds"], f"{where}.seeds") if block.get("seeds") is not None else []
    settings = _confirm_settings({k: v for k, v in block.items() if k != "seeds"}, where)
    if settings and not seeds:
        raise ConfigError(f"{where} changes settings but lists no seeds; add "
                          "confirm.seeds: [1, 2, 3]")
    return seeds, settings


def _confirm_settings(block: Any, where: str) -> dict[str, Any]:
    """{setting: raw value} the confirm runs change (confirm:, or a method's own confirm:)."""
    if not isinstance(block, dict):
        raise ConfigError(f"{where} must be a mapping of run settings, e.g. "
                          "{num_train_epochs: 5}")
    settings: dict[str, Any] = {}
    for raw_key, value in block.items():
        if raw_key == "seeds":
            raise ConfigError(f"{where}.seeds: the confirm seeds are the study's (confirm.seeds); "
                              "a method's confirm changes settings only")
        key = cfg.normalize_key(str(raw_key))
        if key not in cfg.known_keys() or key == "extra_training_args":
            # Never "did you mean" the key refused (extra_training_args is a field, but only a
            # file's whole mapping; confirm pins single settings).
            hint = suggest(str(raw_key), ["seeds", *sorted(set(cfg.FIELDS) - {key})])
            raise ConfigError(f"{where}: unknown key '{raw_key}'{hint}; confirm has seeds and "
                              "the run settings its runs change (num_train_epochs, ...)")
        key = _setting_key(str(raw_key), where)
        if key == "seed":
            raise ConfigError(f"{where}.seed: confirm runs one run per seed; give "
                              "confirm.seeds: [1, 2, 3]")
        if key in SELECTORS:
            raise ConfigError(f"{where}.{raw_key}: confirm reruns each method's winner; it "
                              "cannot change the method")
        if key in CONFIRM_FORCED and value is not None and \
                cfg.coerce_value(key, value, where) is not CONFIRM_FORCED[key]:
            raise ConfigError(f"{where}.{raw_key}: confirm runs always evaluate and predict "
                              "the test split; drop it")
        if isinstance(value, dict):
            raise ConfigError(f"{where}.{raw_key}: give the value itself; confirm pins settings")
        settings[key] = value
    return settings


def _check_confirm(spec: StudySpec) -> None:
    """Build each method's confirmation sweep for a stand-in winner: its settings must make
    valid runs for every method (one line otherwise, before anything is stored)."""
    if not spec.confirm_seeds:
        own = [m for m, search in spec.methods.items() if search.confirm_settings]
        if own:
            raise ConfigError(f"{spec.source} methods.{own[0]}.confirm changes settings but the "
                              "study lists no confirm seeds; add confirm.seeds: [1, 2, 3]")
        return
    for method, search in spec.methods.items():
        values = search.spec.parameter_values(representative_values(search.spec))
        spec.parse_confirm(method, spec.confirm_sweep(method, values))


def _report(block: Any, source: str) -> tuple[tuple[str, ...], str | None]:
    where = f"{source} report"
    if block is None or block is True:
        return REPORT_FORMATS, None
    if block is False:
        return (), None
    if isinstance(block, (list, str)):
        block = {"formats": block}
    mapping_block(block, REPORT_KEYS, where,
                  must_be=f"false, a list of formats ({', '.join(REPORT_FORMATS)}) or a mapping "
                  "with formats and title",
                  holds="report has formats and title")
    formats = block.get("formats", list(REPORT_FORMATS))
    formats = [formats] if isinstance(formats, str) else formats
    if not isinstance(formats, list):
        raise ConfigError(f"{where}.formats must be a list such as [pdf, html, md]")
    out = []
    for fmt in formats:
        fmt = {"markdown": "md", "typst": "pdf"}.get(str(fmt).lower(), str(fmt).lower())
        if fmt not in REPORT_FORMATS:
            raise ConfigError(f"{where}.formats: unknown format '{fmt}'"
                              f"{suggest(fmt, REPORT_FORMATS)}; give {', '.join(REPORT_FORMATS)}")
        if fmt not in out:
            out.append(fmt)
    title = block.get("title")
    return tuple(out), (str(title) if title else None)


def _export(block: Any, source: str) -> tuple[bool, bool | None]:
    where = f"{source} export"
    if block is None or block is True:
        return True, None
    if block is False:
        return False, None
    mapping_block(block, EXPORT_KEYS, where,
                  must_be="true, false or a mapping such as {merged: true}",
                  holds="export has merged (PEFT adapters merged into the model)")
    merged = block.get("merged")
    if merged is not None and not isinstance(merged, bool):
        raise ConfigError(f"{where}.merged must be true or false, got {merged!r}")
    return True, merged

