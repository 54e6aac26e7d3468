"""Rows for comparison tables from every place runs live: the local store, W&B offline files, a
W&B project, a trackio project. All rows have the columns of ``emotui.core.results.summarize``
plus ``source`` (local, wandb, wandb-offline, trackio, local+wandb, local+trackio, ...) and the
tracker's link columns (wandb_run_id, trackio_run_id, ...), so the CLI's compare and the TUI
treat them alike. A tracker's run linked to a local run is merged into the local row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from emotui.core.results import SUMMARY_METRICS, summarize
from emotui.core.runindex import EXTRA_KEYS, store_rows
from emotui.core.runstore import RunPaths
from emotui.core.runview import read_checked_status
from emotui.tracking import keys
from emotui.tracking.offline import OfflineRun, find_run_files, read_offline_runs
from emotui.tracking.wandb_api import ProjectRuns


def local_row(paths: RunPaths, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """summarize() of a run directory (its config.yaml as ``config`` when already read), with
    where its W&B twin is (from status.json)."""
    row = summarize(paths, config)
    status, _problems = read_checked_status(paths)  # the row says when it is unreadable
    project = "/".join(p for p in (status.get("wandb_entity"), status.get("wandb_project")) if p)
    row.update(
        source="local",
        name=None,
        wandb_run_id=status.get("wandb_run_id"),
        wandb_url=status.get("wandb_url"),
        wandb_project=project or None,
    )
    return row


def local_rows(root: Path) -> list[dict[str, Any]]:
    """local_row() of every run of the store at ``root``, oldest first, through the run index
    (core.runindex: only the runs whose files changed since the last listing are read)."""
    out = store_rows(root, extras=True)  # fresh dicts, this listing's own
    for row in out:
        row.update(source="local", name=None)
        for key in EXTRA_KEYS:  # after source, as a tracker's rows have them
            row[key] = row.pop(key, None)
    return out


def is_offline_path(text: str) -> bool:
    """Whether a compare argument names offline W&B data rather than a run id."""
    path = Path(text).expanduser()
    return path.exists() and bool(find_run_files(path))


def offline_runs(path: Path) -> list[OfflineRun]:
    return read_offline_runs(Path(path).expanduser())


def offline_rows(path: Path) -> list[dict[str, Any]]:
    """Read-only rows of the W&B offline runs under path (nothing is synced or copied)."""
    return [keys.record_to_row(run.to_record()) for run in offline_runs(path)]


def record_detail(record: dict[str, Any],
                  history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a detail or compare view needs of a W&B run (API, cache or offline file):
    ``run_id``, ``row`` (summary columns), ``config`` (with ``method``), ``results`` (the row's
    metrics under results.json names), ``summary`` and metrics.jsonl-style ``events``."""
    row = keys.record_to_row(record)
    config = dict(record.get("config") or {})
    config.setdefault("method", row.get("method"))
    results = {k: row.get(k) for k in SUMMARY_METRICS}
    results.update(run_id=row["run_id"], status=row.get("status"), method=row.get("method"))
    return {
        "run_id": row["run_id"],
        "row": row,
        "config": config,
        "results": results,
        "summary": dict(record.get("summary") or {}),
        "events": keys.history_to_events(history or []),
    }


def project_rows(runs: ProjectRuns) -> list[dict[str, Any]]:
    return [keys.record_to_row(record) for record in runs.records]


def merge_rows(local: Iterable[dict[str, Any]],
               remote: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Local rows, then remote rows; a remote row linked to a local one fills its gaps instead.

    Linked means: the local run's status.json names the W&B run id, or the W&B run's config
    holds the local run id (``emotui_run_id``; emotui also uses its run id as the W&B id).
    """
    merged = [dict(row) for row in local]
    by_id = {row["run_id"]: row for row in merged}
    by_wandb = {row["wandb_run_id"]: row for row in merged if row.get("wandb_run_id")}
    out_remote: list[dict[str, Any]] = []
    for row in remote:
        target = (by_wandb.get(row.get("wandb_run_id"))
                  or by_id.get(row.get("linked_run_id"))
                  or (by_id.get(row.get("run_id")) if row.get("linked_run_id") else None))
        if target is None:
            out_remote.append(dict(row))
            continue
        for key, value in row.items():
            if target.get(key) is None and value is not None and key not in ("run_id", "source"):
                target[key] = value
        if row.get("wandb_url"):
            target["wandb_url"] = row["wandb_url"]
        target["source"] = _joined_source(target.get("source"), row.get("source"))
    return merged + out_remote


def _joined_source(local: Any, remote: Any) -> Any:
    """local + wandb -> local+wandb; a second tracker adds itself (local+wandb+trackio), another
    copy of one already there (wandb-offline beside wandb) does not."""
    local, remote = str(local or ""), str(remote or "wandb")
    parts = local.split("+")
    if parts[0] != "local" or remote.split("-")[0] in {p.split("-")[0] for p in parts[1:]}:
        return local or None
    return f"{local}+{remote}"
