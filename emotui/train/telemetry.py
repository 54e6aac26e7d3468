"""System telemetry of the training process: CPU, resident memory and, where there is one, the GPU.

``SystemSampler.sample()`` returns one "system" event's fields: ``cpu_percent`` (this process,
100 = one core busy) and ``rss_bytes`` always; ``gpu_util`` (0..100), ``gpu_mem_used_bytes`` and
``gpu_mem_total_bytes`` only on a GPU, read through NVML (nvidia-ml-py) for the device this
process trains on, else memory alone through torch. On a machine without a GPU the GPU keys are
absent, never zero: a reader tells "no GPU" from "an idle GPU".

No sample may stop training: a reading the system refuses is left out of that sample. The sampler
runs on the position ticker's thread while the recipe may still be importing torch on another, so
it never imports torch and never touches a torch that is not completely imported yet (a half
imported module raises AttributeError "partially initialized module 'torch'"): the GPU is looked
for again at each sample until NVML finds one or torch has finished loading.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger("emotui")

GPU_KEYS = ("gpu_util", "gpu_mem_used_bytes", "gpu_mem_total_bytes")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all its threads."""
    times = os.times()
    return times.user + times.system


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux /proc), or its peak where /proc is absent."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB here


class NvmlGpu:
    """The GPU this process trains on (CUDA_VISIBLE_DEVICES' first entry), through NVML."""

    def __init__(self, nvml, handle):
        self.nvml = nvml
        self.handle = handle
        self.util_supported = True

    @classmethod
    def open(cls, visible: str | None) -> "NvmlGpu | None":
        try:
            import pynvml
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
            first = (visible or "0").split(",")[0].strip()
            if first.isdigit():
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(first))
            else:  # GPU-<uuid> or MIG-<uuid>
                handle = pynvml.nvmlDeviceGetHandleByUUID(first)
        except pynvml.NVMLError:
            return None  # no driver, no device, or one NVML cannot name
        return cls(pynvml, handle)

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.util_supported:
            try:
                out["gpu_util"] = int(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
            except self.nvml.NVMLError:
                self.util_supported = False  # e.g. a MIG slice: memory only from now on
        try:
            memory = self.nvml.nvmlDeviceGetMemoryInfo(self.handle)
            out.update(gpu_mem_used_bytes=int(memory.used), gpu_mem_total_bytes=int(memory.total))
        except self.nvml.NVMLError:
            pass
        return out

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass  # already shut down: nothing held


def loaded_torch():
    """torch once this process has finished importing it, else None.

    Never the reason torch gets imported, and never a module another thread is still importing:
    ``import torch`` on this thread would wait for that import, and its attributes (``torch.cuda``)
    do not exist yet.
    """
    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return None
    return torch


class TorchGpu:
    """GPU memory through torch when NVML is not available (no utilisation there)."""

    def __init__(self, torch):
        self.torch = torch  # the loaded module: read() never imports it

    @classmethod
    def open(cls) -> "TorchGpu | None":
        torch = loaded_torch()
        if torch is None or not torch.cuda.is_available():
            return None
        return cls(torch)

    def read(self) -> dict[str, Any]:
        free, total = self.torch.cuda.mem_get_info()
        return {"gpu_mem_used_bytes": int(total - free), "gpu_mem_total_bytes": int(total)}

    def close(self) -> None:
        pass


def open_gpu() -> NvmlGpu | TorchGpu | None:
    """The training GPU's reader, or None on a machine (or a process) without one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return None  # GPUs hidden from this process: it trains on the CPU
    return NvmlGpu.open(visible) or TorchGpu.open()


class SystemSampler:
    """Successive samples of this process's CPU share and memory, and the GPU's."""

    def __init__(self, gpu: NvmlGpu | TorchGpu | None = None, *, detect_gpu: bool = True):
        self.gpu = gpu
        # Looked for at each sample until found, or until torch has loaded (a run on the CPU);
        # NVML answers without torch.
        self._find_gpu = gpu is None and detect_gpu
        self._last = (time.monotonic(), cpu_seconds())

    def sample(self) -> dict[str, Any]:
        now, cpu = time.monotonic(), cpu_seconds()
        wall = now - self._last[0]
        out: dict[str, Any] = {}
        if wall > 0:
            out["cpu_percent"] = round(100.0 * (cpu - self._last[1]) / wall, 1)
        self._last = (now, cpu)
        rss = resident_bytes()
        if rss is not None:
            out["rss_bytes"] = rss
        if self._find_gpu:
            torch_loaded = loaded_torch() is not None  # asked first: torch may finish loading now
            self.gpu = open_gpu()
            self._find_gpu = self.gpu is None and not torch_loaded
        if self.gpu is not None:
            try:
                out.update(self.gpu.read())
            except Exception as exc:  # a driver hiccup must never stop training
                log.warning("GPU telemetry stopped: %s", exc)
                self.gpu.close()
                self.gpu = None
        return out

    def close(self) -> None:
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None
