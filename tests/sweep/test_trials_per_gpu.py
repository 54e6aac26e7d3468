"""--trials-per-gpu K in the sweep scheduler, with fake GPUs: a detached test backend whose
trials train the fake training in threads and record the GPU (CUDA_VISIBLE_DEVICES) they got;
the one-line errors of bad input; the local backend's pinning; MPS for the sweep."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sweep_fakes import FakeTrain, run_ids, status

from emotui.cli.main import main
from emotui.core.config import config_from_yaml
from emotui.core.errors import ConfigError, or_list
from emotui.core.lifecycle import ACTIVE
from emotui.core.runstore import RunPaths, RunStore
from emotui.core.status import read_status, write_status
from emotui.launch import registry
from emotui.launch.base import Backend, BackendSpec
from emotui.sweep.launching import TrialLauncher
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.sharing import (
    GpuPlacement,
    TrialSharing,
    check_sharing,
    sharing_backends,
    trials_at_once,
)

GRID6 = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [1.0e-3, 1.0e-2, 1.0e-4]}
  seed: {values: [1, 2]}
  num_train_epochs: {value: 2}
  dataset_name: {value: null}
"""
TRAIN_S = 0.3  # each fake trial lasts this long, so trials started together overlap


class Placed:
    """What the test backend saw, across its instances (the registry makes one per call)."""

    lock = threading.Lock()
    gpu: dict[str, str | None] = {}  # run id -> its CUDA_VISIBLE_DEVICES (None: not pinned)
    peak_per_gpu: Counter = Counter()  # most unfinished trials on one GPU at a submit
    peak: int = 0  # most unfinished trials at a submit
    threads: list[threading.Thread] = []

    @classmethod
    def reset(cls) -> None:
        cls.gpu, cls.peak_per_gpu, cls.peak, cls.threads = {}, Counter(), 0, []


def _unfinished(paths: RunPaths, run_id: str) -> bool:
    return read_status(RunPaths(paths.root.parent / run_id)).get("state") in ACTIVE


class ThreadBackend(Backend):
    """Detached and GPU-pinning: a trial trains (FakeTrain) in a thread after TRAIN_S."""

    name = "threads"

    def submit(self, paths, *, resume=False, resources=None, env=None):
        gpu = (env or {}).get("CUDA_VISIBLE_DEVICES")
        with Placed.lock:
            # The scheduler's promise, checked when it starts a trial: counting this one, the
            # trials it has not seen finish are at most K per GPU (and --max-parallel overall).
            Placed.gpu[paths.run_id] = gpu
            open_runs = [rid for rid in Placed.gpu if _unfinished(paths, rid) or rid == paths.run_id]
            Placed.peak = max(Placed.peak, len(open_runs))
            on_gpu = sum(1 for rid in open_runs if Placed.gpu[rid] == gpu)
            Placed.peak_per_gpu[gpu] = max(Placed.peak_per_gpu[gpu], on_gpu)
        status = write_status(paths, backend=self.name, job_id=f"thread-{paths.run_id}",
                              job_env=dict(env) if env else None)
        thread = threading.Thread(target=self._train, args=(paths, resume), daemon=True)
        Placed.threads.append(thread)
        thread.start()
        return status

    @staticmethod
    def _train(paths, resume):
        time.sleep(TRAIN_S)
        FakeTrain()(config_from_yaml(paths.config), paths.root, resume=resume)

    def refresh(self, runs):
        return {paths.run_id: read_status(paths) for paths, _ in runs}

    def cancel(self, runs):
        for paths, _ in runs:
            write_status(paths, state="cancelled", reason="cancelled by user")


@pytest.fixture
def thread_backend(monkeypatch):
    spec = BackendSpec("threads", label="test threads", help="fake trials in threads",
                       factory=f"{__name__}:ThreadBackend", detached=True, pins_gpus=True,
                       poll_interval_s=0.01)
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    Placed.reset()
    yield spec
    for thread in Placed.threads:
        thread.join(10)


def _sweep(tmp_path: Path):
    file = tmp_path / "grid.yaml"
    file.write_text(GRID6)
    store = RunStore(tmp_path / "runs")
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])
    return spec, paths, store


def _run(tmp_path, *, k, gpus, max_parallel, mps="off"):
    spec, paths, store = _sweep(tmp_path)
    launcher = TrialLauncher("threads", max_parallel=max_parallel,
                             sharing=TrialSharing(k, mps), gpus=gpus, sweep_id=paths.sweep_id)
    assert run_sweep(spec, paths, store, launcher, max_parallel=max_parallel,
                     poll_interval=0.01) == "finished"
    ids = run_ids(store.root)
    assert len(ids) == 6 and all(status(store.root, r)["state"] == "completed" for r in ids)
    return store, ids


