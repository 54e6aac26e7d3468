"""Route a run's log records into its stdout.log / stderr.log while it trains in this process.

The one logging set-up of every backend: an inline run (`emotui run`, an inline sweep trial)
shares its process with a live display, so its records go to the files and the terminal stays
clean; a detached job (local, Slurm) has the same files as its stdout/stderr and routes its
records the same way. stdout.log is the run's training log (the "emotui.run" lines of
emotui.train.runlog, timestamped); warnings, errors and the libraries' chatter go to stderr.log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from emotui.core.runstore import RunPaths, open_for_append

# 'emotui' gets both files; the libraries' chatter (and Python warnings) only stderr.log.
LIBRARY_LOGGERS = ("py.warnings", "transformers", "peft", "datasets", "huggingface_hub")


class RunLogFormatter(logging.Formatter):
    """``2026-11-27 08:01:02 message`` for information, with level and logger for the rest."""

    PLAIN = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    DETAILED = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                 "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return (self.PLAIN if record.levelno == logging.INFO else self.DETAILED).format(record)


class RunLogFile(logging.FileHandler):
    """A handler appending to one of the run's logs, opened without following a symbolic link
    (core.runstore.open_for_append): a log replaced by a link raises LinkedRunFile."""

    def _open(self):
        return open_for_append(Path(self.baseFilename), text=True, encoding=self.encoding)


class RunLogFiles:
    """Context manager: while open, the run's records go to its log files and nowhere else."""

    def __init__(self, paths: RunPaths):
        fmt = RunLogFormatter()
        self.out = RunLogFile(paths.stdout, encoding="utf-8")
        self.out.setLevel(logging.INFO)
        try:
            self.err = RunLogFile(paths.stderr, encoding="utf-8")
        except BaseException:
            self.out.close()
            raise
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
