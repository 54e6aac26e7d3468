"""A run's files as every reader sees them: read tolerantly, checked, passed on typed.

status.json, results.json and config.yaml may hold anything by the time a reader opens them (a
crashed writer on a full disk, an edit by hand, a newer emotui, a copy gone wrong). ``read_run``
never raises and never writes: it returns a ``RunView`` holding only the fields whose type is
the one emotui writes, plus one line per ``problem`` it found ("status.json: state is 5 (a
number), expected text"). A run with problems lists as ``unreadable`` with the reason, and
every other run lists as usual: `emotui ls`, `show`, `compare` and the TUI all read through here
(core.results.summarize builds their row from a view). A run's state is status.json's: the
view's results carry it as their ``status`` whatever results.json says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emotui.core.config import FIELDS
from emotui.core.errors import quoted
from emotui.core.runstore import RunPaths
from emotui.core.schema import RESULTS_SCHEMA, SCHEMA_KEY, STATUS_SCHEMA, newer_than_known
from emotui.core.vocabulary import ResultKey
from emotui.core.yaml_load import YamlTooLarge, load_yaml

# The state a row shows for a run whose files cannot be read as emotui wrote them.
UNREADABLE = "unreadable"
# A run's JSON and YAML files are small; one this large is not one emotui wrote.
MAX_FILE_BYTES = 64 * 1024 * 1024

_NUMBER = "number"
_INTEGER = "integer"
_TEXT = "text"
_ID = "id"  # a job id: text, or a number from an older record
_MAPPING = "mapping"
_LIST = "list"
_BOOL = "boolean"

# status.json's fields and their types (core.status, core.lifecycle, the job's position fields).
# Fields not named here pass unchecked; readers look only at these.
STATUS_FIELDS: dict[str, str] = {
    "state": _TEXT, "reason": _TEXT, "backend": _TEXT, "job_id": _ID, "run_id": _TEXT,
    "method": _TEXT, "sweep_id": _TEXT, "sweep_trial": _INTEGER, "group": _TEXT,
    "created": _NUMBER, "started": _NUMBER, "ended": _NUMBER, "updated": _NUMBER,
    "host": _TEXT, "pid": _INTEGER, "attempt": _INTEGER, "starts": _INTEGER, "phase": _TEXT,
    "schema_version": _INTEGER,
    "epoch": _NUMBER, "progress": _NUMBER, "step": _INTEGER, "total_steps": _INTEGER,
    "samples_per_second": _NUMBER, "elapsed_s": _NUMBER, "eta_s": _NUMBER, "eta_pace": _NUMBER,
    "position_time": _NUMBER, "pass_done": _INTEGER, "pass_total": _INTEGER,
    "gpu_util": _NUMBER, "gpu_mem_used_bytes": _NUMBER, "gpu_mem_total_bytes": _NUMBER,
    "num_virtual_tokens": _INTEGER,
    "wandb_run_id": _TEXT, "wandb_url": _TEXT, "wandb_project": _TEXT, "wandb_entity": _TEXT,
    "wandb_warning": _TEXT, "resources": _MAPPING,
}

# results.json's fields (core.results.RESULT_KEYS) and their types.
RESULTS_FIELDS: dict[str, str] = {
    ResultKey.RUN_ID: _TEXT, ResultKey.STATUS: _TEXT, ResultKey.METHOD: _TEXT,
    ResultKey.MODEL: _TEXT, ResultKey.BEST_EPOCH: _NUMBER, ResultKey.EVAL_ACCURACY: _NUMBER,
    ResultKey.EVAL_MACRO_F1: _NUMBER, ResultKey.TEST_ACCURACY: _NUMBER,
    ResultKey.TEST_MACRO_F1: _NUMBER, ResultKey.PER_CLASS: _MAPPING,
    ResultKey.CONFUSION_MATRIX: _LIST, ResultKey.LABEL_NAMES: _LIST,
    ResultKey.TRAINABLE_PARAMS: _INTEGER, ResultKey.TOTAL_PARAMS: _INTEGER,
    ResultKey.CHECKPOINT_BYTES: _INTEGER, ResultKey.TRAIN_RUNTIME_S: _NUMBER,
    ResultKey.TRAIN_SAMPLES_PER_SECOND: _NUMBER, ResultKey.EVAL_SAMPLES_PER_SECOND: _NUMBER,
    ResultKey.PEAK_GPU_MEMORY_BYTES: _NUMBER, ResultKey.EPOCHS_COMPLETED: _NUMBER,
    ResultKey.COLLAPSED: _BOOL, ResultKey.NUM_VIRTUAL_TOKENS: _INTEGER,
    ResultKey.ATTEMPT: _INTEGER, SCHEMA_KEY: _INTEGER,
}


@dataclass(frozen=True)
class RunView:
    """What a reader may rely on of one run: fields of the expected types only."""

    paths: RunPaths
    status: dict[str, Any]
    config: dict[str, Any]
    results: dict[str, Any] | None
    problems: tuple[str, ...] = ()

    @property
    def readable(self) -> bool:
        return not self.problems

    @property
    def why(self) -> str | None:
        """One line saying what is wrong with the run's files (None when nothing is)."""
        if not self.problems:
            return None
        shown = "; ".join(self.problems[:3])
        more = len(self.problems) - 3
        return shown + (f"; and {more} more" if more > 0 else "")