def test_two_gpus_two_trials_each(thread_backend, tmp_path):
    store, ids = _run(tmp_path, k=2, gpus=["0", "1"], max_parallel=8)
    # Never more than K=2 on a GPU, and the GPUs were filled: 4 trials at once, 2 on each.
    assert Placed.peak_per_gpu == {"0": 2, "1": 2} and Placed.peak == 4
    assert set(Placed.gpu.values()) == {"0", "1"}
    for rid in ids:  # each trial's process was pinned to its GPU, and status.json says which
        assert status(store.root, rid)["job_env"] == {"CUDA_VISIBLE_DEVICES": Placed.gpu[rid]}


def test_max_parallel_still_caps(thread_backend, tmp_path):
    _run(tmp_path, k=2, gpus=["0", "1"], max_parallel=3)
    assert Placed.peak == 3 and max(Placed.peak_per_gpu.values()) == 2


def test_without_a_gpu_k_changes_nothing(thread_backend, tmp_path):
    store, ids = _run(tmp_path, k=4, gpus=[], max_parallel=2)
    assert set(Placed.gpu.values()) == {None} and Placed.peak == 2
    assert all(status(store.root, rid).get("job_env") is None for rid in ids)


def test_controller_records_the_sharing_for_a_resume(thread_backend, tmp_path):
    import json

    _run(tmp_path, k=2, gpus=["0"], max_parallel=2)
    controller = next((tmp_path / "runs" / "sweeps").glob("*/controller.json"))
    saved = json.loads(controller.read_text())
    assert (saved["trials_per_gpu"], saved["mps"], saved["max_parallel"]) == (2, "off", 2)


