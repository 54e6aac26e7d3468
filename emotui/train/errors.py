"""Exceptions of the train layer that light code may catch (no heavy imports here)."""

from __future__ import annotations


class Preempted(Exception):
    """Training stopped on request (stop_event) after saving a resumable checkpoint."""

    def __init__(self, run_dir: str, step: int):
        super().__init__(f"run {run_dir} preempted at step {step}; resume continues from there")
        self.run_dir = run_dir
        self.step = step
