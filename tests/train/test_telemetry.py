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
