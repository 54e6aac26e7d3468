"""Resources: what a backend's jobs ask their scheduler for (``ResourceSettings``, named by a
backend's spec), and Slurm's (``SLURM_RESOURCES``).

A ``BackendSpec`` that takes resources names its ``ResourceSettings``: the settings schema (the
type, default, help, flag and form row of each setting) and the config section that holds them.
The CLI's flags and their help group, the TUI's form rows, a sweep's and a resume's resources
all follow it, so they name no backend.

Slurm's merge from four layers. Precedence (lowest first): built-in defaults < the user config
file's ``slurm:`` section (``~/.config/emotui/config.yaml``) < the ``slurm:`` section of a
``--config`` file < flags. Keys are the flag names with underscores::

    slurm:
      partition: gpu
      gpus: 1              # or gres: gpu:a100:1
      cpus_per_task: 8
      mem: 32G
      time: "04:00:00"     # minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]], or 90m / 4h / 1d
      account: my-project
      qos: normal
      constraint: a100
      sbatch_args: {mail-type: END}   # any other sbatch option (a list of "key=value" works too)
      setup: ["module load cuda/12.4", "source ~/venvs/emotui/bin/activate"]
      python: null         # the job's python command (default: this interpreter)
      max_requeues: 3      # timeouts requeued from the last checkpoint before giving up
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Callable, Iterable, Mapping, Sequence

from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.setting_values import finite_number
from emotui.core.settings import (
    MERGE_EXTEND,
    MERGE_UPDATE,
    FieldSpec,
    Schema,
    form_specs,
    layer_settings,
    setting,
)
from emotui.core.userconfig import user_layer, user_section

# (source, mapping or None), lowest precedence first: what ResourceSettings.merge takes.
Layers = Sequence[tuple[str, "Mapping[str, Any] | None"]]


@dataclass(frozen=True)
class ResourceSettings:
    """The resources a backend's jobs take, declared once (``BackendSpec.resources``).

    ``section`` is where config files hold them: the ``<section>:`` mapping of the user config
    and of a ``--config`` file; the CLI shows their flags as "<section> resources", the TUI's
    launch form as the rows ``#<section>-fields``. ``merge`` builds an instance of
    ``schema.cls`` (what ``submit(resources=)`` takes) from layers, lowest precedence first.
    """

    schema: Schema
    section: str
    merge: Callable[[Layers], Any]

    @property
    def cls(self) -> type:
        return self.schema.cls

    def from_sources(self, config_section: Mapping[str, Any] | None = None,
                     flags: Mapping[str, Any] | None = None, *,
                     config_source: str = "--config file", flags_source: str = "command line",
                     previous: Mapping[str, Any] | None = None) -> Any:
        """Defaults < user config ``<section>:`` < --config ``<section>:`` < flags (or the
        TUI's form). ``previous``: a resumed run's last submission, which stands in for the
        user config."""
        base = ("the run's last submission", previous) if previous is not None \
            else user_layer(self.section)
        return self.merge([base, (f"{config_source} ({self.section}:)", config_section),
                           (flags_source, flags)])

    def form_fields(self) -> tuple[FieldSpec, ...]:
        """The settings a launch form asks for (the schema's common ones)."""
        return tuple(form_specs(self.schema))

    def user_defaults(self) -> dict[str, str]:
        """The user config's ``<section>:`` values as form text ({} when unreadable)."""
        try:
            section = user_section(self.section)
        except (ImportError, EmotuiError):
            return {}
        return {k: "" if v is None else str(v) for k, v in section.items()}


# --- Slurm ---------------------------------------------------------------------------------------

# Options emotui sets itself: a user's sbatch_args must not fight them.
_RESERVED_SBATCH = {"job-name", "output", "error", "array", "open-mode", "signal", "wrap",
                    "parsable"}


def parse_time_minutes(value: Any, source: str = "slurm") -> int:
    """A Slurm time limit in minutes from 90, "90", "90m", "4h", "1d", "MM:SS", "HH:MM:SS",
    "D-HH", "D-HH:MM" or "D-HH:MM:SS"."""
    where = f"slurm time (from {source})"
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a duration such as 04:00:00, got {value!r}")
    if isinstance(value, (int, float)):
        minutes = float(finite_number(value, where))
    else:
        text = str(value).strip().lower()
        unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|min|h|d)", text)
        clock = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
        if unit:
            minutes = float(unit.group(1)) * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit.group(2)]
        elif clock:
            days, a, b, c = clock.groups()
            if days is not None:  # D-HH[:MM[:SS]]
                minutes = int(days) * 1440 + int(a) * 60 + int(b or 0) + int(c or 0) / 60
            elif c is not None:  # HH:MM:SS
                minutes = int(a) * 60 + int(b) + int(c) / 60
            elif b is not None:  # MM:SS (Slurm's reading of two fields)
                minutes = int(a) + int(b) / 60
            else:
                minutes = int(a)
        else:
            raise ConfigError(
                f"{where} must be minutes or [D-]HH:MM:SS (e.g. 04:00:00, 90m, 1d), got {value!r}"
            )
    if minutes <= 0:
        raise ConfigError(f"{where} must be positive, got {value!r}")
    return max(1, int(round(minutes + 0.4999)))  # round up: never ask for less than given


