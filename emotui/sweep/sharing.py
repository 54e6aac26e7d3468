"""``--trials-per-gpu K``: several trials on one GPU, the way the backend's spec says it can.

A small model leaves most of a GPU idle (a step waits on kernel launches and the host), so K
trials at once on one GPU finish a sweep sooner than one after another:

- a backend that ``pins_gpus`` (local) starts every trial as its own process; the sweep places
  each on the least loaded GPU of this machine that has fewer than K (``CUDA_VISIBLE_DEVICES``)
  and starts at most K x GPUs at once (--max-parallel, when given, caps further). With no GPU
  here, K changes nothing: --max-parallel alone decides;
- a backend that ``packs_trials`` (Slurm) runs K trials inside each GPU job or array task
  (launch.slurm_pack); --max-parallel still counts trials, so ceil(N / K) jobs run at once.

With K > 1 on a GPU, CUDA MPS lets the K processes' kernels run side by side instead of taking
turns: ``--mps auto`` (the default) starts its daemon where ``nvidia-cuda-mps-control`` exists,
``on`` insists, ``off`` shares the GPU plainly (launch.gpu_share).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emotui.core.errors import ConfigError, or_list
from emotui.core.runstore import RunPaths
from emotui.launch import backend_spec, backend_specs
from emotui.launch.gpu_share import MPS_CHOICES, MPS_CONTROL, GpuSlots, MpsDaemon, mps_wanted


@dataclass(frozen=True)
class TrialSharing:
    """How many trials share one GPU, and whether CUDA MPS helps them."""

    trials_per_gpu: int
    mps: str = "auto"

    def fields(self) -> dict[str, Any]:
        """What the controller records (controller.json), so a resume shares the same way."""
        return {"trials_per_gpu": self.trials_per_gpu, "mps": self.mps}


def sharing_backends() -> tuple[str, ...]:
    return tuple(spec.name for spec in backend_specs() if spec.pins_gpus or spec.packs_trials)


def check_sharing(backend: str, trials_per_gpu: int | None,
                  mps: str | None = None) -> TrialSharing | None:
    """The sharing asked for on this backend (None: not asked); one-line errors otherwise."""
    if trials_per_gpu is None:
        if mps is not None:
            raise ConfigError("--mps applies to --trials-per-gpu K; add it or drop --mps")
        return None
    if isinstance(trials_per_gpu, bool) or not isinstance(trials_per_gpu, int) \
            or trials_per_gpu < 1:
        raise ConfigError(f"--trials-per-gpu must be a whole number >= 1, got {trials_per_gpu!r}")
    spec = backend_spec(backend)
    if not (spec.pins_gpus or spec.packs_trials):
        raise ConfigError(f"--trials-per-gpu needs --backend {or_list(sharing_backends())}; "
                          f"the {spec.name} backend ({spec.label}) runs one trial at a time")
    mps = mps or "auto"
    if mps not in MPS_CHOICES:
        raise ConfigError(f"--mps must be one of: {', '.join(MPS_CHOICES)}; got {mps!r}")
    if mps == "on" and spec.pins_gpus and shutil.which(MPS_CONTROL) is None:
        raise ConfigError(f"--mps on: {MPS_CONTROL} is not on PATH here; use --mps auto (plain "
                          "sharing where it is missing) or --mps off")
    return TrialSharing(trials_per_gpu, mps)


def trials_at_once(backend: str, max_parallel: int | None, sharing: TrialSharing | None,
                   gpus: Sequence[str]) -> int:
    """--max-parallel when given; else with K per GPU: K on each GPU of this machine (a backend
    that pins; 1 without a GPU), or K (a backend that packs: one job of K at a time)."""
    if max_parallel is not None:
        return max_parallel
    if sharing is None:
        return 1
    if backend_spec(backend).pins_gpus:
        return sharing.trials_per_gpu * len(gpus) if gpus else 1
    return sharing.trials_per_gpu


def describe(backend: str, sharing: TrialSharing | None, gpus: Sequence[str]) -> str:
    """A few words for the sweep's first line (empty without --trials-per-gpu)."""
    if sharing is None:
        return ""
    k = sharing.trials_per_gpu
    if backend_spec(backend).pins_gpus:
        if not gpus:
            return f", --trials-per-gpu {k} has no effect: no GPU here"
        return (f", {k} per GPU on GPU{'s' if len(gpus) > 1 else ''} {','.join(gpus)}"
                + (" with CUDA MPS" if mps_wanted(sharing.mps, k, gpus) else ""))
    return f", {k} per GPU job" + (" (CUDA MPS where the node has it)"
                                   if sharing.mps != "off" and k > 1 else "")


class GpuPlacement:
    """The pinning side of --trials-per-gpu: each trial on one of this machine's GPUs, at most
    K on each, and one MPS daemon for the sweep (started with its first trial, stopped when
    the sweep's controller ends with none of its trials left running)."""

    def __init__(self, sharing: TrialSharing, gpus: Sequence[str], key: str):
        self.slots = GpuSlots(gpus, sharing.trials_per_gpu)
        self.mps = MpsDaemon.for_key(key) if mps_wanted(sharing.mps, sharing.trials_per_gpu,
                                                        gpus) else None
        self._mps_used = False
        self._mps_env: dict[str, str] = {}

    def has_room(self) -> bool:
        return self.slots.has_room()

    def env_for(self, run_id: str) -> dict[str, str]:
        """The environment that pins this trial to its GPU (placing it if new)."""
        gpu = self.slots.place(run_id)
        if gpu is None:
            raise RuntimeError(f"no GPU has room for {run_id}; ask has_room() first")
        if self.mps is not None and not self._mps_used:
            self._mps_used = True
            self._mps_env = self.mps.env() if self.mps.start() else {}
        return {"CUDA_VISIBLE_DEVICES": gpu, **self._mps_env}

    def hold(self, paths: RunPaths, status: dict[str, Any]) -> None:
        """A trial still running from before (a restarted controller) keeps its GPU's slot."""
        job_env = status.get("job_env") or {}
        gpu = job_env.get("CUDA_VISIBLE_DEVICES")
        if gpu in self.slots.gpus:
            self.slots.hold(paths.run_id, gpu)
            if "CUDA_MPS_PIPE_DIRECTORY" in job_env:
                self._mps_used = True  # its daemon is ours to stop at the end
                self._mps_env = {k: v for k, v in job_env.items() if k.startswith("CUDA_MPS_")}

    def release(self, run_id: str) -> None:
        self.slots.release(run_id)

    def close(self) -> None:
        """Stop the MPS daemon unless a trial still uses it (the controller was interrupted:
        the next `emotui sweep resume` stops it when they end)."""
        if self.mps is not None and self._mps_used and not self.slots.placed:
            self.mps.stop()
            self._mps_used = False
