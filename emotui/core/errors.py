"""Errors a user can act on. The CLI prints them as one line and exits with their code."""

from __future__ import annotations


class EmotuiError(Exception):
    """Bad input: what was wrong, where, and what to do. Exit code 2."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep it to one line: the CLI prints it verbatim after "error: ".
        super().__init__(" ".join(str(message).split()))


class ConfigError(EmotuiError):
    """A run config, flag, YAML file or sweep parameter that does not validate."""


class DataError(EmotuiError):
    """A dataset that cannot be read or does not have the expected shape."""


class RunNotFound(EmotuiError):
    """A run id that names no run (or names several)."""


class TrainingFailed(EmotuiError):
    """Training started and then failed. Exit code 1."""

    exit_code = 1


class BackendError(EmotuiError):
    """A launch backend (local process, Slurm) refused or failed to act."""
