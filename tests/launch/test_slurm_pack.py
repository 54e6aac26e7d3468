"""K trials in one Slurm job (--trials-per-gpu on Slurm), without a cluster: the generated job
array and its script, which run each task trains, cancel of one trial, the requeue hand-over,
and the job side's cancel marker."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from emotui.core.errors import BackendError
from emotui.core.runstore import RunStore
from emotui.core.status import read_status, write_status
from emotui.launch import slurm_pack
from emotui.launch.base import cancel_requested, read_exit, write_exit
from emotui.launch.resources import SlurmResources


def _runs(runs_dir: Path, n: int):
    store = RunStore(runs_dir)
    runs = [store.create("lora") for _ in range(n)]
    for paths in runs:
        paths.config.write_text("{}\n")
    return runs


def _script(paths) -> str:
    folder = Path(read_status(paths)["launch_folder"])
    return next(folder.glob("*_submission.sh")).read_text()


def _pickled(paths):
    import submitit

    folder = Path(read_status(paths)["launch_folder"])
    return {p.name.split("_submitted")[0]: submitit.helpers.DelayedSubmission.load(p).function
            for p in folder.glob("*_submitted.pkl")}


def test_five_trials_two_per_job_make_an_array_of_three(fake_slurm, runs_dir):
    from emotui.launch.slurm import SlurmBackend

    runs = _runs(runs_dir, 5)
    statuses = SlurmBackend().submit_many(
        runs, resources=SlurmResources(gpus=1, setup=["module load cuda"]), max_parallel=4,
        job_name="sweep-grid", trials_per_job=2)
    # Two trials share each array task; the array runs 4 trials (2 tasks) at once.
    assert [s["job_id"] for s in statuses] == ["4242_0", "4242_0", "4242_1", "4242_1", "4242_2"]
    assert statuses[0]["pack"] == statuses[1]["pack"] == [runs[0].run_id, runs[1].run_id]
    assert [s["pack_rank"] for s in statuses] == [0, 1, 0, 1, None]
    assert statuses[4]["pack"] is None  # alone in its task: a cancel may scancel it
    # Each trial's own task log (submitit's %t), not its neighbour's.
    assert statuses[1]["scheduler_log"].endswith("4242_0_1_log.out")
    text = _script(runs[0])
    assert "#SBATCH --array=0-2%2" in text
    assert "#SBATCH --ntasks-per-node=2" in text and "#SBATCH --gpus-per-node=1" in text
    assert "--kill-on-bad-exit=0" in text  # a failing trial does not end its neighbours
    # The user's setup first, then the MPS daemon around the trials, quit after them.
    setup = text.index("module load cuda")
    assert setup < text.index("nvidia-cuda-mps-control -d") < text.index("srun ")
    assert 'CUDA_MPS_PIPE_DIRECTORY="${TMPDIR:-/tmp}/emotui-mps-${SLURM_JOB_ID}"' in text
    assert text.rstrip().endswith("echo quit | nvidia-cuda-mps-control")
    jobs = _pickled(runs[0])
    assert jobs["4242_0"].run_dirs == [str(runs[0].root), str(runs[1].root)]
    assert jobs["4242_2"].run_dirs == [str(runs[4].root)]


def test_mps_off_and_one_per_job_leave_the_script_as_before(fake_slurm, runs_dir):
    from emotui.launch.job import SlurmEntry
    from emotui.launch.slurm import SlurmBackend

    runs = _runs(runs_dir, 4)
    SlurmBackend().submit_many(runs[:2], max_parallel=2, trials_per_job=2, mps="off")
    text = _script(runs[0])
    assert "#SBATCH --ntasks-per-node=2" in text and "nvidia-cuda-mps-control" not in text
    statuses = SlurmBackend().submit_many(runs[2:], max_parallel=1)
    text = _script(runs[2])
    assert "ntasks-per-node" not in text and "kill-on-bad-exit" not in text
    assert "#SBATCH --array=0-1%1" in text
    assert all(isinstance(f, SlurmEntry) for f in _pickled(runs[2]).values())
    assert statuses[0]["pack"] is None


def test_a_packed_job_asks_for_one_gpu(fake_slurm, runs_dir):
    from emotui.launch.slurm import SlurmBackend

    with pytest.raises(BackendError, match=r"^--trials-per-gpu 4 packs trials into one-GPU jobs; "
                       r"drop --gpus 2"):
        SlurmBackend().submit_many(_runs(runs_dir, 4), resources=SlurmResources(gpus=2),
                                   trials_per_job=4)


def _packed(runs_dir, job_id="4242_0", n=2, state="running"):
    runs = _runs(runs_dir, n)
    for rank, paths in enumerate(runs):
        write_status(paths, state=state, backend="slurm", job_id=job_id,
                     pack=[p.run_id for p in runs], pack_rank=rank)
    return runs


def test_cancel_one_trial_of_a_pack_leaves_its_neighbour_running(fake_slurm, runs_dir):
    from emotui.launch.runs import cancel as cancel_runs

    (fake_slurm / "squeue.txt").write_text("4242_0|RUNNING|None|n1\n")
    a, b = _packed(runs_dir)
    assert dict(cancel_runs([a])) == {a.run_id: "cancelled"}
    # No scancel: that would stop b too. a's process sees its marker and stops itself.
    assert not (fake_slurm / "scancel.calls").exists()
    assert cancel_requested(a) and not cancel_requested(b)
    assert read_status(a)["state"] == "cancelled" and read_status(b)["state"] == "running"
    # The last trial of the pack: now the job itself goes, with one scancel.
    assert dict(cancel_runs([b])) == {b.run_id: "cancelled"}
    assert (fake_slurm / "scancel.calls").read_text().split() == ["4242_0"]


def test_cancel_a_whole_pack_is_one_scancel(fake_slurm, runs_dir):
    from emotui.launch.runs import cancel as cancel_runs

    (fake_slurm / "squeue.txt").write_text("4242_0|PENDING|Priority|\n")
    runs = _packed(runs_dir, state="queued")
    cancel_runs(runs)
    assert (fake_slurm / "scancel.calls").read_text().split() == ["4242_0"]


def test_a_trial_resubmitted_alone_leaves_its_pack(fake_slurm, runs_dir):
    from emotui.launch.slurm import SlurmBackend

    a, b = _packed(runs_dir, state="failed")
    status = SlurmBackend().submit(a, resume=True)  # e.g. emotui run --resume
    assert status["job_id"] == "4242" and status["pack"] is None and status["pack_rank"] is None


def test_each_task_trains_its_own_run(monkeypatch, tmp_path):
    import emotui.launch.job as job

    calls = []
    monkeypatch.setattr(job, "run_job", lambda run_dir, **kw: calls.append((run_dir, kw)))
    pack = slurm_pack.SlurmPack([tmp_path / "a", tmp_path / "b"])
    monkeypatch.setenv("SLURM_PROCID", "1")
    pack()
    (run_dir, kw), = calls
    assert run_dir == str(tmp_path / "b")
    assert kw["watch_cancel"] and kw["redirect"] and kw["requeue_signal"] == signal.SIGUSR2
    monkeypatch.setenv("SLURM_PROCID", "2")  # more tasks than trials in the array's last job
    assert pack() is None and len(calls) == 1


def test_requeue_waits_for_the_other_trials_checkpoints(monkeypatch, runs_dir):
    a, b, c = _runs(runs_dir, 3)
    pack = slurm_pack.SlurmPack([a.root, b.root, c.root])
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setattr(slurm_pack, "SIBLINGS_WAIT_S", 5.0)
    write_exit(b, outcome="completed", exit_code=0)  # ended long ago
    threading.Timer(0.3, lambda: write_exit(c, outcome="preempted", exit_code=140)).start()
    began = time.monotonic()
    resubmitted = pack.checkpoint()
    assert read_exit(c) is not None and time.monotonic() - began >= 0.25
    assert resubmitted.function.run_dirs == pack.run_dirs and resubmitted.function.resume is True
    # A neighbour that never answers delays the requeue by SIBLINGS_WAIT_S at most.
    assert not slurm_pack.wait_for_exit_records([str(a.root)], timeout_s=0.2, poll_s=0.05)


def test_a_packed_job_stops_on_its_cancel_marker(monkeypatch, runs_dir):
    """The job side: with watch_cancel the marker stops training after a checkpoint, as SIGTERM
    would, and the run ends cancelled; a scancel arriving after it is no second signal."""
    import emotui.launch.job as job
    import emotui.train as train_module
    from emotui.core.lifecycle import mark_preempted
    from emotui.launch.base import mark_cancel_requested

    paths, = _runs(runs_dir, 1)
    paths.config.write_text("method: lora\n")
    write_status(paths, state="queued", backend="slurm")
    stopped = {}

    def fake_train(config, run_dir, *, resume=False, stop_event=None):
        threading.Timer(0.2, mark_cancel_requested, args=(paths,)).start()
        assert stop_event.wait(10), "the cancel marker never stopped training"
        stopped["signum"] = stopper_of[0].signum
        stopper_of[0]._handle(signal.SIGTERM, None)  # the scancel that may follow: no exit
        mark_preempted(paths, "stop requested")
        raise train_module.Preempted(str(run_dir), 0)

    stopper_of = []
    real_stopper = job._Stopper

    def recording_stopper(p):
        stopper_of.append(real_stopper(p))
        return stopper_of[0]

    monkeypatch.setattr(job, "_Stopper", recording_stopper)
    monkeypatch.setattr(job, "CANCEL_POLL_S", 0.05)
    monkeypatch.setattr(train_module, "train", fake_train)
    saved = {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS}
    try:
        with pytest.raises(SystemExit) as info:
            job.run_job(paths.root, backend="slurm", watch_cancel=True)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert info.value.code == 128 + signal.SIGTERM and stopped["signum"] == signal.SIGTERM
    assert read_exit(paths)["outcome"] == "cancelled"
    assert read_status(paths)["state"] == "cancelled"
