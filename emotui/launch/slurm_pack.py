"""K trials inside one Slurm job (or array task), sharing its GPU: ``--trials-per-gpu K``.

A packed job is one submitit job with ``--ntasks-per-node=K``: srun starts K tasks on the node,
and task r trains the r-th run of the pack through the same ``launch.job.run_job`` as a job of
its own. So each trial keeps its own process, run directory, logs, metrics, checkpoints and exit
record, and Slurm delivers every signal (USR2 before the time limit, SIGTERM on scancel,
preemption or requeue) to each trial's process itself. That is why this design was chosen over
one task that starts K subprocesses: nothing in between has to forward signals, reap children or
share a log, and a trial in a pack is the same job as a trial alone.

- cancel of one trial: ``scancel`` would stop its neighbours, so the run's cancel marker
  (launch.base) is the message; the trial's process watches for it (``run_job(watch_cancel=)``)
  and stops after a checkpoint, as on SIGTERM. The job is scancelled only when every trial in it
  is being cancelled or has finished (``cancel_plan``);
- requeue (time limit): each task saves its checkpoint; task 0, submitit's main task, then
  requeues the job, after ``SlurmPack.checkpoint`` has waited (bounded) for the other trials'
  exit records. The requeued job resumes each trial from its checkpoint; a trial that had
  finished or was cancelled exits at once;
- a trial that fails does not end the others (``srun --kill-on-bad-exit=0``);
- ``cpus_per_task`` is per trial (K times that for the job); memory is the job's, shared;
- CUDA MPS: setup and teardown lines of the batch script (``gpu_share.MpsDaemon``).
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path
from typing import Any, Sequence

import submitit

from emotui.core.errors import BackendError
from emotui.core.lifecycle import ACTIVE
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status
from emotui.launch import job
from emotui.launch.gpu_share import MpsDaemon

# After the time-limit signal (90 s before the limit), how long task 0 waits for the other
# trials' checkpoints before requeueing the job.
SIBLINGS_WAIT_S = 60.0


def packs(runs: Sequence[RunPaths], trials_per_job: int) -> list[list[RunPaths]]:
    """The runs in order, K to a job (the last job may hold fewer)."""
    return [list(runs[i:i + trials_per_job]) for i in range(0, len(runs), trials_per_job)]


def jobs_at_once(max_parallel: int | None, trials: int, trials_per_job: int) -> int:
    """The array's ``%N``: jobs running at once so that at most max_parallel trials do."""
    return max(1, math.ceil((max_parallel or trials) / trials_per_job))


def packed_job_parameters(setup: Sequence[str], trials_per_job: int, mps: str,
                          folder: Path) -> dict[str, Any]:
    """submitit parameters for jobs of K trials: K tasks, a failing one not ending the others,
    and (mps other than off) the MPS daemon around them. ``setup``: the user's setup lines."""
    params: dict[str, Any] = {"ntasks_per_node": trials_per_job,
                              "srun_args": ["--kill-on-bad-exit=0"], "setup": list(setup)}
    if mps != "off" and trials_per_job > 1:
        start, stop = MpsDaemon.job_script_lines(str(folder))
        params["setup"] += start
        params["teardown"] = stop
    return params


def check_packable(gpus: int | None, trials_per_job: int) -> None:
    if trials_per_job > 1 and gpus is not None and gpus > 1:
        raise BackendError(f"--trials-per-gpu {trials_per_job} packs trials into one-GPU jobs; "
                           f"drop --gpus {gpus} (or set it to 1)")


def pack_fields(pack: Sequence[RunPaths], rank: int) -> dict[str, Any]:
    """What a run's status.json says about its pack: the run ids sharing the job, its place."""
    return {"pack": [p.run_id for p in pack], "pack_rank": rank} if len(pack) > 1 else \
        {"pack": None, "pack_rank": None}


def cancel_plan(runs: Sequence[tuple[RunPaths, dict]]) -> list[str]:
    """The job ids to scancel for these runs (each once, in order): a packed job only when no
    other trial in it is still queued or running."""
    cancelling = {paths.run_id for paths, _ in runs}
    ids: list[str] = []
    for paths, status in runs:
        job_id = status.get("job_id")
        if not job_id or str(job_id) in ids:
            continue
        others = [rid for rid in status.get("pack") or [] if rid not in cancelling]
        if any(read_status(RunPaths(paths.root.parent / rid)).get("state") in ACTIVE
               for rid in others):
            continue  # its process watches the cancel marker; the others go on
        ids.append(str(job_id))
    return ids


def wait_for_exit_records(run_dirs: Sequence[str], timeout_s: float = SIBLINGS_WAIT_S,
                          poll_s: float = 0.5) -> bool:
    """True once every run has an exit.json (its process has ended or saved and stopped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if all(RunPaths(Path(d)).exit_file.exists() for d in run_dirs):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def task_rank() -> int:
    """This task's place in its job (srun sets SLURM_PROCID; submitit's global rank)."""
    return int(os.environ.get("SLURM_PROCID", "0"))


class SlurmPack(submitit.helpers.Checkpointable):
    """The callable submitit pickles for a job of K trials: task r trains ``run_dirs[r]``."""

    def __init__(self, run_dirs: Sequence[str], resume: bool | None = None,
                 attempts: Sequence[int | None] | None = None):
        self.run_dirs = [str(d) for d in run_dirs]
        self.resume = resume
        self.attempts = list(attempts) if attempts is not None else [None] * len(self.run_dirs)

    def __call__(self) -> dict[str, Any] | None:
        rank = task_rank()
        if rank >= len(self.run_dirs):
            return None  # the last job of an array may hold fewer trials than tasks
        return job.run_job(self.run_dirs[rank], resume=self.resume, backend="slurm",
                           redirect=True, requeue_signal=signal.SIGUSR2, watch_cancel=True,
                           attempt=self.attempts[rank])

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        # Called in task 0 only, after its own checkpoint: the requeue must not cut the
        # others' short.
        rank = task_rank()
        wait_for_exit_records([d for i, d in enumerate(self.run_dirs) if i != rank])
        return submitit.helpers.DelayedSubmission(
            SlurmPack(self.run_dirs, resume=True, attempts=self.attempts))
