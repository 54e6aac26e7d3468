"""Any run source, look-only (``emotui --read-only``, ``emotui serve --read-only``).

Its capabilities say nothing can be launched, cancelled, resumed or deleted and no run is
controllable, so every screen's launch and control action refuses with ``refusal`` as its notice
(the screens ask the source, never a flag of their own). Reading stays as it is: the runs, their
detail, sweeps and studies (``store`` is the wrapped source's, for reading), W&B/trackio refresh.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from emotui.tui.sources.base import RowBatch, RunDetail, RunSource

REFUSAL = ("Read-only session (--read-only): nothing can be launched, cancelled, resumed or "
           "deleted from here.")


class ReadOnlyView:
    """``source`` with every action taken away."""

    def __init__(self, source: RunSource, refusal: str = REFUSAL):
        self.source = source
        self.name = source.name
        self.label = f"{source.label} (read-only)"
        self.capabilities = replace(source.capabilities, can_launch=False, can_cancel=False,
                                    can_resume=False, can_delete=False, refusal=refusal)

    @property
    def store(self):
        return self.source.store

    def is_controllable(self, run_id: str) -> bool:
        return False

    def request_refresh(self) -> None:
        if self.source.capabilities.can_refresh:
            self.source.request_refresh()

    def poll(self) -> Iterator[RowBatch]:
        return self.source.poll()

    def detail(self, run_id: str) -> RunDetail:
        return self.source.detail(run_id)
