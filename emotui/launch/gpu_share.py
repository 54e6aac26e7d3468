"""Sharing one GPU between several trial processes: which GPUs this machine has, at most K
trials on each, and CUDA MPS.

- ``visible_gpus()``: the GPUs a child process may be pinned to, as ``CUDA_VISIBLE_DEVICES``
  values: that variable's own entries when it is set (indexes or UUIDs), else ``nvidia-smi -L``,
  else ``torch.cuda.device_count()``; empty on a machine without a GPU.
- ``GpuSlots``: places trials on the least loaded GPU with room (K per GPU).
- ``MpsDaemon``: the CUDA Multi-Process Service control daemon for one sweep or job. Without it,
  K processes on one GPU time-slice it (one context at a time); with it their kernels run
  concurrently, which is what fills a GPU that small models leave mostly idle. Its pipe folder
  must be on a local disk (a Unix socket): ``$TMPDIR``; its logs may go anywhere.

Nothing here imports torch unless neither CUDA_VISIBLE_DEVICES nor nvidia-smi answers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("emotui.launch")

MPS_CONTROL = "nvidia-cuda-mps-control"
# --mps: auto starts the daemon when K > 1 on a GPU and the binary exists; on insists; off never.
MPS_CHOICES = ("auto", "on", "off")
_NO_DEVICES = {"", "-1", "none", "nodevfiles"}


def visible_gpus(environ: Mapping[str, str] | None = None, *,
                 which: Callable[[str], str | None] | None = None,
                 run: Callable[..., subprocess.CompletedProcess] | None = None,
                 torch_count: Callable[[], int] | None = None) -> list[str]:
    """This machine's GPUs as values for a child's CUDA_VISIBLE_DEVICES (see the module doc).
    ``which``, ``run``, ``torch_count``: stand-ins for shutil.which, subprocess.run and torch."""
    environ = os.environ if environ is None else environ
    which, run = which or shutil.which, run or subprocess.run
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        if listed.strip().lower() in _NO_DEVICES:
            return []
        return [entry.strip() for entry in listed.split(",") if entry.strip()]
    if which("nvidia-smi"):
        try:
            proc = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        if proc is not None and proc.returncode == 0:
            return re.findall(r"^GPU (\d+):", proc.stdout, flags=re.MULTILINE)
    return [str(i) for i in range((torch_count or _torch_device_count)())]


def _torch_device_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


class GpuSlots:
    """At most ``per_gpu`` trials on each GPU; a new one goes to the least loaded GPU (the
    first listed on a tie), so K trials on 2 GPUs alternate 0, 1, 0, 1, ..."""

    def __init__(self, gpus: Sequence[str], per_gpu: int):
        if per_gpu < 1:
            raise ValueError(f"per_gpu must be at least 1, got {per_gpu}")
        self.gpus = list(gpus)
        self.per_gpu = per_gpu
        self.placed: dict[str, str] = {}  # trial key -> GPU

    @property
    def capacity(self) -> int:
        return len(self.gpus) * self.per_gpu

    def load(self) -> dict[str, int]:
        counts = {gpu: 0 for gpu in self.gpus}
        for gpu in self.placed.values():
            counts[gpu] = counts.get(gpu, 0) + 1
        return counts

    def has_room(self) -> bool:
        return any(n < self.per_gpu for gpu, n in self.load().items() if gpu in self.gpus)

    def place(self, key: str) -> str | None:
        """The GPU for trial ``key`` (kept if it has one already); None when every GPU is full."""
        if key in self.placed:
            return self.placed[key]
        load = self.load()
        free = [gpu for gpu in self.gpus if load[gpu] < self.per_gpu]
        if not free:
            return None
        gpu = min(free, key=lambda g: load[g])
        self.placed[key] = gpu
        return gpu

    def hold(self, key: str, gpu: str) -> None:
        """A trial already running on ``gpu`` (found again after a restart) counts there."""
        self.placed[key] = gpu

    def release(self, key: str) -> None:
        self.placed.pop(key, None)


@dataclass(frozen=True)
class MpsDaemon:
    """One MPS control daemon: its pipe folder (local disk) and log folder."""

    pipe_dir: Path
    log_dir: Path

    @classmethod
    def for_key(cls, key: str, tmp: str | os.PathLike | None = None) -> "MpsDaemon":
        """The daemon of one sweep (``key``: its id): the same folders every time, so a restarted
        controller finds the daemon its still-running trials use. Short: a socket path is
        limited to ~100 bytes."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        root = Path(tmp or tempfile.gettempdir()) / f"emotui-mps-{digest}"
        return cls(root / "pipe", root / "log")

    def env(self) -> dict[str, str]:
        """What the daemon and every client of it need in their environment."""
        return {"CUDA_MPS_PIPE_DIRECTORY": str(self.pipe_dir),
                "CUDA_MPS_LOG_DIRECTORY": str(self.log_dir)}

    @staticmethod
    def start_command() -> list[str]:
        return [MPS_CONTROL, "-d"]  # -d: daemon mode; returns once the daemon is up

    @staticmethod
    def stop_command() -> tuple[list[str], str]:
        """(command, its stdin): the control client asks the daemon to quit."""
        return [MPS_CONTROL], "quit\n"

    def start(self, run: Callable[..., subprocess.CompletedProcess] | None = None) -> bool:
        """Start the daemon (or find it running: a restarted controller's trials use it); False,
        with a warning, when it cannot start: the trials then share the GPU without it."""
        run = run or subprocess.run
        for folder in (self.pipe_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        try:
            proc = run(self.start_command(), env={**os.environ, **self.env()},
                       capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("CUDA MPS did not start (%s); trials share the GPU without it", exc)
            return False
        if proc.returncode != 0:
            why = (proc.stderr or proc.stdout or "").strip().splitlines()
            if any("already running" in line for line in why):
                return True
            log.warning("CUDA MPS did not start (%s); trials share the GPU without it",
                        why[-1] if why else f"exit code {proc.returncode}")
            return False
        return True

    def stop(self, run: Callable[..., subprocess.CompletedProcess] | None = None) -> None:
        run = run or subprocess.run
        command, stdin = self.stop_command()
        try:
            run(command, input=stdin, env={**os.environ, **self.env()}, capture_output=True,
                text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("could not stop the CUDA MPS daemon in %s: %s", self.pipe_dir, exc)

    @staticmethod
    def job_script_lines(log_dir: str) -> tuple[list[str], list[str]]:
        """(setup, teardown) lines for a Slurm batch script around the trials: the daemon of
        this job (pipe folder on the node's local disk, logs in ``log_dir``), quit after the
        trials; where the binary is missing, a note in the job's log and plain sharing."""
        pipe = '"${TMPDIR:-/tmp}/emotui-mps-${SLURM_JOB_ID}"'
        logs = shlex.quote(log_dir) + '"/mps-${SLURM_JOB_ID}"'
        stop_cmd, stdin = MpsDaemon.stop_command()
        setup = [
            f"if command -v {MPS_CONTROL} >/dev/null 2>&1; then",
            f"  export CUDA_MPS_PIPE_DIRECTORY={pipe} CUDA_MPS_LOG_DIRECTORY={logs}",
            '  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"',
            f"  {' '.join(MpsDaemon.start_command())} && EMOTUI_MPS_STARTED=1 "
            "|| unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY",
            "else",
            f'  echo "emotui: {MPS_CONTROL} not found; the trials share the GPU without MPS" >&2',
            "fi",
        ]
        teardown = [f'[ -n "${{EMOTUI_MPS_STARTED:-}}" ] && echo {stdin.strip()} | '
                    f"{' '.join(stop_cmd)}"]
        return setup, teardown


def mps_wanted(mps: str, trials_per_gpu: int, gpus: Sequence[str],
               which: Callable[[str], str | None] | None = None) -> bool:
    """Whether to start MPS for K trials per GPU on ``gpus`` (this machine): ``on`` needs the
    binary (the caller has checked), ``auto`` uses it when there is something to share."""
    if mps == "off" or trials_per_gpu < 2 or not gpus:
        return False
    return mps == "on" or (which or shutil.which)(MPS_CONTROL) is not None
