"""What a sweep will cost before it starts: GPU-hours and wall time of its planned trials.

The basis is measured, not guessed: the training samples/s of earlier completed runs of the same
model and method in the run store (preferring those with the same batch size, sequence length
and recipe), and how much longer than their training their whole run took (loading, evaluation,
test, checkpoints). A trial trains ``train examples x epochs`` samples. Without a comparable run
the estimate says it has no basis rather than inventing one.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Iterable, Mapping

from emotui.core.errors import EmotuiError
from emotui.core.progress import makespan
from emotui.core.results import load_config_dict
from emotui.core.runstore import RunStore, read_json
from emotui.core.status import read_status
from emotui.core.vocabulary import ResultKey
from emotui.train.data import local_files, read_table

# Settings that change the measured speed of the same model and method, preferred when matching.
SPEED_SETTINGS = ("per_device_train_batch_size", "max_seq_length", "recipe", "pad_to_max_length")
# Settings that name the training data (examples per epoch carry over only when these agree).
DATA_SETTINGS = ("dataset_name", "dataset_config_name", "data_dir", "train_file",
                 "max_train_samples")
# Every setting count_train_examples reads: trials that agree on these have the same count.
_COUNT_SETTINGS = DATA_SETTINGS + ("validation_file", "test_file")


@dataclass
class Basis:
    """The earlier runs a trial's estimate rests on."""

    run_ids: list[str]
    samples_per_second: float  # median training throughput
    overhead: float  # median (whole run wall time) / (training time), at least 1
    device: str | None
    exact: bool  # the runs also share the batch size, sequence length and recipe


@dataclass
class TrialEstimate:
    trial: int
    method: str | None
    model: str | None
    samples: int | None = None  # training samples the trial will see
    train_s: float | None = None
    wall_s: float | None = None
    basis: Basis | None = None
    missing: str | None = None  # why there is no estimate
    no_comparable_run: bool = False  # the store has no completed run of this model and method

    def as_json(self) -> dict[str, Any]:
        if self.missing:
            return {"basis": None, "missing": self.missing}
        return {"samples": self.samples, "train_s": round(self.train_s, 1),
                "wall_s": round(self.wall_s, 1),
                "samples_per_second": round(self.basis.samples_per_second, 1),
                "basis_runs": self.basis.run_ids}


@dataclass
class SweepEstimate:
    trials: list[TrialEstimate]
    max_parallel: int
    store_root: str = ""
    wall_s: float | None = None  # the trials with a basis, max_parallel at a time
    device_hours: float | None = None  # sum of the trials' wall times
    devices: list[str] = field(default_factory=list)

    @property
    def estimated(self) -> list[TrialEstimate]:
        return [t for t in self.trials if t.missing is None]

    @property
    def unestimated(self) -> list[TrialEstimate]:
        return [t for t in self.trials if t.missing is not None]


@dataclass
class _Measured:
    run_id: str
    config: dict[str, Any]
    samples_per_second: float
    examples_per_epoch: float | None
    overhead: float | None
    device: str | None


def _measured_runs(store: RunStore) -> list[_Measured]:
    out = []
    for paths in store:
        status = read_status(paths)
        results = read_json(paths.results) or {}
        sps = results.get(ResultKey.TRAIN_SAMPLES_PER_SECOND)
        if status.get("state") != "completed" or not isinstance(sps, (int, float)) or sps <= 0:
            continue
        runtime = results.get(ResultKey.TRAIN_RUNTIME_S)
        epochs = results.get(ResultKey.EPOCHS_COMPLETED)
        per_epoch = (sps * runtime / epochs
                     if isinstance(runtime, (int, float)) and isinstance(epochs, (int, float))
                     and epochs > 0 else None)
        overhead = None
        started, ended = status.get("started"), status.get("ended")
        if isinstance(runtime, (int, float)) and runtime > 0 and started and ended:
            overhead = max(1.0, (float(ended) - float(started)) / runtime)
        out.append(_Measured(paths.run_id, load_config_dict(paths), float(sps), per_epoch,
                             overhead, results.get("device")))
    return out


def _same(a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str]) -> bool:
    return all(a.get(k) == b.get(k) for k in keys)


def find_basis(config: Mapping[str, Any], measured: list[_Measured]) -> Basis | None:
    """The comparable earlier runs of a trial config: same model and method, same speed
    settings where any such run exists."""
    pool = [m for m in measured if _same(m.config, config, ("model_name_or_path", "method"))]
    if not pool:
        return None
    exact = [m for m in pool if _same(m.config, config, SPEED_SETTINGS)]
    chosen = exact or pool
    overheads = [m.overhead for m in chosen if m.overhead is not None]
    devices = [m.device for m in chosen if m.device]
    return Basis(
        run_ids=[m.run_id for m in chosen],
        samples_per_second=statistics.median(m.samples_per_second for m in chosen),
        overhead=statistics.median(overheads) if overheads else 1.0,
        device=max(set(devices), key=devices.count) if devices else None,
        exact=bool(exact),
    )


