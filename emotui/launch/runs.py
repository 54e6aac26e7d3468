"""Starting, resuming, cancelling and deleting runs: the one owner every caller goes through.

`emotui run` (inline or detached), `emotui run --seeds`, `emotui run --resume`, `emotui cancel`,
`emotui rm`, the TUI's launch / resume / cancel / delete and the sweep (and study) controllers
all call here; none of them strings the steps together itself. What it keeps true:

- **a recorded state never contradicts the processes.** Each start of a run is an attempt with
  its own number (core.lifecycle.begin_attempt, core.status's fence): a write of an older
  attempt is dropped. A resume waits (RESUME_WAIT_S at most) until every process of the run's
  previous attempt has exited, or is refused in one line: never two attempts running.
- **everything alive can be stopped.** ``cancel`` asks what lives (the process or job that
  status.json names, the holder of the run's claim) and stops it, whatever status.json says;
  "nothing to cancel" only when nothing lives.
- **a run with a live process is never deleted**, and a job whose folder vanished stops without
  recreating it (core.status.RunFolderGone).
- **bad input leaves nothing behind**: settings, the model folder and the data are checked
  (train.preflight) before a run exists; a run whose submission fails is removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Mapping

from emotui.core import checkpoints
from emotui.core.claim import (
    RunClaimed,
    claim_ahead_by,
    claim_is_stale,
    claim_run,
    future_claim_hint,
    read_claim,
    refusal,
)
from emotui.core.config import RunConfig
from emotui.core.errors import BackendError, ConfigError, EmotuiError
from emotui.core.events import set_aside_all
from emotui.core.lifecycle import (
    ACTIVE,
    CANCELLABLE,
    RESUMABLE,
    begin_attempt,
    check_startable,
    create_run,
    discard_run,
    kept_unless_resumed,
    state_of,
)
from emotui.core.processes import process_alive
from emotui.core.runstore import (
    RunPaths, RunStore, refuse_linked_files, refuse_linked_folder,
)
from emotui.core.status import read_status, write_status
from emotui.launch.base import job_attached
from emotui.launch.monitor import refresh_runs
from emotui.launch.registry import backend_spec, get_backend

log = logging.getLogger("emotui")

# How long a resume waits for the previous attempt's processes to exit (a cancel saving its
# checkpoint) before it gives up with a one-line message.
RESUME_WAIT_S = 30.0
_WAIT_POLL_S = 0.2
_NOTICE_AFTER_S = 1.0


# -- what lives -----------------------------------------------------------------------------------


def live_processes(paths: RunPaths, status: Mapping[str, Any] | None = None, *,
                   force: bool = False) -> list[str]:
    """What of the run is alive now, in words ("pid 123 on host", "slurm job 45"); empty when
    nothing is. Whatever holds the run's claim (core.claim: whoever starts or trains it holds
    it until its last write) lives, whatever status.json says. The process or scheduler job
    status.json names counts only while the run is recorded active: after an end, that pid
    may be a process that goes on with other work (the TUI, a sweep controller that trained
    the run inline). A scheduler job counts too while it is queued or running and holds this
    run alone (a job packing several trials runs on for the others). An inline run's pid is
    the program that trained it in its foreground, which lives on: only its claim counts.
    ``force``: a claim whose time lies in the future counts as gone (core.claim)."""
    status = read_status(paths) if status is None else dict(status)
    alive: list[str] = []
    holder = read_claim(paths)
    if holder and holder.get("pid") and not claim_is_stale(paths, holder, force=force):
        alive.append(f"pid {holder['pid']} on {holder.get('host')}")
    backend = status.get("backend")
    if status.get("state") in ACTIVE and status.get("pid") and _detached(backend) and \
            process_alive(status):
        named = f"pid {status['pid']} on {status.get('host')}"
        if named not in alive:
            alive.append(named)
    if backend and status.get("job_id") and not status.get("pack"):
        try:
            job = get_backend(backend).job_alive(paths, status)
        except EmotuiError:
            job = None
        if job:
            alive.append(job)
    return alive


def _detached(backend: str | None) -> bool:
    try:
        return bool(backend) and backend_spec(backend).detached
    except EmotuiError:  # a backend from a newer emotui: its process is not ours to judge
        return False


def _refuse_if_started(paths: RunPaths, status: Mapping[str, Any], *,
                       force: bool = False) -> None:
    """RunClaimed, naming who, when the run is active and its claim held: someone else is
    starting or training it right now."""
    holder = read_claim(paths)
    if status.get("state") in ACTIVE and holder and holder.get("pid") and \
            not claim_is_stale(paths, holder, force=force):
        raise RunClaimed(refusal(paths, holder))


def _wait_until_gone(paths: RunPaths, wait_s: float,
                     on_wait: Callable[[list[str]], None] | None, *,
                     force: bool = False) -> None:
    """Return once nothing of the run's previous attempt lives; after ``wait_s``, a one-line
    EmotuiError. If the run is started meanwhile by someone else (it is active again and its
    claim held), RunClaimed names who."""
    began = time.monotonic()
    deadline = began + wait_s
    told = False
    while True:
        alive = live_processes(paths, force=force)
        if not alive:
            return
        _refuse_if_started(paths, read_status(paths), force=force)
        if time.monotonic() >= deadline:
            holder = read_claim(paths) or {}
            raise EmotuiError(
                f"run {paths.run_id} is still stopping ({', '.join(alive)}) after "
                f"{wait_s:.0f} s; try again in a moment, or stop it with: emotui cancel "
                f"{paths.run_id}" + future_claim_hint(paths, holder))
        # A moment's wait goes unsaid (a starter racing us takes that long to begin).
        if not told and on_wait is not None and time.monotonic() - began > _NOTICE_AFTER_S:
            on_wait(alive)
            told = True
        time.sleep(_WAIT_POLL_S)


# -- starting --------------------------------------------------------------------------------------


def check_start(config: RunConfig, backend: str, store: RunStore | None = None) -> None:
    """What a start must refuse before a run exists: an unknown backend, the model folder and
    data files training would fail on (train.preflight reads them, without torch); on this
    machine, last (after the store, whose own problem comes first), a Hub it cannot reach for
    a name its cache lacks (train.hub.unloadable_here)."""
    from emotui.train.preflight import check_before_run  # lazy: keeps `emotui --help` fast (6 ms)

    spec = backend_spec(backend)
    check_before_run(config)
    if spec.this_machine:
        if store is not None:
            store.open_root()
        from emotui.train.hub import unloadable_here  # lazy: keeps `emotui --help` fast

        problem = unloadable_here(config)
        if problem is not None:
            raise ConfigError(problem)


def create(store: RunStore, config: RunConfig, *, backend: str, run_id: str | None = None,
           reuse: bool = False, **status_fields: Any) -> RunPaths:
    """A new run, queued as its attempt 1 (core.lifecycle.create_run), not started: for a run
    trained in this process (run_in_foreground) or submitted later (``submit``)."""
    return create_run(store, config, backend=backend, run_id=run_id, reuse=reuse,
                      **status_fields)


def submit(paths: RunPaths, *, backend: str, resources: Any = None,
           env: Mapping[str, str] | None = None, resume: bool = False) -> dict[str, Any]:
    """Hand a created (or newly re-attempted) run to a detached backend; its status. A backend
    that failed to take it raises BackendError with the reason."""
    runner = get_backend(backend)
    options: dict[str, Any] = {"resume": resume, "resources": resources}
    if env:
        options["env"] = env
    try:
        return runner.submit(paths, **options)
    except EmotuiError:
        raise
    except Exception as exc:  # noqa: BLE001 - a backend's own failure, as one line
        raise BackendError(f"could not submit to {backend}: {exc}") from exc


def submit_many(runs: Sequence[RunPaths], *, backend: str, resources: Any = None,
                max_parallel: int | None = None, job_name: str | None = None,
                **pack_options: Any) -> list[dict[str, Any]]:
    """Hand created runs to a detached backend together (Slurm: one job array, at most
    ``max_parallel`` at once; ``pack_options``: trials_per_job/mps, launch.slurm_pack)."""
    return get_backend(backend).submit_many(list(runs), resources=resources,
                                            max_parallel=max_parallel, job_name=job_name,
                                            **pack_options)


def start(store: RunStore, config: RunConfig, *, backend: str, resources: Any = None,
          env: Mapping[str, str] | None = None, checked: bool = False,
          **status_fields: Any) -> tuple[RunPaths, dict[str, Any]]:
    """Check, create and submit one run to a detached backend: (its paths, its status). If
    anything fails, no run is left behind."""
    if not checked:
        check_start(config, backend, store)
    paths = create(store, config, backend=backend, **status_fields)
    try:
        status = submit(paths, backend=backend, resources=resources, env=env)
    except BaseException:
        discard_run(paths)
        raise
    return paths, status


def start_many(store: RunStore, configs: Sequence[RunConfig], *, backend: str,
               resources: Any = None, max_parallel: int | None = None,
               job_name: str | None = None, label: str | None = None, checked: bool = False,
               **status_fields: Any) -> list[tuple[RunPaths, dict[str, Any]]]:
    """Create every run, then submit them together (Slurm: one job array named ``job_name``).
    If that fails, the runs no job took are removed and BackendError says which ones (of
    ``label``, e.g. "group G") keep running."""
    if not checked:
        for config in configs:
            check_start(config, backend, store)
    created: list[RunPaths] = []
    try:
        for config in configs:
            created.append(create(store, config, backend=backend, **status_fields))
        statuses = submit_many(created, backend=backend, resources=resources,
                               max_parallel=max_parallel, job_name=job_name)
    except BaseException as exc:
        started = [p.run_id for p in created if job_attached(read_status(p))]
        for paths in created:
            if paths.run_id not in started:
                discard_run(paths)
        if started and isinstance(exc, Exception):
            of = f" of {label}" if label else ""
            raise BackendError(f"{exc}; runs {', '.join(started)}{of} were submitted before "
                               "the error and keep running") from exc
        raise
    return list(zip(created, statuses))


def restart(paths: RunPaths, **status_fields: Any) -> dict[str, Any]:
    """Start a run over in its own folder (a sweep trial interrupted before its first
    checkpoint): a new attempt, with the earlier attempt's metrics and results set aside."""
    with claim_run(paths):
        refuse_linked_files(paths)
        set_aside_all(paths.metrics, "the run was started over: it stopped before its first "
                      "checkpoint")
        for path in (paths.results, paths.exit_file):
            path.unlink(missing_ok=True)
        return begin_attempt(paths, reason=None, **status_fields)


