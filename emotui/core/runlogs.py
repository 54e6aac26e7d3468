"""Route a run's log records into its stdout.log / stderr.log while it trains in this process.

Detached jobs get their files as the process's stdout/stderr; an inline run (`emotui run`, an
inline sweep trial) shares the process with a live display, so its records go to the files
instead and the terminal stays clean.
"""

from __future__ import annotations

import logging

from emotui.core.runstore import RunPaths

# 'emotui' gets both files; the libraries' chatter (and Python warnings) only stderr.log.
LIBRARY_LOGGERS = ("py.warnings", "transformers", "peft", "datasets", "huggingface_hub")


class RunLogFiles:
    """Context manager: while open, the run's records go to its log files and nowhere else."""

    def __init__(self, paths: RunPaths):
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.out = logging.FileHandler(paths.stdout, encoding="utf-8")
        self.out.setLevel(logging.INFO)
        self.err = logging.FileHandler(paths.stderr, encoding="utf-8")
        self.err.setLevel(logging.WARNING)
        for handler in (self.out, self.err):
            handler.setFormatter(fmt)
        self.loggers = [logging.getLogger(n) for n in ("emotui", *LIBRARY_LOGGERS)]
        self.saved: list[tuple[bool, int]] = []

    def __enter__(self) -> "RunLogFiles":
        logging.captureWarnings(True)
        for logger in self.loggers:
            self.saved.append((logger.propagate, logger.level))
            logger.addHandler(self.err)
            if logger.name == "emotui":
                logger.addHandler(self.out)
                logger.setLevel(logging.INFO)
            logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        for logger, (propagate, level) in zip(self.loggers, self.saved):
            logger.removeHandler(self.out)
            logger.removeHandler(self.err)
            logger.propagate = propagate
            logger.setLevel(level)
        logging.captureWarnings(False)
        self.out.close()
        self.err.close()