def read_run(paths: RunPaths, config: Mapping[str, Any] | None = None) -> RunView:
    """The run in ``paths`` as a RunView; ``config`` is its config.yaml when already read (and
    checked the same way). Never raises for what a file holds; never writes."""
    problems: list[str] = []
    raw_status, problem = read_json_object(paths.status)
    status = _checked(raw_status or {}, STATUS_FIELDS, "status.json", problems,
                      problem or _newer(raw_status, STATUS_SCHEMA, "status.json"))
    raw_results, problem = read_json_object(paths.results)
    results = None if raw_results is None and problem is None else \
        _checked(raw_results or {}, RESULTS_FIELDS, "results.json", problems,
                 problem or _newer(raw_results, RESULTS_SCHEMA, "results.json"))
    if results is not None:
        _check_per_class(results, problems)
        if status.get("state") and results.get("status") != status["state"]:
            # status.json is the truth about how the run stands; results.json's own word was
            # written before the state (a job killed between them, an attempt since resumed).
            results["status"] = status["state"]
    if config is None:
        raw_config, problem = read_yaml_object(paths.config)
        if raw_config is None and problem is None and raw_status is not None:
            # A run is created config.yaml first, then status.json: a run with a status but
            # no config.yaml lost its settings (a process that recreated a deleted folder).
            problem = "no config.yaml (the run's settings are missing)"
    else:
        raw_config, problem = dict(config), None
    checked_config = _checked(raw_config or {}, _config_fields(), "config.yaml", problems, problem)
    return RunView(paths, status, checked_config, results, tuple(problems))


def _newer(record: dict[str, Any] | None, known: int, name: str) -> str | None:
    return newer_than_known(record, known, name) if record is not None else None