# -- resuming --------------------------------------------------------------------------------------


def resume(paths: RunPaths, *, backend: str | None = None, resources: Any = None,
           env: Mapping[str, str] | None = None, allowed=RESUMABLE,
           wait_s: float = RESUME_WAIT_S, on_wait: Callable[[list[str]], None] | None = None,
           train_here: Callable[[RunPaths], Any] | None = None,
           warn: Callable[[str], None] | None = None, force: bool = False) -> Any:
    """Continue a run from its last checkpoint as a new attempt, on ``backend`` (default: the
    one it ran on). Waits for the previous attempt's processes to exit first (``on_wait`` is
    told what it waits for); a one-line EmotuiError if they do not within ``wait_s``, or if
    the run is not resumable. A detached backend gets it submitted (returns its status);
    inline, ``train_here(paths)`` trains it in this process, holding its claim, and its
    result is returned. A run with no checkpoint to continue from starts over: ``warn`` is
    told so in one line (what was unusable, where its earlier metrics are kept) before it
    does; the job sets them aside (core.checkpoints.start_over).

    ``force``: a claim whose time lies in the future (a clock running ahead: whether its
    holder lives cannot be told) is taken over, and ``warn`` told so; a holder that can be
    asked (a live process on this machine) is never overruled."""
    warn = warn or log.warning
    before = refresh_runs([paths]).get(paths.run_id) or read_status(paths)
    _refuse_if_started(paths, before, force=force)
    check_startable(paths, before, allowed)  # an active run: refused now, not after waiting
    _wait_until_gone(paths, wait_s, on_wait, force=force)
    holder = read_claim(paths) or {}
    if force and claim_ahead_by(paths, holder) is not None:
        warn(f"run {paths.run_id}: --force: taking over the claim of pid {holder.get('pid')} "
             f"on {holder.get('host')}, whose time lies {claim_ahead_by(paths, holder) or 0:.0f}"
             " s in the future; if that process still trains the run, stop it there")
    name = backend or before.get("backend") or "inline"
    spec = backend_spec(name)
    # One start at a time (core.claim): a second resume, or a job still training the run, is
    # refused here in one line, before anything is written. Inline, the claim lasts the
    # training; a detached job takes it over once submitted.
    with claim_run(paths, force=force):
        before = read_status(paths)
        refuse_linked_files(paths)  # nothing is written through a link out of the run folder
        check_startable(paths, before, allowed)
        problem = checkpoints.resume_problem(paths)
        if problem is not None:
            notice = checkpoints.restart_notice(paths, problem, checkpoints.metric_lines(paths))
            warn(notice)
        begin_attempt(paths, allowed=allowed)
        if not spec.detached:
            write_status(paths, backend=name)
            if train_here is None:
                raise ConfigError(f"run {paths.run_id}: the {name} backend trains in the "
                                  "foreground; resume it with emotui run --resume")
            return train_here(paths)
        with kept_unless_resumed(paths, before):
            write_status(paths, backend=name)
            return submit(paths, backend=name, resources=resources, env=env, resume=True)


