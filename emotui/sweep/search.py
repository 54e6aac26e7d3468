"""Where trials come from: the grid, random draws, or a model-based (bayes) sampler.

- grid: the cartesian product of every parameter's values, parameters in name order as W&B's
  grid search orders them; trial i is the i-th point, so a resumed sweep knows what is left.
- random: trial i is drawn from a generator seeded by (sweep seed, i): the same sweep gives the
  same trials, whether planned in one go, after an interruption, or by --dry-run.
- bayes: Optuna's TPE sampler (W&B's bayes is a Gaussian process; Optuna's GP sampler needs
  torch, which this layer must not import). Its study lives in a JournalStorage file in the sweep
  directory: append-only, safe on NFS, and it survives an interrupted controller.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from emotui.sweep.distributions import Distribution
from emotui.sweep.spec import SweepSpec




def random_point(spec: SweepSpec, index: int, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{index}")
    return {key: p.dist.sample(rng) for key, p in sorted(spec.parameters.items())}


# ---------------------------------------------------------------------------------------------
# bayes (Optuna)
# ---------------------------------------------------------------------------------------------

SUGGEST_SIGMAS = 3.0  # Optuna has no normal prior: normal/log_normal search mu +- 3 sigma


def _suggest(trial: Any, name: str, dist: Distribution) -> Any:
    """Map a W&B distribution onto Optuna's suggest_* calls."""
    a, kind = dist.args, dist.kind
    if kind == "constant":
        return a["value"]
    if kind == "categorical":
        values = a["values"]
        # Optuna's categorical choices must be plain scalars; index into the list instead.
        index = trial.suggest_categorical(name, list(range(len(values))))
        return values[index]
    if kind == "int_uniform":
        return trial.suggest_int(name, a["min"], a["max"])
    base = kind.removeprefix("q_")
    if base == "uniform":
        lo, hi, log = a["min"], a["max"], False
    elif base in ("log_uniform", "log_uniform_values", "inv_log_uniform",
                  "inv_log_uniform_values"):
        # Every log-scale kind is log-uniform on its value range (1/X log-uniform <=> X too).
        lo, hi = dist._raw_support()
        log = True
    elif base == "normal":
        lo, hi, log = a["mu"] - SUGGEST_SIGMAS * a["sigma"], a["mu"] + SUGGEST_SIGMAS * a["sigma"], False
    elif base == "log_normal":
        lo = math.exp(a["mu"] - SUGGEST_SIGMAS * a["sigma"])
        hi = math.exp(a["mu"] + SUGGEST_SIGMAS * a["sigma"])
        log = True
    elif base == "beta":
        lo, hi, log = 0.0, 1.0, False
    else:  # pragma: no cover
        raise AssertionError(kind)
    if lo == hi:
        hi = lo + 1e-12
    x = trial.suggest_float(name, lo, hi, log=log)
    return dist.quantize(x) if kind.startswith("q_") else x


class BayesSearch:
    """An Optuna study persisted in ``journal`` (a JournalFileBackend file)."""

    def __init__(self, spec: SweepSpec, study_name: str, journal: Path | None, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec = spec
        if journal is None:
            storage: Any = optuna.storages.InMemoryStorage()
        else:
            from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

            # The open-lock (O_CREAT|O_EXCL lock file) works on NFS, unlike flock.
            backend = JournalFileBackend(str(journal), lock_obj=JournalFileOpenLock(str(journal)))
            storage = optuna.storages.JournalStorage(backend)
        direction = "maximize" if spec.metric and spec.metric.maximize else "minimize"
        self.study = optuna.create_study(
            study_name=study_name, storage=storage, direction=direction, load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed),
        )

    def ask(self) -> tuple[int, dict[str, Any]]:
        trial = self.study.ask()
        values = {key: _suggest(trial, key, p.dist) for key, p in sorted(self.spec.parameters.items())
                  if p.dist.kind != "constant"}
        return trial.number, values

    def tell(self, number: int, value: float | None, *, state: str = "complete") -> None:
        from optuna.trial import TrialState

        if state == "complete" and value is not None and math.isfinite(value):
            self.study.tell(number, value, skip_if_finished=True)
        elif state == "pruned":
            self.study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        else:
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def finished_numbers(self) -> set[int]:
        from optuna.trial import TrialState

        return {t.number for t in self.study.get_trials(deepcopy=False)
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
