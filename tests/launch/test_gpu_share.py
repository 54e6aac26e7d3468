"""Sharing a GPU between trial processes (launch.gpu_share): finding the GPUs, K per GPU, and
the CUDA MPS daemon's commands (built and checked here; a real daemon needs an NVIDIA GPU)."""

from __future__ import annotations

import subprocess

import pytest

from emotui.launch.gpu_share import GpuSlots, MpsDaemon, mps_wanted, visible_gpus

SMI = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaa)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbb)\n"


def _no_smi(name):
    return None


@pytest.mark.parametrize("listed, gpus", [
    ("0,2", ["0", "2"]), ("GPU-aaa", ["GPU-aaa"]), ("", []), ("-1", []), (" 1 , 3 ", ["1", "3"]),
])
def test_cuda_visible_devices_is_the_answer_when_set(listed, gpus):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": listed}, which=_no_smi) == gpus


def test_nvidia_smi_then_torch():
    def run(command, **kw):
        assert command == ["nvidia-smi", "-L"]
        return subprocess.CompletedProcess(command, 0, SMI, "")

    assert visible_gpus({}, which=lambda name: "/usr/bin/" + name, run=run) == ["0", "1"]
    assert visible_gpus({}, which=_no_smi, torch_count=lambda: 3) == ["0", "1", "2"]
    assert visible_gpus({}, which=_no_smi, torch_count=lambda: 0) == []


def test_slots_spread_trials_and_hold_at_most_k_per_gpu():
    slots = GpuSlots(["0", "1"], per_gpu=2)
    assert slots.capacity == 4
    assert [slots.place(f"t{i}") for i in range(4)] == ["0", "1", "0", "1"]
    assert not slots.has_room() and slots.place("t4") is None
    assert slots.place("t1") == "1"  # a trial keeps its GPU (a resubmit after preemption)
    slots.release("t1")
    assert slots.has_room() and slots.place("t4") == "1"
    slots.hold("old", "0")  # found running after a restart
    assert slots.load() == {"0": 3, "1": 2}


def test_mps_daemon_commands_and_folders(tmp_path):
    daemon = MpsDaemon.for_key("grid-1a2b", tmp=tmp_path)
    assert daemon == MpsDaemon.for_key("grid-1a2b", tmp=tmp_path)  # a restart finds it again
    assert daemon != MpsDaemon.for_key("other", tmp=tmp_path)
    assert daemon.pipe_dir.parent == daemon.log_dir.parent and daemon.pipe_dir.parent.parent == \
        tmp_path
    assert daemon.env() == {"CUDA_MPS_PIPE_DIRECTORY": str(daemon.pipe_dir),
                            "CUDA_MPS_LOG_DIRECTORY": str(daemon.log_dir)}
    calls = []

    def run(command, **kw):
        calls.append((command, kw.get("input"), kw["env"]["CUDA_MPS_PIPE_DIRECTORY"]))
        return subprocess.CompletedProcess(command, 0, "", "")

    assert daemon.start(run=run) and daemon.pipe_dir.is_dir() and daemon.log_dir.is_dir()
    daemon.stop(run=run)
    assert calls == [(["nvidia-cuda-mps-control", "-d"], None, str(daemon.pipe_dir)),
                     (["nvidia-cuda-mps-control"], "quit\n", str(daemon.pipe_dir))]


@pytest.mark.parametrize("answer, started", [
    (subprocess.CompletedProcess([], 0, "", ""), True),
    (subprocess.CompletedProcess([], 1, "", "An instance of this daemon is already running"), True),
    (subprocess.CompletedProcess([], 1, "", "cannot open pipe"), False),
    (FileNotFoundError("nvidia-cuda-mps-control"), False),
])
def test_mps_that_cannot_start_means_plain_sharing(tmp_path, caplog, answer, started):
    def run(command, **kw):
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert MpsDaemon.for_key("k", tmp=tmp_path).start(run=run) is started
    assert ("share the GPU without it" in caplog.text) is not started


def test_when_mps_is_wanted():
    found, missing = (lambda name: "/usr/bin/" + name), (lambda name: None)
    assert mps_wanted("auto", 4, ["0"], which=found)
    assert not mps_wanted("auto", 4, ["0"], which=missing)  # plain sharing
    assert not mps_wanted("auto", 1, ["0"], which=found)  # nothing to share
    assert not mps_wanted("auto", 4, [], which=found)  # no GPU
    assert not mps_wanted("off", 4, ["0"], which=found)
    assert mps_wanted("on", 4, ["0"], which=missing)  # the caller refused it already
