"""The local run store plus a remote source (a W&B or trackio project, or several:
``tui/sources/remotes.py``) in one table.

A remote run linked to a local run (its config names the local run id, or it carries the same
id: emotui logs a run under its own id) is merged into the local row
(``emotui.tracking.sources.merge_rows``: source ``local+wandb``, ``local+wandb+trackio``); the
others are rows of their own, source ``wandb`` or ``trackio``. Local runs keep every action;
remote-only rows are read-only.

The local store is polled first, batch by batch as before (the first screenful stays fast); the
remote source is polled once the local scan is complete, and never waits on the network.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator

from emotui.tracking.sources import merge_rows
from emotui.tui.sources.base import RowBatch, RunDetail, RunSource
from emotui.tui.sources.local import LocalRunSource


def _tidy(batch: RowBatch) -> RowBatch:
    """One row per id (the last one wins); an id shown again is updated in place, not removed."""
    latest = {row["run_id"]: row for row in batch.changed}
    batch.changed = list(latest.values())
    batch.removed = [rid for rid in dict.fromkeys(batch.removed) if rid not in latest]
    return batch


class CombinedRunSource:
    """Local runs (controllable) and a remote source's runs (read-only), linked ones merged."""

    def __init__(self, local: LocalRunSource, remote: RunSource):
        self.local = local
        self.remote = remote
        self.name = f"{local.name} + {remote.name}"
        self.label = f"{local.root} + {remote.label}"
        # The local store's actions (per run: see is_controllable), the remote's refresh.
        self.capabilities = replace(local.capabilities,
                                    can_refresh=remote.capabilities.can_refresh)
        self._local: dict[str, dict[str, Any]] = {}
        self._remote: dict[str, dict[str, Any]] = {}
        # local run id -> ids of the remote runs merged into it (its W&B run, its trackio run)
        self._twins: dict[str, list[str]] = {}
        self._shown: set[str] = set()  # remote runs shown as rows of their own

    # The local store: for the launch form, sweeps and the run actions.
    @property
    def store(self):
        return self.local.store

    def is_controllable(self, run_id: str) -> bool:
        """Local runs (merged or not) can be cancelled, resumed and deleted; W&B rows cannot."""
        return run_id in self._local

    def request_refresh(self) -> None:
        self.remote.request_refresh()

    # --- linking ------------------------------------------------------------------------------

    @staticmethod
    def _links(remote_row: dict[str, Any]) -> list[str]:
        """Local run ids a remote row may belong to, best first."""
        return [rid for rid in (remote_row.get("linked_run_id"), remote_row.get("run_id")) if rid]

    def _owner(self, remote_row: dict[str, Any]) -> str | None:
        return next((rid for rid in self._links(remote_row) if rid in self._local), None)

    def _merged(self, local_id: str, row: dict[str, Any] | None = None) -> dict[str, Any]:
        row = row if row is not None else self._local[local_id]
        twins = [self._remote[rid] for rid in self._twins.get(local_id, ())
                 if rid in self._remote]
        if not twins:
            return row
        merged = merge_rows([row], [dict(twin, linked_run_id=local_id) for twin in twins])
        return merged[0]

    def _link(self, local_id: str, remote_id: str) -> None:
        twins = self._twins.setdefault(local_id, [])
        if remote_id not in twins:
            twins.append(remote_id)

    def _unlink(self, remote_id: str) -> str | None:
        owner = next((lid for lid, rids in self._twins.items() if remote_id in rids), None)
        if owner is not None:
            self._twins[owner].remove(remote_id)
            if not self._twins[owner]:
                del self._twins[owner]
        return owner

    # --- RunSource ------------------------------------------------------------------------------

    def poll(self) -> Iterator[RowBatch]:
        out = RowBatch()
        for batch in self.local.poll():
            out.notices += batch.notices
            for lid in batch.removed:
                self._local.pop(lid, None)
                out.removed.append(lid)
                for rid in self._twins.pop(lid, []):
                    if rid in self._remote:
                        # Its tracker runs stay: rows of their own now (after the removal, same
                        # id or not).
                        self._shown.add(rid)
                        out.changed.append(self._remote[rid])
            for row in batch.changed:
                lid = row["run_id"]
                self._local[lid] = row
                for rid in [r for r in self._shown if lid in self._links(self._remote[r])]:
                    self._link(lid, rid)
                    self._shown.discard(rid)
                    if rid != lid:
                        out.removed.append(rid)
                out.changed.append(self._merged(lid))
            if not batch.complete:
                out.known, out.complete = len(self._local) + len(self._shown), False
                yield _tidy(out)
                out = RowBatch()
        for batch in self.remote.poll():
            out.notices += batch.notices
            for rid in batch.removed:
                self._remote.pop(rid, None)
                owner = self._unlink(rid)
                if owner is not None:
                    out.changed.append(self._local[owner])
                elif rid in self._shown:
                    self._shown.discard(rid)
                    out.removed.append(rid)
            for row in batch.changed:
                rid = row["run_id"]
                self._remote[rid] = row
                previous = self._unlink(rid)
                owner = self._owner(row)
                if previous is not None and previous != owner:
                    out.changed.append(self._local[previous])
                if owner is not None:
                    self._link(owner, rid)
                    if rid in self._shown:
                        self._shown.discard(rid)
                        if rid != owner:
                            out.removed.append(rid)
                    out.changed.append(self._merged(owner))
                else:
                    self._shown.add(rid)
                    out.changed.append(row)
        out.known, out.complete = len(self._local) + len(self._shown), True
        yield _tidy(out)

    def detail(self, run_id: str) -> RunDetail:
        if run_id in self._local:
            detail = self.local.detail(run_id)
            detail.row = self._merged(run_id, detail.row)
            return detail
        return self.remote.detail(run_id)