# -- cancelling and deleting -----------------------------------------------------------------------


def cancel(runs: Iterable[RunPaths]) -> list[tuple[str, str]]:
    """Stop what lives of each run; (run_id, what happened) for each, in the order given.

    Acts on processes, not on the record: a run recorded finished whose process still lives
    is stopped too. "nothing to cancel" only when nothing of it lives. Raises BackendError when
    a backend cannot act."""
    runs = list(runs)
    current = refresh_runs(runs)  # a job that just ended is not cancelled after the fact
    notes: dict[str, str] = {}
    groups: dict[str, list] = {}
    for paths in runs:
        status = current.get(paths.run_id) or read_status(paths)
        state = status.get("state")
        alive = live_processes(paths, status)
        if state not in CANCELLABLE and not alive:
            notes[paths.run_id] = f"already {state}; nothing to cancel"
            continue
        groups.setdefault(status.get("backend") or "inline", []).append((paths, status))
        if state in CANCELLABLE:
            notes[paths.run_id] = "cancelled"
        else:
            notes[paths.run_id] = f"stopped its live process ({', '.join(alive)}); it stays {state}"
    for name, members in groups.items():
        notes.update(get_backend(name).cancel(members) or {})  # e.g. "cancel pending: ..."
    return [(p.run_id, notes[p.run_id]) for p in runs]


def check_deletable(paths: RunPaths) -> None:
    """A one-line ConfigError while the run is active or anything of it lives, or when its
    folder is a symbolic link (nothing outside the store is deleted)."""
    refuse_linked_folder(paths)
    status = read_status(paths)
    state = state_of(status)
    if state in ACTIVE:
        raise ConfigError(f"run {paths.run_id} is {state}; cancel it before deleting it "
                          f"(emotui cancel {paths.run_id})")
    alive = live_processes(paths, status)
    if alive:
        raise ConfigError(f"run {paths.run_id} is {state or 'unreadable'} but still has a live "
                          f"process ({', '.join(alive)}); stop it with emotui cancel "
                          f"{paths.run_id}, then delete it")


def delete(store: RunStore, paths: RunPaths) -> None:
    """Delete a run's folder; refused in one line while it is active or anything of it lives
    (check_deletable), so no process is left writing into a folder that is gone."""
    check_deletable(paths)
    store.delete(paths.run_id)
