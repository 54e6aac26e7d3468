"""The checks `emotui export` makes before any model loads (``plan_export`` -> ``ExportPlan``):
the run completed and has a best checkpoint, the method fits ``merged`` (a full fine-tuning has
no adapter to export; peft cannot merge the prompt methods), and the target folder is new,
empty, or (``--force``) an earlier export, told by the marker file it holds (MARKER). Bad input
is one line before torch is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotui.core import methods
from emotui.core.config import RunConfig, config_from_yaml
from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.lifecycle import ACTIVE, RunState, state_of
from emotui.core.model_card import ADAPTER, FULL, MERGED
from emotui.core.runstore import RunPaths
from emotui.core.status import read_status

MARKER = "emotui_export.json"  # what wrote an export folder; --force replaces only such a one


@dataclass(frozen=True)
class ExportPlan:
    """What an export of a run will write, decided before anything heavy loads."""

    paths: RunPaths
    config: RunConfig
    config_text: str
    status: dict[str, Any]
    spec: methods.MethodSpec
    kind: str
    target: Path
    replace: bool


def plan_export(paths: RunPaths, out: Path | None, merged: bool | None, *,
                force: bool = False) -> ExportPlan:
    """The checks that need no model: a completed run with a best checkpoint, a method that
    ``merged`` fits, a target folder that is new, empty, or (``force``) an earlier export."""
    status = _completed_status(paths)
    if not paths.config.is_file():
        raise EmotuiError(f"run {paths.run_id} has no config.yaml: it cannot be exported")
    config = config_from_yaml(paths.config)
    spec = methods.get(config.method)
    kind = _kind(paths.run_id, spec, merged)
    if not paths.checkpoint_best.is_dir():
        raise EmotuiError(f"run {paths.run_id} completed without a best checkpoint "
                          f"({paths.checkpoint_best} is missing): there is nothing to export")
    target = Path(out).expanduser().absolute() if out is not None else paths.export
    named = f"--out {target}" if out is not None else f"the export folder {target}"
    return ExportPlan(paths, config, paths.config.read_text(encoding="utf-8"), status, spec,
                      kind, target, _replaces(target, named, force))


def _completed_status(paths: RunPaths) -> dict[str, Any]:
    status = read_status(paths)
    state = state_of(status)
    rid = paths.run_id
    if state is RunState.COMPLETED:
        return status
    if state is None:
        raise EmotuiError(f"run {rid} has no readable status.json: only a completed run can be "
                          "exported (emotui ls --state completed lists them)")
    if state is RunState.PREEMPTED:
        raise EmotuiError(f"run {rid} is preempted: only a completed run can be exported; "
                          f"resume it first (emotui run --resume {rid})")
    if state in ACTIVE:
        raise EmotuiError(f"run {rid} is {state}: only a completed run can be exported; wait "
                          f"for it to finish (emotui logs -f {rid})")
    reason = f" ({status['reason']})" if status.get("reason") else ""
    raise EmotuiError(f"run {rid} {state}{reason}: only a completed run can be exported; pick "
                      "one with emotui ls --state completed")


def _kind(run_id: str, spec: methods.MethodSpec, merged: bool | None) -> str:
    if spec.peft_method is None:
        if merged is False:
            raise ConfigError(f"run {run_id} trained {spec.label}: the whole model, no adapter "
                              "to export; drop --no-merged")
        return FULL
    if spec.mergeable:
        return ADAPTER if merged is False else MERGED
    if merged:
        raise ConfigError(f"run {run_id} trained {spec.label}: peft cannot merge it into the "
                          "base weights; drop --merged to export the adapter (it names its base)")
    return ADAPTER


def _replaces(target: Path, named: str, force: bool) -> bool:
    """Whether the export replaces a folder at ``target`` (refused unless it is an earlier
    export and ``force``); False when ``target`` is absent or an empty folder. ``named``: the
    folder as messages name it."""
    if not target.exists():
        return False
    if not target.is_dir():
        raise ConfigError(f"{named} is a file; give --out DIR, a new or empty folder")
    try:
        empty = next(target.iterdir(), None) is None
    except OSError as exc:
        raise ConfigError(f"{named} cannot be read ({exc.strerror or exc}); give --out DIR, "
                          "another folder") from None
    if empty:
        return False
    if not force:
        raise ConfigError(f"{named} exists and is not empty; give --out DIR, a new or empty "
                          "folder, or add --force to replace an earlier export there")
    if not (target / MARKER).is_file():
        raise ConfigError(f"{named} holds files emotui export did not write; --force replaces "
                          "an earlier export only: give --out DIR, a new or empty folder")
    return True
