"""Format versions of the files emotui writes, so a later change of format is detected, not
guessed (dolphie's replay database is the model).

Each record that may outlive the emotui that wrote it carries ``schema_version``: status.json,
results.json, a sweep's spec.json and a study's study.json; so does the run index in the user
cache (core.runindex), which a reader of another version ignores and rebuilds. A record
without one is from before versions were written (version 1). A reader that meets a version
newer than its own says so in one line (``newer_than_known``) instead of misreading the
record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCHEMA_KEY = "schema_version"

# The version this emotui writes, per kind of record.
STATUS_SCHEMA = 1
RESULTS_SCHEMA = 1
SWEEP_SCHEMA = 1
STUDY_SCHEMA = 1
# The run index (core.runindex): derived, so any other version is rebuilt, never refused.
INDEX_SCHEMA = 1


def version_of(record: Mapping[str, Any]) -> int | None:
    """The record's format version (1 when it has none); None when the field holds no
    whole number (a reader reports the field as it reports any other of the wrong type)."""
    value = record.get(SCHEMA_KEY, 1)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def newer_than_known(record: Mapping[str, Any], known: int, name: str) -> str | None:
    """One line when ``record`` (the file ``name``) was written in a format newer than
    ``known``, the newest this emotui reads; None when this emotui can read it."""
    version = version_of(record)
    if version is None or version <= known:
        return None
    return (f"{name} has format version {version}, newer than this emotui reads ({known}): "
            "upgrade emotui to read it")
