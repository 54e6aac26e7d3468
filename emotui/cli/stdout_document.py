"""`--json`: stdout carries one document, whatever the libraries print.

Libraries write to stdout on their own: transformers prints "[INFO] Running in WANDB offline
mode" when it is imported with ``WANDB_MODE=offline``, a C extension or a child process may
write to file descriptor 1. While a command that promised a document runs, the document guard
sends all of that to stderr, at both levels:

- file descriptor 1 points at stderr's file (C code, child processes that inherit it);
- ``sys.stdout`` is a router: what emotui's own modules write goes to the real stdout (the
  document), what any other module writes goes to stderr.

The document's writers need no change: `print(json.dumps(...))` in a command module is
emotui's. Outside the guard nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

OWN_PACKAGE = "emotui"


class _Router:
    """``sys.stdout`` while the guard holds: emotui's writes to ``document``, the rest to
    ``other``."""

    def __init__(self, document: TextIO, other: TextIO):
        self._document = document
        self._other = other

    def _target(self) -> TextIO:
        # The frame that called write(): print() is C code, so this is its caller's frame.
        frame = sys._getframe(2)
        module = frame.f_globals.get("__name__", "") if frame is not None else ""
        own = module == OWN_PACKAGE or module.startswith(OWN_PACKAGE + ".")
        return self._document if own else self._other

    def write(self, text: str) -> int:
        return self._target().write(text)

    def writelines(self, lines: Any) -> None:
        self._target().writelines(lines)

    def flush(self) -> None:
        for stream in (self._document, self._other):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()

    def isatty(self) -> bool:
        return self._document.isatty()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, fileno, buffer, ...
        return getattr(self._document, name)


def _fd(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # a test's capture, a closed stream
        return None


@contextlib.contextmanager
def document_stdout() -> Iterator[None]:
    """While open, stdout is the command's document and nothing else (see the module)."""
    real, err = sys.stdout, sys.stderr
    for stream in (real, err):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    saved = None
    document: TextIO = real
    try:
        saved = os.dup(1)
        os.dup2(2, 1)  # C code and child processes: stderr
    except OSError:  # no file descriptor 1 or 2 (a daemon): nothing to point elsewhere
        saved = None
    if saved is not None and _fd(real) == 1:
        # The document goes where file descriptor 1 went before.
        document = open(saved, "w", encoding=getattr(real, "encoding", None) or "utf-8",
                        errors=getattr(real, "errors", None) or "strict", closefd=False,
                        buffering=1)
    sys.stdout = _Router(document, err)  # type: ignore[assignment]
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            document.flush()
        sys.stdout = real
        if saved is not None:
            for stream in (real, err):  # what went to file descriptor 1 meanwhile is stderr's
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os.dup2(saved, 1)
            if document is not real:
                document.close()
            os.close(saved)
