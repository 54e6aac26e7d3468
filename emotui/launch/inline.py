"""The inline backend: the run trains in this process, in the foreground (foreground.py).

Its runs are watched, found and stopped as a process backend's (launch.process); only the start
differs: nothing is spawned.
"""

from __future__ import annotations

import signal
from typing import Any, Sequence

from emotui.core.config import config_from_yaml
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status, write_status
from emotui.launch.foreground import record_interrupted, run_in_foreground
from emotui.launch.process import ProcessBackend


class InlineBackend(ProcessBackend):
    """The foreground: the run trains in this process (foreground.run_in_foreground) and
    submit returns when it has ended. Ctrl-C or SIGTERM stops it after a checkpoint: the run
    ends cancelled (resumable) and the KeyboardInterrupt goes on to the caller."""

    name = "inline"
    stop_signal = signal.SIGINT  # an inline run stops cleanly on Ctrl-C: cancel sends the same

    def submit(self, paths: RunPaths, *, resume: bool = False, resources: Any = None) -> dict:
        write_status(paths, backend=self.name)
        run = run_in_foreground(paths, config_from_yaml(paths.config), resume=resume)
        if run.interrupted:
            record_interrupted(paths, run.interrupted)
            raise KeyboardInterrupt
        return read_status(paths)  # training recorded how it ended (failed: with the reason)

    def submit_many(self, runs: Sequence[RunPaths], *, resources: Any = None,
                    max_parallel: int | None = None, job_name: str | None = None,
                    resume: bool = False) -> list[dict]:
        """One after another, each trained to its end here: never two at once."""
        return [self.submit(paths, resume=resume, resources=resources) for paths in runs]
