"""Launch backends: where a run executes, and how to find, watch and stop it again.

- ``inline``: in the caller's process (``emotui run`` in the foreground);
- ``local``: a detached process on this machine that outlives the launcher and the TUI;
- ``slurm``: an sbatch job through submitit; job arrays with a ``%N`` parallelism cap.

All three share one interface (``base.Backend``): ``submit(paths, resume=, resources=)``,
``submit_many(runs, resources=, max_parallel=)``, ``refresh(runs)`` (one batched scheduler call)
and ``cancel(runs)``. What a later process needs to find a job lives in the run's status.json.
For callers: ``monitor.refresh_runs``, ``monitor.cancel_runs``, ``monitor.resume_run``.
"""

from __future__ import annotations

BACKENDS = ("inline", "local", "slurm")


def get_backend(name: str):
    """The backend called ``name`` (imports only what that backend needs)."""
    from emotui.core.errors import ConfigError

    if name == "inline":
        from emotui.launch.local import InlineBackend

        return InlineBackend()
    if name == "local":
        from emotui.launch.local import LocalBackend

        return LocalBackend()
    if name == "slurm":
        from emotui.launch.slurm import SlurmBackend

        return SlurmBackend()
    from emotui.core.config import suggest

    raise ConfigError(f"unknown backend '{name}'; choose one of: {', '.join(BACKENDS)}"
                      + suggest(str(name), BACKENDS))
