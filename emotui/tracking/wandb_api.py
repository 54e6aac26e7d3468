"""Pull a W&B project's runs: the public API behind a small interface, with an on-disk cache.

``RunsClient.fetch_runs(entity, project)`` is the one call emotui makes; ``PublicApiClient``
implements it with ``wandb.Api(timeout=...)`` (GraphQL through wandb-core, paginated by
``per_page``). Before wandb is asked anything, credentials and a TCP connection to the server are
checked, because ``wandb.Api()`` without a key prompts or raises, and with a key but no network
it waits for its retries to expire. Every failure becomes ``WandbUnavailable`` with one line.

Runs are cached as normalized records (never the key) in ``~/.cache/emotui/wandb/``: a caller
shows the cached rows at once and refreshes when asked (``--refresh``, the TUI's worker).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from emotui.core.errors import ConfigError, EmotuiError
from emotui.core.runstore import atomic_write_json
from emotui.core.vocabulary import Event
from emotui.core.userconfig import user_cache_dir
from emotui.tracking.keys import STEP_KEY
from emotui.tracking.settings import (
    base_url, explain_failure, has_credentials, reachable, resolve,
)

API_TIMEOUT_S = 20
CONNECT_TIMEOUT_S = 5.0
PER_PAGE = 100
CACHE_VERSION = 1
# Curves fetched for a W&B run's detail view (the study's keys; emotui logs the same).
HISTORY_KEYS = ("train/loss", "train/learning_rate", "eval/loss", "eval/accuracy",
                "eval/macro_f1")


Record = dict[str, Any]  # one run, as ``normalize_run`` returns it


class WandbUnavailable(EmotuiError):
    """W&B could not be asked (no key, key refused, no network, rate limited, no project)."""

    exit_code = 1


class RunsClient(Protocol):
    def fetch_runs(self, entity: str | None, project: str) -> tuple[str | None, list[Record]]:
        """(the entity actually used, normalized run records of the project)."""
        ...


# ---------------------------------------------------------------------------------------------
# The public API client
# ---------------------------------------------------------------------------------------------


def _scalars(mapping: Any) -> dict[str, Any]:
    """Top-level JSON-friendly values only (summaries hold tables and media as dicts)."""
    if not isinstance(mapping, dict):
        return {}
    out = {}
    for key, value in mapping.items():
        if isinstance(key, str) and not key.startswith("_") and (
            value is None or isinstance(value, (str, int, float, bool))
            or (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value))
        ):
            out[key] = value
    return out


def normalize_run(run: Any, entity: str | None, project: str) -> dict[str, Any]:
    """A ``wandb.apis.public.Run`` as the plain record emotui caches and maps."""
    return {
        "id": run.id,
        "name": getattr(run, "name", None),
        "entity": entity,
        "project": project,
        "state": getattr(run, "state", None),
        "config": _scalars(dict(run.config or {})),
        "summary": _scalars(dict(run.summary_metrics or {})),
        "tags": list(getattr(run, "tags", None) or []),
        "group": getattr(run, "group", None),
        "sweep": getattr(run, "sweep_name", None),
        "created": getattr(run, "created_at", None),
        "url": getattr(run, "url", None),
        "source": "wandb",
    }


class PublicApiClient:
    """``wandb.Api`` with a timeout, after a fast credentials + connectivity check."""

    def __init__(self, timeout: int = API_TIMEOUT_S, per_page: int = PER_PAGE,
                 connect_timeout: float = CONNECT_TIMEOUT_S):
        self.timeout = timeout
        self.per_page = per_page
        self.connect_timeout = connect_timeout

    def _require_service(self, what: str) -> str:
        """The W&B URL, once a key is there and the server answers; else WandbUnavailable."""
        url = base_url()
        if not has_credentials(url):
            raise WandbUnavailable(
                f"no W&B API key: set WANDB_API_KEY or run 'wandb login' to read W&B {what}")
        problem = reachable(url, timeout=self.connect_timeout)
        if problem:
            raise WandbUnavailable(f"W&B unreachable: {problem}")
        return url

    def fetch_runs(self, entity: str | None, project: str) -> tuple[str | None, list[Record]]:
        url = self._require_service("projects")
        try:
            import wandb

            api = wandb.Api(timeout=self.timeout)
            entity = entity or api.default_entity
            runs = api.runs(f"{entity}/{project}" if entity else project,
                            per_page=self.per_page, lazy=False)
            return entity, [normalize_run(r, entity, project) for r in runs]
        except ValueError as exc:
            if "could not find project" in str(exc).lower():
                raise WandbUnavailable(
                    f"W&B project {entity}/{project} not found at {url}") from None
            raise WandbUnavailable(explain_failure(exc, url, self.timeout)) from None
        except Exception as exc:  # noqa: BLE001 - wandb raises many types; all mean "unavailable"
            raise WandbUnavailable(explain_failure(exc, url, self.timeout)) from None


    def fetch_history(self, entity: str | None, project: str, run_id: str,
                      samples: int = 1000) -> list[dict[str, Any]]:
        """One run's curves (HISTORY_KEYS against train/global_step), rows merged by step."""
        url = self._require_service("runs")
        try:
            import wandb

            api = wandb.Api(timeout=self.timeout)
            entity = entity or api.default_entity
            run = api.run(f"{entity}/{project}/{run_id}")
            by_step: dict[Any, dict[str, Any]] = {}
            for key in HISTORY_KEYS:
                # One key per query: sampled history drops rows lacking any requested key.
                for row in run.history(keys=[key], x_axis=STEP_KEY, samples=samples,
                                       pandas=False):
                    split = key.split("/", 1)[0]
                    merged = by_step.setdefault((row.get(STEP_KEY), split), {})
                    merged.update(row)
            return [by_step[k] for k in sorted(by_step,
                                               key=lambda k: (k[0] or 0, k[1] != Event.TRAIN))]
        except Exception as exc:  # noqa: BLE001 - as in fetch_runs
            raise WandbUnavailable(explain_failure(exc, url, self.timeout)) from None


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "_"