def parse_mem(value: Any, source: str = "slurm") -> str:
    """Memory as sbatch takes it: 16G, 4000M, 1T (a bare number means GB)."""
    text = str(value).strip().upper().removesuffix("B")
    if re.fullmatch(r"\d+", text):
        return f"{text}G"
    if re.fullmatch(r"\d+[KMGT]", text):
        return text
    raise ConfigError(f"slurm mem (from {source}) must look like 16G or 4000M, got {value!r}")


def _positive_int(name: str, value: Any, source: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if isinstance(value, bool) or number < (0 if name == "max_requeues" else 1):
        raise ConfigError(f"slurm {name} (from {source}) must be a positive integer, got {value!r}")
    return number


def _sbatch_args(value: Any, source: str) -> dict[str, str]:
    """{"key": "value"} from a mapping, "key=value" strings or a list of them; "--" optional."""
    if value is None:
        return {}
    items: Iterable[tuple[str, Any]]
    if isinstance(value, Mapping):
        items = value.items()
    else:
        raw = [value] if isinstance(value, str) else list(value)
        pairs = []
        for entry in raw:
            key, sep, val = str(entry).partition("=")
            pairs.append((key, val if sep else True))
        items = pairs
    out: dict[str, str] = {}
    for key, val in items:
        name = str(key).strip().lstrip("-").replace("_", "-")
        if not name or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
            raise ConfigError(f"slurm sbatch_args (from {source}): '{key}' is not an sbatch option "
                              "name; write e.g. --sbatch-arg mail-type=END")
        if name in _RESERVED_SBATCH:
            raise ConfigError(f"slurm sbatch_args (from {source}): emotui sets --{name} itself; "
                              "drop it")
        out[name] = val if val is True else str(val)
    return out


def _setup_lines(value: Any, source: str) -> list[str]:
    if value is None:
        return []
    lines = [value] if isinstance(value, str) else list(value)
    for line in lines:
        if not isinstance(line, str) or "\n" in line:
            raise ConfigError(f"slurm setup (from {source}) must be a list of one-line shell "
                              f"commands, got {line!r}")
    return list(lines)


@dataclass
class SlurmResources:
    """What a job asks the scheduler for; unset values leave the cluster's defaults."""

    partition: str | None = setting(None, "Slurm partition (queue)", metavar="NAME", form=True,
                                    default_help="the cluster's")
    # Per node (submitit's gpus_per_node).
    gpus: int | None = setting(None, "GPUs per node (--gpus-per-node)", label="GPUs per node",
                               metavar="N", form=True, parse=partial(_positive_int, "gpus"))
    gres: str | None = setting(None, "generic resources, e.g. gpu:a100:1 (instead of --gpus)",
                               metavar="SPEC")
    cpus_per_task: int | None = setting(None, "CPU cores for the job", label="CPUs per task",
                                        metavar="N", form=True,
                                        parse=partial(_positive_int, "cpus_per_task"))
    mem: str | None = setting(None, "memory per node as sbatch takes it, e.g. 32G",
                              label="memory", metavar="SIZE", form=True, parse=parse_mem)
    time: int | None = setting(None, "time limit: minutes or [D-]HH:MM:SS, e.g. 04:00:00, 90m, 4h",
                               label="time limit", metavar="LIMIT", form=True,
                               default_help="the partition's", parse=parse_time_minutes)
    account: str | None = setting(None, "account to charge", metavar="NAME", form=True)
    qos: str | None = setting(None, "quality of service", label="QoS", metavar="NAME", form=True)
    constraint: str | None = setting(None, "node features, e.g. a100", metavar="EXPR", form=True)
    sbatch_args: dict[str, str] = setting(
        {}, "any other sbatch option as KEY=VALUE (repeatable), e.g. --sbatch-arg mail-type=END",
        flag_name="sbatch_arg", metavar="KEY=VALUE", repeatable=True, merge=MERGE_UPDATE,
        parse=_sbatch_args)
    # Site modules first, then the experiment's: setup lines from every layer run in order.
    setup: list[str] = setting(
        [], "shell line run before the job starts (repeatable), e.g. 'module load cuda/12.4'",
        metavar="LINE", repeatable=True, merge=MERGE_EXTEND, parse=_setup_lines)
    python: str | None = setting(None, "the job's python command", flag=False,
                                 default_help="this interpreter")
    max_requeues: int = setting(3, "timeouts requeued from the last checkpoint before giving up",
                                flag=False, parse=partial(_positive_int, "max_requeues"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SLURM_SETTINGS = Schema.of(
    SlurmResources, "slurm", prefix="slurm ",
    aliases={"gpus_per_node": "gpus", "cpus": "cpus_per_task", "sbatch_arg": "sbatch_args",
             "timeout_min": "time", "time_limit": "time", "constraints": "constraint"},
    skip_empty=True, dest_prefix="slurm__", underscore_flags="none",
)


# Slurm warns a job this long before its time limit (submitit's --signal=USR2@90); the job then
# saves a checkpoint at its current step and is requeued (up to max_requeues times).
TIME_LIMIT_SIGNAL_S = 90
# A limit that leaves less than this before that warning is said to be short: starting Python,
# loading the model and data, and one evaluation (which a stop waits for) often take longer.
SHORT_WORK_S = 5 * 60


def merge_resources(layers: Layers) -> SlurmResources:
    """Layers lowest-precedence first, e.g. [("~/.config/emotui/config.yaml", {...}),
    ("exp.yaml", {...}), ("command line", {...})]. sbatch_args merge key by key; setup lines
    from every layer run in order (site modules first, then the experiment's). A time limit
    no longer than Slurm's time-limit warning is refused: such a job is told to stop as it
    starts, every time it is requeued."""
    merged = layer_settings(SLURM_SETTINGS, layers)
    if merged.values.get("gpus") is not None and merged.values.get("gres") is not None:
        raise ConfigError("slurm gpus and gres both set; give one (gres: gpu:a100:1 or gpus: 1)")
    minutes = merged.values.get("time")
    if minutes is not None and minutes * 60 <= TIME_LIMIT_SIGNAL_S:
        least = math.ceil((TIME_LIMIT_SIGNAL_S + SHORT_WORK_S) / 60)
        raise ConfigError(
            f"slurm time (from {merged.sources['time']}) of {minutes} min is not longer than "
            f"the {TIME_LIMIT_SIGNAL_S} s warning Slurm sends before the limit to save a "
            "checkpoint and requeue: the job would be told to stop as it starts, and again at "
            f"each requeue; give --time {least} or more")
    return merged.build()


def time_limit_warning(res: SlurmResources) -> str | None:
    """A warning for a time limit that leaves a job little time before Slurm's time-limit
    signal, or None."""
    if res.time is None:
        return None
    work = res.time * 60 - TIME_LIMIT_SIGNAL_S
    if work >= SHORT_WORK_S:
        return None
    least = math.ceil((TIME_LIMIT_SIGNAL_S + SHORT_WORK_S) / 60)
    return (f"slurm time {res.time} min leaves a job {work} s before Slurm's time-limit signal "
            f"({TIME_LIMIT_SIGNAL_S} s before the limit); starting, loading the model and one "
            "evaluation (which a stop waits for) often take longer, and each requeue starts "
            f"the same way: consider --time {least} or more")


# What the slurm backend's spec names: its settings and the config files' `slurm:` section.
SLURM_RESOURCES = ResourceSettings(SLURM_SETTINGS, section="slurm", merge=merge_resources)


def resources_from_sources(
    config_section: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    config_source: str = "--config file",
    flags_source: str = "command line",
    previous: Mapping[str, Any] | None = None,
) -> SlurmResources:
    """Slurm's resources: defaults < user config ``slurm:`` < --config ``slurm:`` < flags (or
    the TUI's form); see ResourceSettings.from_sources."""
    return SLURM_RESOURCES.from_sources(config_section, flags, config_source=config_source,
                                        flags_source=flags_source, previous=previous)


def submitit_parameters(res: SlurmResources, job_name: str) -> dict[str, Any]:
    """SlurmExecutor.update_parameters keywords for these resources."""
    params: dict[str, Any] = {"job_name": job_name}
    for key in ("partition", "cpus_per_task", "mem", "account", "qos", "constraint", "gres"):
        value = getattr(res, key)
        if value is not None:
            params[key] = value
    if res.gpus is not None:
        params["gpus_per_node"] = res.gpus
    if res.setup:
        params["setup"] = list(res.setup)
    if res.sbatch_args:
        params["additional_parameters"] = dict(res.sbatch_args)
    return params