def count_train_examples(config: Mapping[str, Any], measured: list[_Measured]) -> int | None:
    """Examples per epoch: the local training file's rows, else what an earlier run on the same
    data trained per epoch; capped by max_train_samples. None when neither is known."""
    count: float | None = None
    view = SimpleNamespace(**{k: config.get(k) for k in
                              ("train_file", "validation_file", "test_file", "data_dir")},
                           do_train=True)
    try:
        train_file = local_files(view).get("train")  # type: ignore[arg-type]
        if train_file is not None:
            count = len(read_table(train_file)[1])
    except EmotuiError:
        count = None  # unreadable here (e.g. a path on the cluster): ask the earlier runs
    if count is None:
        same_data = [m.examples_per_epoch for m in measured
                     if m.examples_per_epoch and _same(m.config, config, DATA_SETTINGS)]
        if same_data:
            count = statistics.median(same_data)
    if count is None:
        return None
    limit = config.get("max_train_samples")
    return int(round(min(count, limit) if limit else count))


def trial_samples(config: Mapping[str, Any], examples: int) -> int:
    """Training samples a trial sees: max_steps batches when set, else examples x epochs."""
    max_steps = config.get("max_steps") or -1
    if max_steps > 0:
        per_step = (config.get("per_device_train_batch_size") or 1) * \
            (config.get("gradient_accumulation_steps") or 1)
        return int(max_steps * per_step)
    return int(round(examples * float(config.get("num_train_epochs") or 0)))


def estimate_trials(trials: list[dict[str, Any]], store: RunStore,
                    max_parallel: int) -> SweepEstimate:
    """Estimates for dry-run trials ({"trial", "params", "config"}) at ``max_parallel``."""
    measured = _measured_runs(store)
    # Trials usually share one training file: read (count) each distinct data source once.
    counted: dict[tuple[Any, ...], int | None] = {}
    out: list[TrialEstimate] = []
    for trial in trials:
        config = trial["config"]
        est = TrialEstimate(trial=trial["trial"], method=config.get("method"),
                            model=config.get("model_name_or_path"))
        basis = find_basis(config, measured)
        examples = None
        if basis:
            source = tuple(config.get(k) for k in _COUNT_SETTINGS)
            if source not in counted:
                counted[source] = count_train_examples(config, measured)
            examples = counted[source]
        if basis is None:
            est.no_comparable_run = True
            est.missing = (f"no completed {est.method} run of {est.model} in the store "
                           f"({store.root})")
        elif examples is None:
            est.missing = "the number of training examples is unknown (no local training file)"
        else:
            est.basis = basis
            est.samples = trial_samples(config, examples)
            est.train_s = est.samples / basis.samples_per_second
            est.wall_s = est.train_s * basis.overhead
        out.append(est)
    result = SweepEstimate(out, max_parallel, str(store.root))
    done = result.estimated
    if done:
        result.wall_s = makespan([t.wall_s for t in done], max_parallel)
        result.device_hours = sum(t.wall_s for t in done) / 3600
        result.devices = sorted({t.basis.device for t in done if t.basis.device})
    return result


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def describe(estimate: SweepEstimate) -> list[str]:
    """Lines for `emotui sweep FILE --dry-run`."""
    lines = []
    done, missing = estimate.estimated, estimate.unestimated
    if done:
        on_gpu = any(d.startswith("cuda") for d in estimate.devices)
        unit = "GPU-hours" if on_gpu or not estimate.devices else \
            f"device-hours ({', '.join(estimate.devices)})"
        runs = sorted({r for t in done for r in t.basis.run_ids})
        sps = sorted({round(t.basis.samples_per_second) for t in done})
        rate = f"{sps[0]}" if len(sps) == 1 else f"{sps[0]}-{sps[-1]}"
        lines.append(
            f"estimate: {len(done)} trial{'s' if len(done) != 1 else ''}, "
            f"{estimate.device_hours:.2f} {unit}, wall time {duration_text(estimate.wall_s)} at "
            f"--max-parallel {estimate.max_parallel} (from {len(runs)} earlier run"
            f"{'s' if len(runs) != 1 else ''} at {rate} samples/s)")
        if not all(t.basis.exact for t in done):
            lines.append("  (some earlier runs used another batch size, sequence length or "
                         "recipe: a rougher estimate)")
    if missing:
        # One clause per model: "no completed full or lora run of MODEL in the store (...)".
        by_model: dict[str, list[str]] = {}
        for t in missing:
            if t.no_comparable_run:
                methods = by_model.setdefault(str(t.model), [])
                if str(t.method) not in methods:
                    methods.append(str(t.method))
        reasons = [f"no completed {' or '.join(methods)} run of {model}"
                   for model, methods in by_model.items()]
        if by_model:
            reasons[-1] += f" in the store ({estimate.store_root})"
        reasons += sorted({t.missing for t in missing if not t.no_comparable_run})
        lines.append(f"estimate: no basis for {len(missing)} trial"
                     f"{'s' if len(missing) != 1 else ''}: {'; '.join(reasons)}")
    return lines