def test_mps_daemon_for_the_sweep_starts_once_and_stops_when_no_trial_needs_it(
        monkeypatch, tmp_path):
    import emotui.launch.gpu_share as gpu_share

    calls = []
    monkeypatch.setattr(gpu_share.tempfile, "tempdir", str(tmp_path))  # the pipe folder's home
    monkeypatch.setattr(gpu_share.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(gpu_share.subprocess, "run", lambda command, **kw: calls.append(
        (command, kw.get("input"))) or subprocess.CompletedProcess(command, 0, "", ""))
    placement = GpuPlacement(TrialSharing(2, "auto"), ["0"], key="sweep-a")
    first, second = placement.env_for("a"), placement.env_for("b")
    assert first["CUDA_VISIBLE_DEVICES"] == second["CUDA_VISIBLE_DEVICES"] == "0"
    assert first["CUDA_MPS_PIPE_DIRECTORY"] == second["CUDA_MPS_PIPE_DIRECTORY"]
    assert first["CUDA_MPS_PIPE_DIRECTORY"].startswith(str(tmp_path))
    assert calls == [(["nvidia-cuda-mps-control", "-d"], None)]  # one daemon for the sweep
    placement.release("a")
    placement.close()  # b still runs on it (an interrupted controller): left alone
    assert len(calls) == 1
    placement.release("b")
    placement.close()
    assert calls[-1] == (["nvidia-cuda-mps-control"], "quit\n")
    # A restarted controller finds a trial still running on the daemon, and stops it at the end.
    again = GpuPlacement(TrialSharing(2, "auto"), ["0"], key="sweep-a")
    paths = RunPaths(tmp_path / "r1")
    again.hold(paths, {"job_env": first})
    assert again.slots.load() == {"0": 1}
    again.release(paths.run_id)
    again.close()
    assert calls[-1] == (["nvidia-cuda-mps-control"], "quit\n") and len(calls) == 3


def test_local_backend_pins_the_job_it_starts(monkeypatch, runs_dir):
    import emotui.launch.local as local
    import emotui.launch.process as process  # where a process backend starts its job

    seen = {}

    class FakeProcess:
        pid = 4321

        def __init__(self, command, **kw):
            seen.update(command=command, env=kw["env"])

        def wait(self):
            return 0

    monkeypatch.setattr(process.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(process, "process_identity", lambda pid: {"pid": pid})
    paths = RunStore(runs_dir).create("lora")
    write_status(paths, state="queued", backend="local")
    status_after = local.LocalBackend().submit(paths, env={"CUDA_VISIBLE_DEVICES": "1"})
    assert seen["env"]["CUDA_VISIBLE_DEVICES"] == "1" and seen["env"]["PYTHONUNBUFFERED"] == "1"
    assert status_after["job_env"] == {"CUDA_VISIBLE_DEVICES": "1"}


def test_trials_at_once(monkeypatch):
    sharing = TrialSharing(4)
    assert trials_at_once("local", None, sharing, ["0", "1"]) == 8  # K on each GPU
    assert trials_at_once("local", 3, sharing, ["0", "1"]) == 3  # --max-parallel wins
    assert trials_at_once("local", None, sharing, []) == 1  # no GPU: as without K
    assert trials_at_once("slurm", None, sharing, []) == 4  # one job of K at a time
    assert trials_at_once("local", None, None, ["0"]) == 1


@pytest.mark.parametrize("extra, message", [
    (["--trials-per-gpu", "0"], "--trials-per-gpu must be a whole number >= 1, got 0"),
    (["--trials-per-gpu", "2", "--backend", "inline"],
     f"--trials-per-gpu needs --backend {or_list(sharing_backends())}; the inline backend (in "
     "this terminal) runs one trial at a time"),
    (["--mps", "on"], "--mps applies to --trials-per-gpu K; add it or drop --mps"),
])
def test_bad_input_is_one_line(tmp_path, runs_dir, capsys, extra, message):
    file = tmp_path / "grid.yaml"
    file.write_text(GRID6)
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"emotui: error: {message}"
    assert not (runs_dir / "sweeps").exists()  # nothing half-written


def test_mps_on_needs_the_daemon_here(monkeypatch):
    import emotui.sweep.sharing as sharing

    monkeypatch.setattr(sharing.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match=r"^--mps on: nvidia-cuda-mps-control is not on PATH"):
        check_sharing("local", 2, "on")
    assert check_sharing("slurm", 2, "on") == TrialSharing(2, "on")  # checked on the node


def test_k_alone_means_local_with_k_per_gpu(tmp_path, runs_dir, capsys, monkeypatch):
    """--dry-run prints what would start; with two (fake) GPUs here and K=2 the estimate is
    for 4 trials at a time."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    import emotui.cli.sweep_cmd as sweep_cmd

    seen = {}
    real = sweep_cmd._backend

    def spy(args):
        seen["where"] = real(args)
        return seen["where"]

    monkeypatch.setattr(sweep_cmd, "_backend", spy)
    file = tmp_path / "grid.yaml"
    file.write_text(GRID6)
    assert main(["sweep", str(file), "--runs-dir", str(runs_dir), "--trials-per-gpu", "2",
                 "--dry-run", "--json"]) == 0
    assert seen["where"] == ("local", 4)


class PackingBackend(Backend):
    """Records how trials were handed over, K to a job."""

    name = "packing"
    batches: list[tuple[list[str], dict]] = []

    def submit(self, paths, *, resume=False, resources=None):
        raise AssertionError("a packing backend gets its trials through submit_many")

    def submit_many(self, runs, **options):
        PackingBackend.batches.append(([p.run_id for p in runs], options))
        return [{} for _ in runs]

    def refresh(self, runs):
        return {paths.run_id: status for paths, status in runs}

    def cancel(self, runs):
        pass


def test_a_packing_backend_gets_k_trials_per_job(monkeypatch, runs_dir):
    spec = BackendSpec("packing", label="test packs", help="records packs",
                       factory=f"{__name__}:PackingBackend", detached=True, arrays=True,
                       packs_trials=True)
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    PackingBackend.batches = []
    launcher = TrialLauncher("packing", max_parallel=6, sharing=TrialSharing(2, "auto"),
                             sweep_id="grid-1")
    runs = [RunStore(runs_dir).create("lora") for _ in range(5)]
    # A grid as one array: K to an array task, --max-parallel counting trials.
    launcher.start_many(runs, job_name="sweep-grid-1")
    # The pool (bayes, hyperband): the trials started in one round go together, K to a job.
    for paths in runs[:3]:
        launcher.start(paths, None, resume=False)
    launcher.flush()
    launcher.start(runs[3], None, resume=True)
    launcher.flush()
    launcher.flush()  # nothing held back: nothing submitted
    (array, first), (pool, second), (alone, third) = PackingBackend.batches
    assert array == [p.run_id for p in runs] and first["trials_per_job"] == 2
    assert first["max_parallel"] == 6 and first["mps"] == "auto"
    assert pool == [p.run_id for p in runs[:3]] and second["trials_per_job"] == 2
    assert second["job_name"] == "sweep-grid-1" and second["max_parallel"] == 3
    assert alone == [runs[3].run_id] and third["trials_per_job"] == 1
    assert launcher.has_room()  # packing backends are capped by --max-parallel alone


def test_resume_shares_the_gpus_as_the_sweep_did(thread_backend, tmp_path, capsys, monkeypatch):
    _run(tmp_path, k=2, gpus=["0"], max_parallel=2)
    sweep_id = next((tmp_path / "runs" / "sweeps").iterdir()).name
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert main(["sweep", "resume", sweep_id, "--runs-dir", str(tmp_path / "runs")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("(grid, 6 trials planned, backend threads, 2 at a time, 2 per GPU on "
                          "GPU 0)")
