"""The local backend: a detached process on this machine (``python -m emotui.launch.job
RUN_DIR``) that outlives the launcher, the TUI and the terminal. Everything it does is a process
backend's (launch.process): starting, watching, finding and stopping it.
"""

from __future__ import annotations

from emotui.launch.process import ProcessBackend


class LocalBackend(ProcessBackend):
    """A detached process on this machine (``python -m emotui.launch.job RUN_DIR``)."""

    name = "local"
