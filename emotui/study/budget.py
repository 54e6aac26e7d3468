"""A study's budget: device-hours (GPU-hours; CPU-hours on a CPU) and/or wall time.

The budget bounds search only. Each method's search gets an equal share of what the methods
before it left (so what one method saves carries over to the next), and at least one trial
whatever is left; once its share is spent the method's sweep starts no new trial (trials already
running finish) and the study goes on. Confirm always runs.

Spending is read from the run directories, so it survives a killed study: a run's device time is
its wall time from start to end (or to now while it runs, or to its last status write while it
waits to be resumed), divided by the trials sharing its GPU (--trials-per-gpu). The wall time is
the time a study process spent driving the search, counted by the study's heartbeat.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from emotui.core.errors import ConfigError
from emotui.core.lifecycle import ACTIVE, state_of
from emotui.core.runstore import RunStore
from emotui.core.setting_values import finite_number, mapping_block
from emotui.core.status import read_status

KEYS = ("gpu_hours", "cpu_hours", "wall_time")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?"
                       r"(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: Any, where: str) -> float:
    """'90m', '1.5h', '1h30m', '45s', '2d', '01:30:00' -> seconds; a bare number is refused
    (hours or seconds? the file must say)."""
    hint = "give it with a unit, e.g. 90m, 2h, 1h30m or 01:30:00"
    if isinstance(text, bool) or isinstance(text, (int, float)):
        raise ConfigError(f"{where}: {text!r} has no unit; {hint}")
    raw = str(text).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+:\d{1,2}(:\d{1,2})?", raw):
        parts = [int(p) for p in raw.split(":")]
        while len(parts) < 3:
            parts.append(0)
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    else:
        match = _DURATION.match(raw)
        if not raw or match is None or not any(match.groups()):
            raise ConfigError(f"{where}: {text!r} is not a duration; {hint}")
        seconds = sum(float(v) * _UNIT_S[u] for v, u in zip(match.groups(), "dhms") if v)
    if seconds <= 0:
        raise ConfigError(f"{where}: {text!r} must be longer than 0; {hint}")
    return float(seconds)


@dataclass(frozen=True)
class Budget:
    device_hours: float | None = None  # gpu_hours (cpu_hours on a machine without a GPU)
    wall_s: float | None = None

    @property
    def given(self) -> bool:
        return self.device_hours is not None or self.wall_s is not None

    @classmethod
    def parse(cls, block: Any, where: str) -> Budget:
        if block is None:
            return cls()
        mapping_block(block, KEYS, where, must_be="a mapping such as {gpu_hours: 4, wall_time: 8h}",
                      holds="a budget has gpu_hours (or cpu_hours) and wall_time")
        if "gpu_hours" in block and "cpu_hours" in block:
            raise ConfigError(f"{where}: gpu_hours and cpu_hours are the same budget (device "
                              "hours; CPU-hours on a CPU); give one")
        hours = block.get("gpu_hours", block.get("cpu_hours"))
        if hours is not None:
            key = "gpu_hours" if "gpu_hours" in block else "cpu_hours"
            hours = float(finite_number(hours, f"{where}.{key}"))
            if not hours > 0:
                raise ConfigError(f"{where}.{key} must be a number of hours above 0, got "
                                  f"{block[key]!r}")
        wall = block.get("wall_time")
        wall_s = parse_duration(wall, f"{where}.wall_time") if wall is not None else None
        return cls(hours, wall_s)

    def to_json(self) -> dict[str, Any]:
        return {"device_hours": self.device_hours, "wall_s": self.wall_s}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Budget:
        data = data or {}
        return cls(data.get("device_hours"), data.get("wall_s"))


@dataclass(frozen=True)
class Spent:
    """What a study's search used so far."""

    device_s: float = 0.0
    wall_s: float = 0.0

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.device_s + other.device_s, self.wall_s + other.wall_s)


def share(budget: Budget, spent_before: Spent, methods_left: int) -> Spent | None:
    """The part of the budget one method's search may spend: an equal share of what the
    methods before it left (never below zero); None without a budget."""
    if not budget.given:
        return None
    n = max(1, methods_left)
    device = (max(0.0, budget.device_hours * 3600 - spent_before.device_s) / n
              if budget.device_hours is not None else float("inf"))
    wall = (max(0.0, budget.wall_s - spent_before.wall_s) / n
            if budget.wall_s is not None else float("inf"))
    return Spent(device, wall)


def exceeded(spent: Spent, allowed: Spent) -> str | None:
    """Which part of a share is spent ("device" or "wall"), or None."""
    if spent.device_s >= allowed.device_s:
        return "device"
    if spent.wall_s >= allowed.wall_s:
        return "wall"
    return None


def run_device_seconds(store: RunStore, run_id: str, *, trials_per_gpu: int = 1,
                       at: float | None = None) -> float:
    """One run's device time (see the module's docstring); 0 for a run that never started."""
    status = read_status(store.paths(run_id))
    started = status.get("started")
    if not isinstance(started, (int, float)):
        return 0.0
    end = status.get("ended")
    if not isinstance(end, (int, float)):
        live = state_of(status) in ACTIVE
        end = (at or time.time()) if live else status.get("updated")
    if not isinstance(end, (int, float)):
        return 0.0
    return max(0.0, float(end) - float(started)) / max(1, trials_per_gpu)


def unit(devices: list[str]) -> str:
    """"GPU-hours", or "CPU-hours" when every run measured so far trained on a CPU."""
    return "CPU-hours" if devices and all(d.startswith("cpu") for d in devices) else "GPU-hours"