def read_checked_status(paths: RunPaths) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(status.json's fields of the expected types, the problems found): for code that acts
    on a run's state (a backend refresh) and must leave a run it cannot read alone."""
    problems: list[str] = []
    raw, problem = read_json_object(paths.status)
    problem = problem or _newer(raw, STATUS_SCHEMA, "status.json")
    return _checked(raw or {}, STATUS_FIELDS, "status.json", problems, problem), tuple(problems)


# -- reading one file --------------------------------------------------------------------------


def _read_bytes(path: os.PathLike) -> tuple[bytes | None, str | None]:
    """(content, None), (None, None) when absent, or (None, why it cannot be read)."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return None, f"{name} is a directory, not a file"
    except OSError as exc:
        return None, f"{name} cannot be read ({exc.strerror or type(exc).__name__})"
    if len(data) > MAX_FILE_BYTES:
        return None, f"{name} is over {MAX_FILE_BYTES // 2**20} MB"
    if not data.strip():
        return None, f"{name} is empty"
    return data, None


def _read_text(path: os.PathLike) -> tuple[str | None, str | None]:
    """(the file's text, None), (None, None) when absent, or (None, why it is not text)."""
    name = os.path.basename(path)
    data, problem = _read_bytes(path)
    if data is None:
        return None, problem
    if b"\0" in data:
        return None, f"{name} holds binary data"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, f"{name} is not UTF-8 text"


def read_json_object(path: os.PathLike) -> tuple[dict[str, Any] | None, str | None]:
    """(the JSON object in path, None), (None, None) when absent, or (None, why not)."""
    name = os.path.basename(path)
    text, problem = _read_text(path)
    if text is None:
        return None, problem
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{name} is not valid JSON (line {exc.lineno}: {exc.msg})"
    except RecursionError:
        return None, f"{name} is nested too deeply"
    if not isinstance(value, dict):
        return None, f"{name} holds {_kind(value)}, not an object"
    return value, None


def read_yaml_object(path: os.PathLike) -> tuple[dict[str, Any] | None, str | None]:
    """(the YAML mapping in path, None), (None, None) when absent, or (None, why not)."""
    import yaml

    name = os.path.basename(path)
    text, problem = _read_text(path)
    if text is None:
        return None, problem
    try:
        value = load_yaml(text, name)
    except YamlTooLarge as exc:  # a YAML bomb (core.yaml_load)
        return None, str(exc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        return None, f"{name} is not valid YAML{where}"
    except RecursionError:
        return None, f"{name} is nested too deeply"
    if value is None:
        return None, f"{name} is empty"
    if not isinstance(value, dict):
        return None, f"{name} holds {_kind(value)}, not a mapping"
    return value, None


# -- checking fields ---------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _fits(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind == _NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _ID:
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if kind == _MAPPING:
        return isinstance(value, dict)
    if kind == _LIST:
        return isinstance(value, list)
    if kind == _BOOL:
        return isinstance(value, bool)
    raise AssertionError(kind)


def _checked(data: Mapping[str, Any], fields: Mapping[str, str], name: str,
             problems: list[str], problem: str | None) -> dict[str, Any]:
    """``data`` without the fields whose type is wrong; each one found adds a problem."""
    if problem is not None:
        problems.append(problem)
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        kind = fields.get(str(key))
        if kind is not None and not _fits(value, kind):
            expected = kind if kind == _TEXT else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
            problems.append(f"{name}: {key} is {quoted(value)} ({_kind(value)}), "
                            f"expected {expected}")
            continue
        out[str(key)] = value
    return out


def _check_per_class(results: dict[str, Any], problems: list[str]) -> None:
    """per_class is {label: {precision, recall, f1, support}} with numbers."""
    per_class = results.get(ResultKey.PER_CLASS)
    if not per_class:
        return
    for label, metrics in per_class.items():
        bad = not isinstance(metrics, dict) or any(
            not _fits(value, _NUMBER) for value in metrics.values())
        if bad:
            problems.append(f"results.json: per_class[{quoted(label)}] is {quoted(metrics)}, "
                            "expected a mapping of numbers")
            results.pop(ResultKey.PER_CLASS)
            return


_CONFIG_FIELDS: dict[str, str] | None = None


def _config_fields() -> dict[str, str]:
    """config.yaml's fields and their types, from the run config schema (core.config)."""
    global _CONFIG_FIELDS
    if _CONFIG_FIELDS is None:
        kinds = {bool: _BOOL, int: _INTEGER, float: _NUMBER, str: _TEXT, dict: _MAPPING,
                 list: _LIST}
        _CONFIG_FIELDS = {name: kinds[spec.type] for name, spec in FIELDS.items()
                          if spec.type in kinds}
        _CONFIG_FIELDS["method"] = _TEXT
    return _CONFIG_FIELDS
