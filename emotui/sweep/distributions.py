"""W&B sweep parameter distributions: which one a parameter block means, its support, a sample.

Semantics follow W&B's sweep schema and sampler (github.com/wandb/sweeps, params.py/schema.json):
``log_uniform`` takes its bounds in natural-log space, ``*_values`` variants take them as values,
``q`` quantises to multiples of q (an integer q gives integers), and a block without
``distribution`` is inferred: ``value`` -> constant, ``values`` -> categorical, integer min/max ->
int_uniform, other min/max -> uniform, mu/sigma -> normal. One difference, on purpose: quantised
values are kept inside [min, max] (W&B's rounding can step just outside them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from emotui.core.config import suggest
from emotui.core.errors import ConfigError
from emotui.core.setting_values import finite_number

# distribution -> (required keys, optional keys with defaults)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "constant": (("value",), {}),
    "categorical": (("values",), {"probabilities": None}),
    "int_uniform": (("min", "max"), {}),
    "uniform": (("min", "max"), {}),
    "q_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform": (("min", "max"), {}),
    "q_log_uniform": (("min", "max"), {"q": 1.0}),
    "log_uniform_values": (("min", "max"), {}),
    "q_log_uniform_values": (("min", "max"), {"q": 1.0}),
    "inv_log_uniform": (("min", "max"), {}),
    "inv_log_uniform_values": (("min", "max"), {}),
    "normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ((), {"mu": 0.0, "sigma": 1.0}),
    "q_log_normal": ((), {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ((), {"a": 1.0, "b": 1.0}),
    "q_beta": ((), {"a": 1.0, "b": 1.0, "q": 1.0}),
}
# W&B's older spelling of a categorical with probabilities.
DISTRIBUTION_ALIASES = {"categorical_w_probabilities": "categorical"}
DISCRETE = ("constant", "categorical")
# Grid search enumerates these (W&B: categorical, constant, int_uniform, q_uniform).
GRID_OK = ("constant", "categorical", "int_uniform", "q_uniform")


def _number(value: Any, where: str) -> float | int:
    """A YAML number (PyYAML reads 2e-5 as a string, so strings that parse are numbers too),
    finite (core.setting_values.finite_number)."""
    return finite_number(value, where)


@dataclass
class Distribution:
    """One parameter's distribution, with its arguments filled in and checked."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def parse(cls, block: Any, where: str) -> Distribution:
        """A parameter block of a sweep file (``{values: [...]}``, ``{min, max}``, ...)."""
        if not isinstance(block, dict):
            raise ConfigError(
                f"{where} must be a mapping such as {{value: X}} or {{values: [X, Y]}}, got {block!r}"
            )
        if "parameters" in block:
            raise ConfigError(
                f"{where} has nested parameters; emotui's run config is flat, so give each "
                "setting its own entry"
            )
        kind = block.get("distribution")
        if kind is None:
            kind = infer_kind(block, where)
        kind = DISTRIBUTION_ALIASES.get(str(kind), str(kind))
        if kind not in DISTRIBUTIONS:
            raise ConfigError(
                f"{where}: unknown distribution '{kind}'{suggest(kind, DISTRIBUTIONS)}; "
                f"known: {', '.join(DISTRIBUTIONS)}"
            )
        required, optional = DISTRIBUTIONS[kind]
        allowed = set(required) | set(optional) | {"distribution"}
        extra = sorted(set(block) - allowed)
        if extra:
            raise ConfigError(
                f"{where}: '{extra[0]}' does not apply to distribution {kind} "
                f"(it takes {', '.join(list(required) + list(optional)) or 'nothing'})"
            )
        missing = [k for k in required if k not in block]
        if missing:
            raise ConfigError(f"{where}: distribution {kind} needs '{missing[0]}'")
        args = dict(optional)
        args.update({k: v for k, v in block.items() if k != "distribution"})
        dist = cls(kind, args)
        dist._check(where)
        return dist

    def _check(self, where: str) -> None:
        a = self.args
        if self.kind == "constant":
            return
        if self.kind == "categorical":
            values = a["values"]
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: values must be a non-empty list, got {values!r}")
            probs = a.get("probabilities")
            if probs is not None:
                if not isinstance(probs, list) or len(probs) != len(values):
                    raise ConfigError(
                        f"{where}: probabilities must be a list as long as values ({len(values)})"
                    )
                nums = [_number(p, f"{where} probabilities") for p in probs]
                if any(p < 0 for p in nums) or not math.isclose(sum(nums), 1.0, abs_tol=1e-6):
                    raise ConfigError(f"{where}: probabilities must be >= 0 and sum to 1, got {probs}")
                a["probabilities"] = [float(p) for p in nums]
            return
        for key in ("min", "max", "q", "mu", "sigma", "a", "b"):
            if key in a and a[key] is not None:
                a[key] = _number(a[key], f"{where} {key}")
        if self.kind == "int_uniform":
            for key in ("min", "max"):
                if not float(a[key]).is_integer():
                    raise ConfigError(f"{where}: int_uniform needs integer {key}, got {a[key]!r}")
                a[key] = int(a[key])
        if "min" in a and "max" in a and not a["min"] < a["max"]:
            raise ConfigError(f"{where}: min {a['min']} is not less than max {a['max']}")
        if self.kind.endswith("_values") and a["min"] <= 0:
            raise ConfigError(f"{where}: {self.kind} needs min > 0 (bounds are values on a log "
                              f"scale), got {a['min']}")
        if "q" in a and a["q"] <= 0:
            raise ConfigError(f"{where}: q must be > 0, got {a['q']}")
        if "sigma" in a and a["sigma"] < 0:
            raise ConfigError(f"{where}: sigma must be >= 0, got {a['sigma']}")
        for key in ("a", "b"):
            if key in a and a[key] <= 0:
                raise ConfigError(f"{where}: beta's {key} must be > 0, got {a[key]}")
        if "q" in a:
            lo, hi = self._raw_support()
            if math.isfinite(lo) and math.isfinite(hi) and \
                    math.ceil(lo / a["q"] - 1e-9) > math.floor(hi / a["q"] + 1e-9):
                raise ConfigError(f"{where}: no multiple of q={a['q']} lies in [{lo:g}, {hi:g}]")

    # -- properties ----------------------------------------------------------------------------

    @property
    def integer_valued(self) -> bool:
        """Every sample is an integer (int_uniform, or a q_ distribution with an integer q)."""
        if self.kind == "int_uniform":
            return True
        q = self.args.get("q")
        return q is not None and float(q).is_integer() and not isinstance(q, float)

    def _raw_support(self) -> tuple[float, float]:
        a = self.args
        k = self.kind.removeprefix("q_")
        if k in ("int_uniform", "uniform", "log_uniform_values", "inv_log_uniform_values"):
            return float(a["min"]), float(a["max"])
        if k == "log_uniform":
            return math.exp(a["min"]), math.exp(a["max"])
        if k == "inv_log_uniform":
            return math.exp(-a["max"]), math.exp(-a["min"])
        if k == "normal":
            return -math.inf, math.inf
        if k == "log_normal":
            return 0.0, math.inf
        if k == "beta":
            return 0.0, 1.0
        raise AssertionError(self.kind)

    def support(self) -> tuple[float, float, bool]:
        """(low, high, low_inclusive) of the values a sample can take (continuous kinds).

        Open only at 0 for log_normal (exp never reaches 0); quantised kinds include their ends.
        """
        lo, hi = self._raw_support()
        if "q" in self.args and math.isfinite(lo):
            q = self.args["q"]
            lo = math.ceil(lo / q - 1e-9) * q
            if math.isfinite(hi):
                hi = math.floor(hi / q + 1e-9) * q
            return lo, hi, True
        if self.kind == "q_log_normal":
            return 0.0, hi, True  # rounding can reach 0
        return lo, hi, self.kind not in ("log_normal",)

    @property
    def single(self) -> bool:
        """Whether the distribution can give one value only (value: X, values: [X])."""
        return self.kind == "constant" or (
            self.kind == "categorical" and len(self.args["values"]) == 1)

    @property
    def only_value(self) -> Any:
        """The one value of a ``single`` distribution."""
        if self.kind == "constant":
            return self.args["value"]
        if self.single:
            return self.args["values"][0]
        raise ValueError(f"distribution {self.kind} gives more than one value")

    def grid_count(self) -> int:
        """How many values grid search enumerates, counted without listing them."""
        a = self.args
        if self.kind == "constant":
            return 1
        if self.kind == "categorical":
            return len(a["values"])
        if self.kind == "int_uniform":
            return a["max"] - a["min"] + 1
        if self.kind == "q_uniform":
            # The same count as grid_values' loop: i >= 0 with min + i*q below max.
            n = max(0, math.ceil((a["max"] - a["min"]) / a["q"]) + 1)
            while n > 0 and not self._below_grid_max(n - 1):
                n -= 1
            return n
        raise ConfigError(f"grid search cannot enumerate distribution {self.kind}")

    def grid_value(self, index: int) -> Any:
        """The index-th value grid search enumerates (0 <= index < grid_count())."""
        a = self.args
        if self.kind == "constant":
            return a["value"]
        if self.kind == "categorical":
            return a["values"][index]
        if self.kind == "int_uniform":
            return a["min"] + index
        if self.kind == "q_uniform":
            return self._clean(a["min"] + index * a["q"])
        raise ConfigError(f"grid search cannot enumerate distribution {self.kind}")

    def _below_grid_max(self, index: int) -> bool:
        a = self.args
        return a["min"] + index * a["q"] < a["max"] - 1e-12 * max(1.0, abs(a["max"]))

    def grid_values(self) -> list[Any]:
        """The values grid search enumerates (W&B: int_uniform all ints, q_uniform arange)."""
        a = self.args
        if self.kind == "constant":
            return [a["value"]]
        if self.kind == "categorical":
            return list(a["values"])
        if self.kind == "int_uniform":
            return list(range(a["min"], a["max"] + 1))
        if self.kind == "q_uniform":
            # numpy.arange(min, max, q) as W&B does: max itself is excluded.
            out, i = [], 0
            while self._below_grid_max(i):
                out.append(self._clean(a["min"] + i * a["q"]))
                i += 1
            return out
        raise ConfigError(f"grid search cannot enumerate distribution {self.kind}")

    # -- sampling ------------------------------------------------------------------------------

    def sample(self, rng: random.Random) -> Any:
        a, k = self.args, self.kind
        if k == "constant":
            return a["value"]
        if k == "categorical":
            probs = a.get("probabilities")
            if probs:
                return rng.choices(a["values"], weights=probs, k=1)[0]
            return rng.choice(a["values"])
        if k == "int_uniform":
            return rng.randint(a["min"], a["max"])
        base = k.removeprefix("q_")
        if base == "uniform":
            x = rng.uniform(a["min"], a["max"])
        elif base == "log_uniform":
            x = math.exp(rng.uniform(a["min"], a["max"]))
        elif base == "log_uniform_values":
            x = math.exp(rng.uniform(math.log(a["min"]), math.log(a["max"])))
        elif base == "inv_log_uniform":
            x = math.exp(-rng.uniform(a["min"], a["max"]))
        elif base == "inv_log_uniform_values":
            # 1/X log-uniform between 1/max and 1/min, i.e. X in [min, max].
            x = 1.0 / math.exp(rng.uniform(math.log(1 / a["max"]), math.log(1 / a["min"])))
        elif base == "normal":
            x = rng.gauss(a["mu"], a["sigma"])
        elif base == "log_normal":
            x = math.exp(rng.gauss(a["mu"], a["sigma"]))
        elif base == "beta":
            x = rng.betavariate(a["a"], a["b"])
        else:  # pragma: no cover - DISTRIBUTIONS and this list move together
            raise AssertionError(k)
        lo, hi = self._raw_support()
        x = min(max(x, lo), hi)  # float rounding at the edges of exp/log
        if k.startswith("q_"):
            return self.quantize(x)
        return x

    def quantize(self, x: float) -> Any:
        """Round to a multiple of q, kept inside the support; int when q is an integer."""
        q = self.args["q"]
        lo, hi, _ = self.support()
        v = round(x / q) * q
        if math.isfinite(lo) and v < lo:
            v = lo
        if math.isfinite(hi) and v > hi:
            v = hi
        if self.integer_valued:
            return round(v)
        return self._clean(v)

    @staticmethod
    def _clean(v: float) -> float:
        # 0.30000000000000004 -> 0.3: what a user wrote, and what a YAML round trip keeps.
        return float(f"{v:.12g}")

    def to_wandb(self) -> dict[str, Any]:
        """The block as W&B's schema spells it (for --controller wandb)."""
        out: dict[str, Any] = {"distribution": self.kind}
        for key, value in self.args.items():
            if value is not None:
                out[key] = value
        if self.kind == "constant":
            return {"value": self.args["value"]}
        if self.kind == "categorical" and not self.args.get("probabilities"):
            return {"values": list(self.args["values"])}
        return out


def infer_kind(block: dict[str, Any], where: str) -> str:
    """W&B's inference when a block names no distribution."""
    if "value" in block:
        return "constant"
    if "values" in block:
        return "categorical"
    if "min" in block and "max" in block:
        lo, hi = block["min"], block["max"]
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
        return "int_uniform" if ints else "uniform"
    if "mu" in block or "sigma" in block:
        return "normal"
    raise ConfigError(
        f"{where} needs value, values, min/max or a distribution (e.g. {{values: [1, 2]}})"
    )