def cache_dir() -> Path:
    return user_cache_dir() / "wandb"


def cache_path(entity: str | None, project: str) -> Path:
    return cache_dir() / f"{_safe(entity or '_default')}_{_safe(project)}.json"


@dataclass
class ProjectRuns:
    """A project's run records and when they were fetched (None: never)."""

    entity: str | None
    project: str
    records: list[dict[str, Any]]
    fetched: float | None
    warning: str | None = None

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}" if self.entity else self.project


def load_cache(entity: str | None, project: str) -> ProjectRuns | None:
    try:
        data = json.loads(cache_path(entity, project).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return None
    return ProjectRuns(data.get("entity") or entity, project, list(data.get("runs") or []),
                       data.get("fetched"))


def save_cache(runs: ProjectRuns, requested_entity: str | None) -> None:
    path = cache_path(requested_entity, runs.project)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"version": CACHE_VERSION, "entity": runs.entity,
                             "project": runs.project, "fetched": runs.fetched,
                             "runs": runs.records})


def parse_project_path(text: str | None) -> tuple[str | None, str]:
    """'entity/project', 'project' or '' (the configured default) -> (entity, project)."""
    settings = resolve()
    text = (text or "").strip().strip("/")
    if not text:
        return settings.entity, settings.project
    parts = text.split("/")
    if len(parts) == 1:
        return settings.entity, parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ConfigError(f"'{text}' is not a W&B project; give ENTITY/PROJECT or PROJECT")


class WandbProject:
    """One W&B project as a run source: cached records at once, a refresh on demand.

    The TUI calls ``cached()`` on the UI thread and ``refresh()`` in a worker; the CLI calls
    ``load(refresh=...)``.
    """

    def __init__(self, entity: str | None, project: str, client: RunsClient | None = None):
        self.entity = entity
        self.project = project
        self.client = client or PublicApiClient()

    @classmethod
    def from_path(cls, text: str | None, client: RunsClient | None = None) -> "WandbProject":
        entity, project = parse_project_path(text)
        return cls(entity, project, client)

    def cached(self) -> ProjectRuns | None:
        return load_cache(self.entity, self.project)

    def refresh(self) -> ProjectRuns:
        """Fetch every run (all pages) and replace the cache. Raises WandbUnavailable."""
        entity, records = self.client.fetch_runs(self.entity, self.project)
        runs = ProjectRuns(entity, self.project, records, time.time())
        try:
            save_cache(runs, self.entity)
        except OSError:
            pass  # an unwritable cache folder costs a refetch next time, nothing more
        return runs

    def history(self, run_id: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        """A run's curves: from the cache unless refresh, else fetched (WandbUnavailable)."""
        path = cache_path(self.entity, self.project).with_suffix("") / f"{_safe(run_id)}.json"
        if not refresh:
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                pass
        fetch = getattr(self.client, "fetch_history", None)
        if fetch is None:
            return []
        rows = fetch(self.entity, self.project, run_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, rows)
        except OSError:
            pass
        return rows

    def load(self, *, refresh: bool = False) -> ProjectRuns:
        """Cached runs unless refresh or none cached; a failed fetch falls back to the cache."""
        cached = self.cached()
        if cached is not None and not refresh:
            return cached
        try:
            return self.refresh()
        except WandbUnavailable as exc:
            if cached is None:
                raise
            age = age_text(cached.fetched)
            cached.warning = f"{exc} (showing runs cached {age})"
            return cached


def age_text(fetched: float | None) -> str:
    if not fetched:
        return "earlier"
    seconds = max(0, time.time() - fetched)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"
