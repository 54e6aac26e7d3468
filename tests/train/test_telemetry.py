"""System telemetry: CPU and memory always, GPU fields only where NVML (or torch) sees a GPU."""

from __future__ import annotations

import sys
import types

import pytest

from emotui.train import telemetry
from emotui.train.telemetry import GPU_KEYS, NvmlGpu, SystemSampler, open_gpu


class NVMLError(Exception):
    pass


def fake_nvml(*, util_supported: bool = True, init_fails: bool = False):
    """A stand-in for pynvml (nvidia-ml-py) with two GPUs, recording the handles asked for."""
    nvml = types.ModuleType("pynvml")
    nvml.NVMLError = NVMLError
    nvml.asked = []

    def init():
        if init_fails:
            raise NVMLError("NVML Shared Library Not Found")

    def by_index(index):
        nvml.asked.append(index)
        return f"gpu{index}"

    def by_uuid(uuid):
        nvml.asked.append(uuid)
        return uuid

    def utilization(handle):
        if not util_supported:
            raise NVMLError("Not Supported")
        return types.SimpleNamespace(gpu=73, memory=20)

    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetHandleByIndex = by_index
    nvml.nvmlDeviceGetHandleByUUID = by_uuid
    nvml.nvmlDeviceGetUtilizationRates = utilization
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(
        used=3 << 30, total=80 << 30, free=77 << 30)
    return nvml


def test_cpu_and_memory_are_always_sampled():
    sampler = SystemSampler(detect_gpu=False)
    sum(i * i for i in range(200_000))  # some CPU time to measure
    sample = sampler.sample()
    assert sample["cpu_percent"] >= 0 and sample["rss_bytes"] > 1_000_000
    assert not set(GPU_KEYS) & set(sample)


@pytest.mark.parametrize("visible,handle", [(None, 0), ("2,3", 2), ("GPU-abc", "GPU-abc")])
def test_the_training_gpu_is_read_through_nvml(monkeypatch, visible, handle):
    nvml = fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    sample = SystemSampler().sample()
    assert nvml.asked == [handle]
    assert sample["gpu_util"] == 73
    assert sample["gpu_mem_used_bytes"] == 3 << 30 and sample["gpu_mem_total_bytes"] == 80 << 30


def test_a_gpu_without_utilisation_reports_its_memory(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(util_supported=False))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-1234")
    sampler = SystemSampler()
    for _ in range(2):
        sample = sampler.sample()
        assert "gpu_util" not in sample and sample["gpu_mem_total_bytes"] == 80 << 30


def test_no_gpu_no_gpu_fields(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_fails=True))
    monkeypatch.setattr(telemetry.TorchGpu, "open", classmethod(lambda cls: None))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert open_gpu() is None
    assert not set(GPU_KEYS) & set(SystemSampler().sample())
    # GPUs hidden from the process: NVML is not even asked.
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert open_gpu() is None


def test_a_failing_gpu_reading_stops_gpu_telemetry_not_training(monkeypatch):
    class Broken:
        closed = False

        def read(self):
            raise RuntimeError("driver went away")

        def close(self):
            self.closed = True

    gpu = Broken()
    sampler = SystemSampler(gpu)
    sample = sampler.sample()
    assert "cpu_percent" in sample and not set(GPU_KEYS) & set(sample)
    assert gpu.closed and sampler.gpu is None


def test_nvml_open_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert NvmlGpu.open("0") is None


def half_imported_torch(gpu: bool = True) -> types.ModuleType:
    """torch as another thread sees it while the recipe's thread is still importing it: its spec
    says it is initializing and ``torch.cuda`` does not exist yet."""
    import importlib.machinery

    torch = types.ModuleType("torch")
    torch.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    torch.__spec__._initializing = True
    torch.finish_import = lambda: (
        setattr(torch, "cuda", types.SimpleNamespace(
            is_available=lambda: gpu, mem_get_info=lambda: (60 << 30, 80 << 30))),
        setattr(torch.__spec__, "_initializing", False))
    return torch


def test_a_torch_still_being_imported_is_left_alone_and_asked_again(monkeypatch):
    """The ticker's first sample can come while the training thread is inside `import torch`
    (the first sample is due 5 s in; importing torch takes longer on a busy node): the sampler
    neither touches the half-imported module (AttributeError 'partially initialized module') nor
    gives up on the GPU; once torch has loaded it finds the GPU through it."""
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_fails=True))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    torch = half_imported_torch()
    monkeypatch.setitem(sys.modules, "torch", torch)
    with pytest.raises(AttributeError, match="partially initialized"):
        torch.cuda  # what the thread used to touch  # noqa: B018
    sampler = SystemSampler()
    for _ in range(2):
        sample = sampler.sample()
        assert "cpu_percent" in sample and not set(GPU_KEYS) & set(sample)
    torch.finish_import()
    sample = sampler.sample()
    assert sample["gpu_mem_used_bytes"] == 20 << 30 and sample["gpu_mem_total_bytes"] == 80 << 30


def test_once_torch_has_loaded_without_a_gpu_the_search_ends(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(init_fails=True))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    torch = half_imported_torch(gpu=False)
    torch.finish_import()
    monkeypatch.setitem(sys.modules, "torch", torch)
    opened = []
    original = telemetry.NvmlGpu.open
    monkeypatch.setattr(telemetry.NvmlGpu, "open", classmethod(
        lambda cls, visible: opened.append(visible) or original(visible)))
    sampler = SystemSampler()
    for _ in range(3):
        assert not set(GPU_KEYS) & set(sampler.sample())
    assert len(opened) == 1  # a CPU run: NVML is asked once, not at every sample


def test_the_sampler_never_imports_torch(monkeypatch):
    """Reading GPU memory through torch uses the module it was opened with: an `import torch`
    on the ticker's thread would wait on (or race) the training thread's import."""
    torch = half_imported_torch()
    torch.finish_import()
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    gpu = telemetry.TorchGpu(torch)
    assert gpu.read() == {"gpu_mem_used_bytes": 20 << 30, "gpu_mem_total_bytes": 80 << 30}
    assert telemetry.loaded_torch() is None and telemetry.TorchGpu.open() is None
