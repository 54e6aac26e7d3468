"""Launch backends: where a run executes, and how to find, watch and stop it again.

- ``inline``: in the caller's process (``emotui run`` in the foreground, ``foreground.py``);
- ``local``: a detached process on this machine that outlives the launcher and the TUI;
- ``slurm``: an sbatch job through submitit; job arrays with a ``%N`` parallelism cap.

All share one interface (``base.Backend``): ``submit(paths, resume=, resources=)``,
``submit_many(runs, resources=, max_parallel=, job_name=)``, ``refresh(runs)`` (one batched
scheduler call), ``cancel(runs)`` and ``reattach(paths)``. Backends whose runs are processes on
this machine (inline, local) share ``process.ProcessBackend``, a template with hooks. What each
can do is declared in its spec (``registry.py``: detached, arrays, poll interval, the resources
it takes (``resources.ResourceSettings``), TUI). What a later process needs to find a job lives
in the run's status.json. For callers: ``runs`` (the one owner of starting, resuming, cancelling
and deleting a run) and ``monitor`` (live states).
"""

from __future__ import annotations

from emotui.launch.registry import backend_names, backend_spec, backend_specs, get_backend

__all__ = ["backend_names", "backend_spec", "backend_specs", "get_backend"]
