"""Errors a user can act on. The CLI prints them as one line and exits with their code."""

from __future__ import annotations


class EmotuiError(Exception):
    """Bad input: what was wrong, where, and what to do. Exit code 2."""

    exit_code = 2
    # Longer messages are cut: a value quoted whole (a text column, a file) must not flood a
    # terminal; the values themselves are cut where they are quoted (quoted, listed).
    MAX_CHARS = 1000

    def __init__(self, message: str):
        # Keep it to one line: the CLI prints it verbatim after "error: ".
        super().__init__(cut(" ".join(str(message).split()), self.MAX_CHARS))


class ConfigError(EmotuiError):
    """A run config, flag, YAML file or sweep parameter that does not validate."""


class DataError(EmotuiError):
    """A dataset that cannot be read or does not have the expected shape."""


class RunNotFound(EmotuiError):
    """A run id that names no run (or names several)."""


class BackendError(EmotuiError):
    """A launch backend (local process, Slurm) refused or failed to act."""


def cut(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` - 1 characters and "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = 40) -> str:
    """A value as a message quotes it: its repr, cut to ``limit`` characters, so a message
    stays one readable line whatever the value holds (a whole text column, a binary blob)."""
    return cut(" ".join(repr(value).split()), limit)


def listed(values: "list[object] | tuple[object, ...]", limit: int = 5,
           width: int = 40) -> str:
    """'a, b, c' for a message: at most ``limit`` values, each cut to ``width`` characters,
    and how many more there are."""
    shown = [cut(str(v), width) for v in list(values)[:limit]]
    more = len(values) - len(shown)
    return ", ".join(shown) + (f" … ({more} more)" if more > 0 else "")


def or_list(names: "list[str] | tuple[str, ...]") -> str:
    """'a', 'a or b', 'a, b or c': names in a sentence."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
