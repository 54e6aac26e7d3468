"""Trials on the local and Slurm backends, through emotui.launch."""

from __future__ import annotations

from typing import Any

from emotui.core.errors import BackendError


class LaunchLayerLauncher:  # replaced once emotui.launch lands
    blocking = False

    def __init__(self, backend: str, *, max_parallel: int, sections: dict[str, Any]):
        raise BackendError(f"the {backend} backend is not available yet; use --backend inline")
