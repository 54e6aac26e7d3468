"""Several tracker projects (a W&B and a trackio project) as one read-only source.

Their rows are shown side by side. A run id two of them use (the same emotui run logged to W&B
and to trackio, whose local directory is gone) is shown once per tracker: the later one as
``<tracker>:<id>``, its ``linked_run_id`` kept, so a local run of that id still takes both in
(``tui/sources/combined.py``).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from emotui.tui.sources.base import ReadOnlyRunSource, RowBatch, RunDetail, SourceCapabilities
from emotui.tui.sources.tracker import TrackerRunSource


class RemoteSources(ReadOnlyRunSource):
    """The tracker sources given, polled in turn; nothing here can be controlled."""

    capabilities = SourceCapabilities(can_refresh=True)

    def __init__(self, sources: Sequence[TrackerRunSource]):
        self.sources = list(sources)
        self.name = " + ".join(source.name for source in self.sources)
        self.label = " + ".join(source.label for source in self.sources)
        self._owner: dict[str, tuple[TrackerRunSource, str]] = {}  # shown id -> (source, id)
        self._shown: dict[tuple[int, str], str] = {}  # (source index, id) -> shown id

    def request_refresh(self) -> None:
        for source in self.sources:
            source.request_refresh()

    def _shown_id(self, index: int, run_id: str) -> str:
        key = (index, run_id)
        if key not in self._shown:
            taken = run_id in self._owner and self._owner[run_id][0] is not self.sources[index]
            self._shown[key] = f"{self.sources[index].kind}:{run_id}" if taken else run_id
        return self._shown[key]

    def poll(self) -> Iterator[RowBatch]:
        out = RowBatch()
        for index, source in enumerate(self.sources):
            for batch in source.poll():
                out.notices += batch.notices
                for run_id in batch.removed:
                    shown = self._shown.pop((index, run_id), None)
                    if shown is not None:
                        self._owner.pop(shown, None)
                        out.removed.append(shown)
                for row in batch.changed:
                    shown = self._shown_id(index, row["run_id"])
                    self._owner[shown] = (source, row["run_id"])
                    if shown != row["run_id"]:
                        row = dict(row, run_id=shown,
                                   linked_run_id=row.get("linked_run_id") or row["run_id"])
                    out.changed.append(row)
        out.known, out.complete = len(self._owner), True
        yield out

    def detail(self, run_id: str) -> RunDetail:
        source, original = self._owner.get(run_id, (self.sources[0], run_id))
        detail = source.detail(original)
        if original != run_id:
            detail.run_id = run_id
            detail.row = dict(detail.row, run_id=run_id)
        return detail

    def rows(self) -> dict[str, dict[str, Any]]:
        return {shown: dict(source.rows().get(original) or {}, run_id=shown)
                for shown, (source, original) in self._owner.items()}
