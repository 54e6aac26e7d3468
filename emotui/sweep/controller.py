"""The offline sweep controller: plans trials (``planner.py``), launches them, prunes with
hyperband (a pruned trial's record: ``early_stop.py``), resumes.

One controller drives a sweep at a time. Everything it knows is on disk (``store.py``), so a
controller that is killed can be started again (``emotui sweep resume``, or the same ``emotui
sweep FILE`` command) and picks up where it was:

- a trial whose run finished (completed, failed, cancelled, early-stopped) is never rerun;
- a trial whose run is still alive elsewhere (local process, Slurm job with a fresh heartbeat) is
  reattached and watched;
- a trial that was running when everything stopped is resumed in the same run directory from its
  last checkpoint (``train(resume=True)``); without a checkpoint it restarts there from scratch.
  So is one a reader marked failed meanwhile because its process was gone (lifecycle's
  ``ended_unrecorded``): that is a guess, not an end the run recorded;
- a planned trial whose run never started is started.

New trials come from the grid / random / bayes planner (``planner.py``) until the grid is done,
``run_cap`` is reached, ``--count`` new trials were started, or a trial met the metric's target.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emotui.core import checkpoints
from emotui.core.config import RunConfig
from emotui.core.events import MetricsReader, read_all
from emotui.core.lifecycle import FINISHED, RunState, discard_run, ended_unrecorded, state_of
from emotui.core.runstore import RunPaths, RunStore, new_run_id, read_json
from emotui.core.status import now, read_status
from emotui.launch import runs
from emotui.sweep import hyperband as hb
from emotui.sweep.early_stop import record_early_stop
from emotui.sweep.launching import Handle, SweepInterrupted, TrialLauncher
from emotui.sweep.planner import Planner, replanned, swept_values
from emotui.sweep.spec import SweepSpec
from emotui.sweep.store import SweepPaths, read_trials, take_over, write_controller, write_trial
from emotui.sweep.summary import stopped_early_by

CONTROLLER_BEAT_S = 5.0


@dataclass
class TrialState:
    record: dict[str, Any]
    paths: RunPaths | None = None
    reader: MetricsReader | None = None
    history: list[float] = field(default_factory=list)
    handle: Handle | None = None

    @property
    def index(self) -> int:
        return int(self.record["index"])


class SweepController:
    def __init__(self, spec: SweepSpec, sweep: SweepPaths, store: RunStore,
                 launcher: TrialLauncher, *,
                 max_parallel: int = 1, count: int | None = None,
                 echo: Callable[[str], None] | None = None, poll_interval: float | None = None,
                 trial_status: dict[str, Any] | None = None,
                 stop_planning: Callable[[], str | None] | None = None,
                 force: bool = False):
        self.spec = spec
        self.sweep = sweep
        self.store = store
        self.launcher = launcher
        self.max_parallel = 1 if launcher.blocking else max(1, max_parallel)
        self.count = count
        self.echo = echo or (lambda line: None)
        self.poll_interval = poll_interval if poll_interval is not None else \
            launcher.poll_interval
        self.trial_status = dict(trial_status or {})  # e.g. the trials' W&B settings
        self.trials: dict[int, TrialState] = {}
        self.planner = Planner(spec, sweep.sweep_id, sweep.journal)
        self.started_new = 0
        self.target_hit: int | None = None
        # A study's budget: asked before each new trial; a reason ends planning (trials already
        # started run to their end), and the sweep ends "stopped".
        self.stop_planning = stop_planning
        # `sweep resume --force`: a controller whose liveness cannot be told (its time lies in
        # the future) is taken for gone.
        self.force = force
        self.stopped: str | None = None
        self._last_beat = 0.0
        self._live_progress = False  # echo per-epoch values once past the startup reconcile

    # -- bookkeeping ---------------------------------------------------------------------------

    def _beat(self, force: bool = False, **fields: Any) -> None:
        if force or time.time() - self._last_beat > CONTROLLER_BEAT_S:
            write_controller(self.sweep, **fields)
            self._last_beat = time.time()

    def _load(self) -> None:
        for record in read_trials(self.sweep):
            if record.get("warning"):
                record = self._repair(record)
            if record.get("state") == "lost":
                continue  # never started and cannot be planned again: a new trial replaces it
            trial = TrialState(record)
            if record.get("run_id"):
                trial.paths = self.store.paths(record["run_id"])
                trial.reader = MetricsReader(trial.paths.metrics)
            self.trials[trial.index] = trial

    def _repair(self, record: dict[str, Any]) -> dict[str, Any]:
        """A trial record rebuilt because its file was unreadable (sweep.store.read_trials):
        say so, fill in its swept values (planner.replanned) and write it back."""
        self.echo(f"warning: {record['warning']}")
        record = replanned(dict(record), self.spec, self.planner, self.store)
        write_trial(self.sweep, record)
        return record

    def _refresh_history(self, trial: TrialState) -> list[float]:
        if trial.reader is None or self.spec.metric is None:
            return trial.history
        events = trial.reader.poll()
        if trial.reader.restarted:
            trial.history = []
        new = self.spec.metric.history(events)
        trial.history.extend(v for _, v in new)
        if self._live_progress:
            for epoch, value in new:
                self.echo(f"trial {trial.index}: epoch {epoch:g} {self.spec.metric.name}="
                          f"{value:.4f}")
        return trial.history

    def _finished_state(self, trial: TrialState) -> RunState | None:
        if trial.paths is None:
            return None
        return state_of(read_status(trial.paths))

    def _lost_before_settled(self, trial: TrialState) -> bool:
        """A trial this sweep never saw end whose run a reader (`emotui ls`, the TUI) marked
        failed because its process was gone: killed with the controller (inline) or with the
        machine. The run never recorded an end, so it is not finished: it continues from its
        checkpoint like a trial found running."""
        return trial.record.get("state") is None and ended_unrecorded(read_status(trial.paths))

    def _interrupted_before_settled(self, trial: TrialState) -> bool:
        """A trial this sweep's own Ctrl-C stopped (its run recorded cancelled, as `emotui run`
        records it) and never settled: it is not finished; it continues from its checkpoint
        when the sweep does."""
        return trial.record.get("state") is None and bool(trial.record.get("interrupted"))

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> str:
        """Drive the sweep until nothing is left to do; returns how it ended."""
        take_over(self.sweep, force=self.force, echo=self.echo)
        sharing = self.launcher.sharing.fields() if self.launcher.sharing else \
            {"trials_per_gpu": None, "mps": None}
        self._beat(force=True, state="running", backend=self.launcher.name,
                   max_parallel=self.max_parallel, started=now(), ended=None, **sharing)
        ending = "failed"  # an error the CLI reports (bad input found at a trial's setup, sbatch)
        try:
            self._load()
            pending = self._reconcile()
            self._live_progress = True
            ending = self._loop(pending)
            return ending
        except (SweepInterrupted, KeyboardInterrupt):
            ending = "interrupted"
            raise
        finally:
            self._beat(force=True, state=ending, ended=now())

    def _reconcile(self) -> list[tuple[TrialState, bool]]:
        """Sort existing trials into finished / reattached / to (re)start. Returns the starts."""
        pending: list[tuple[TrialState, bool]] = []
        for trial in sorted(self.trials.values(), key=lambda t: t.index):
            self._refresh_history(trial)
            if trial.paths is None or not trial.paths.status.exists():
                # Planned but its run never got created: make it now.
                pending.append((trial, False))
                continue
            state = self._finished_state(trial)
            if state in FINISHED and not self._lost_before_settled(trial) \
                    and not self._interrupted_before_settled(trial):
                self._settle(trial, announce=False)
                continue
            if not self.launcher.blocking and self.launcher.alive(trial.paths):
                trial.handle = self.launcher.reattach(trial.paths)
                self.echo(f"trial {trial.index}: reattached to {trial.paths.run_id} ({state})")
                continue
            if state == RunState.QUEUED and not trial.paths.metrics.exists():
                pending.append((trial, False))
            else:
                pending.append((trial, True))
        if self.planner.bayes is not None:
            self._fail_orphan_bayes_trials()
        return pending

    def _fail_orphan_bayes_trials(self) -> None:
        """Optuna trials asked for but never recorded (controller died in between): closed."""
        from optuna.trial import TrialState as OT

        known = {t.record.get("optuna_number") for t in self.trials.values()}
        for t in self.planner.bayes.study.get_trials(deepcopy=False, states=(OT.RUNNING,)):
            if t.number not in known:
                self.planner.bayes.tell(t.number, None, state="fail")

    def _active(self) -> list[TrialState]:
        return [t for t in self.trials.values() if t.handle is not None]

    def _loop(self, pending: list[tuple[TrialState, bool]]) -> str:
        if self.launcher.arrays and self.spec.hyperband is None and self.stop_planning is None \
                and self.spec.method in ("grid", "random"):
            pending = self._start_array(pending)
        while True:
            self._beat(state="running")
            # 1. watch what runs (non-blocking backends): one batched status call per poll
            if self._active():
                self.launcher.refresh([t.paths for t in self._active()])
            for trial in self._active():
                self._refresh_history(trial)
                if self.launcher.done(trial.handle):
                    self._settle(trial)
                    trial.handle = None
                elif trial.handle.stop_reason is None:
                    reason = self._hyperband_reason(trial)
                    if reason:
                        self.echo(f"trial {trial.index}: {reason}")
                        self.launcher.stop(trial.handle, reason)
                        trial.handle.stop_reason = reason
            # 2. start what fits
            while len(self._active()) < self.max_parallel and self.launcher.has_room():
                if pending:
                    trial, resume = pending.pop(0)
                    self._start(trial, resume=resume)
                elif self._may_plan():
                    trial = self._plan()
                    if trial is None:
                        break
                    self._start(trial, resume=False)
                else:
                    break
                if self.launcher.blocking:
                    break  # settle it before anything else
            self.launcher.flush()  # trials started together share a job (--trials-per-gpu)
            if not self._active() and not pending and not self._may_plan():
                break
            if not self.launcher.blocking:
                time.sleep(self.poll_interval)
        if self.target_hit is not None:
            return "target_reached"
        total = self.spec.planned_total()
        if self.stopped is not None and (total is None or len(self.trials) < total):
            return "stopped"
        if total is not None and len(self.trials) >= total:
            return "finished"
        return "paused"  # --count reached: more trials remain for a later command

    def _start_array(self, pending: list[tuple[TrialState, bool]]) -> list[tuple[TrialState, bool]]:
        """Every trial still to start, as one job array capped at max_parallel (Slurm)."""
        fresh = [t for t, resume in pending if not resume]
        while self._may_plan():
            trial = self._plan()
            if trial is None:
                break
            fresh.append(trial)
        if fresh:
            for trial in fresh:
                self._create_run(trial, self._config_of(trial))
            handles = self.launcher.start_many([t.paths for t in fresh],
                                               job_name=f"sweep-{self.sweep.sweep_id}")
            for trial, handle in zip(fresh, handles):
                trial.handle = handle
            self.echo(f"submitted {len(fresh)} trials as one job array "
                      f"(at most {self.max_parallel} at once)")
        return [(t, resume) for t, resume in pending if resume]

    def _may_plan(self) -> bool:
        if self.target_hit is not None:
            return False
        if self.count is not None and self.started_new >= self.count:
            return False
        total = self.spec.planned_total()
        if total is not None and len(self.trials) >= total:
            return False
        # Unbounded (random/bayes without run_cap) only with --count.
        if total is None and self.count is None:
            return False
        if self.stopped is None and self.stop_planning is not None:
            self.stopped = self.stop_planning()
            if self.stopped is not None:
                self.echo(f"no new trials: {self.stopped}")
        return self.stopped is None

    def _plan(self) -> TrialState | None:
        index = max(self.trials, default=-1) + 1
        planned = self.planner.next(index)
        if planned is None:
            return None
        values, number = planned
        config, _ = self.spec.trial_config(values)
        record = {
            "index": index,
            "params": swept_values(self.spec, values),
            "run_id": new_run_id(config.method),
            "optuna_number": number,
            "created": now(),
        }
        write_trial(self.sweep, record)
        trial = TrialState(record)
        trial.paths = self.store.paths(record["run_id"])
        trial.reader = MetricsReader(trial.paths.metrics)
        self.trials[index] = trial
        self.started_new += 1
        return trial

    # -- one trial -----------------------------------------------------------------------------

    def _config_of(self, trial: TrialState) -> RunConfig:
        values = dict(trial.record.get("params") or {})
        config, _ = self.spec.trial_config(values)
        return config

    def _create_run(self, trial: TrialState, config: RunConfig) -> None:
        if trial.paths is None:
            trial.record["run_id"] = new_run_id(config.method)
            write_trial(self.sweep, trial.record)
            trial.paths = self.store.paths(trial.record["run_id"])
            trial.reader = MetricsReader(trial.paths.metrics)
        # The id was planned ahead: a directory left by a start that never happened is reused.
        runs.create(self.store, config, backend=self.launcher.name, run_id=trial.paths.run_id,
                    reuse=True, sweep_id=self.sweep.sweep_id, sweep_trial=trial.index,
                    **self.trial_status)

    def _start(self, trial: TrialState, *, resume: bool) -> None:
        config = self._config_of(trial)
        if trial.record.pop("interrupted", None):
            write_trial(self.sweep, trial.record)
        if not resume or trial.paths is None or not trial.paths.root.exists():
            self._create_run(trial, config)
            resume = False
        elif checkpoints.recover(trial.paths, "last") is None:
            # Interrupted before its first checkpoint (one cut short mid-save is recovered
            # instead): start it again, in the same run directory, as a new attempt.
            runs.restart(trial.paths, sweep_id=self.sweep.sweep_id, sweep_trial=trial.index)
            trial.history, trial.reader = [], MetricsReader(trial.paths.metrics)
            resume = False
        params = ", ".join(f"{k}={_short(v)}" for k, v in (trial.record.get("params") or {}).items())
        self.echo(f"trial {trial.index}: {'resuming' if resume else 'starting'} "
                  f"{trial.paths.run_id}" + (f" ({params})" if params else ""))
        watch = (lambda: self._hyperband_reason(trial)) if self.spec.hyperband else None
        if self.launcher.blocking:
            def tick() -> None:
                self._beat(state="running")
                if watch is None:  # hyperband reads the metrics anyway; else read them here
                    self._refresh_history(trial)

            handle = self.launcher.start(trial.paths, config, resume=resume, watch=watch,
                                         tick=tick)
        else:
            handle = self.launcher.start(trial.paths, config, resume=resume, watch=watch)
        trial.handle = handle
        if self.launcher.blocking:
            self._after_blocking(trial)

    def _after_blocking(self, trial: TrialState) -> None:
        outcome = trial.handle.outcome
        trial.handle = None
        if outcome.kind == "interrupted":
            trial.record["interrupted"] = True  # the sweep was stopped, not this trial ended
            write_trial(self.sweep, trial.record)
            raise SweepInterrupted(trial.paths.run_id)
        if outcome.kind == "setup_error":
            # Bad input found before training started: every trial would fail the same way.
            discard_run(trial.paths)
            raise outcome.error  # type: ignore[misc]
        if outcome.kind == "early_stopped":
            record_early_stop(trial.paths, outcome.reason or "early-stopped")
        self._settle(trial)

    def _hyperband_reason(self, trial: TrialState) -> str | None:
        if self.spec.hyperband is None or self.spec.metric is None:
            return None
        histories = {i: self._refresh_history(t) for i, t in self.trials.items()}
        max_epochs = float(self._config_of(trial).num_train_epochs)
        decision = hb.should_stop(self.spec.hyperband, self.spec.metric, histories, trial.index,
                                  max_epochs)
        if decision is None or len(histories[trial.index]) >= max_epochs:
            return None  # nothing to save by stopping a trial that has finished its epochs
        return decision.reason(self.spec.metric)

    def _settle(self, trial: TrialState, announce: bool = True) -> None:
        """Record a finished trial's value; tell bayes; check the target."""
        if trial.handle is not None and trial.handle.stop_reason and \
                not read_status(trial.paths).get("early_stopped"):
            record_early_stop(trial.paths, trial.handle.stop_reason)
        status = read_status(trial.paths)
        results = read_json(trial.paths.results)
        value = None
        if self.spec.metric is not None:
            value = self.spec.metric.final_value(results, read_all(trial.paths.metrics))
            if value is not None and math.isnan(value):
                value = None
        state = status.get("state")
        # Pruned by hyperband, or stopped by its collapse sentinel: both finished early.
        stopped_by = stopped_early_by(status, results)
        early = stopped_by is not None
        changed = trial.record.get("state") != state or trial.record.get("value") != value \
            or trial.record.get("early_stopped") != early
        trial.record.update(state=state, value=value, early_stopped=early)
        if changed:
            write_trial(self.sweep, trial.record)
        if self.planner.bayes is not None and trial.record.get("optuna_number") is not None:
            kind = "pruned" if early else ("complete" if state == "completed" else "fail")
            self.planner.bayes.tell(int(trial.record["optuna_number"]), value, state=kind)
        if announce:
            shown = "" if value is None or self.spec.metric is None else \
                f" {self.spec.metric.name}={value:.4f}"
            ending = {"hyperband": "early-stopped", "collapse": "collapsed (stopped early)"}
            self.echo(f"trial {trial.index}: {trial.paths.run_id} "
                      f"{ending.get(stopped_by, state)}{shown}")
        if state == "completed" and not early and self.spec.metric is not None and \
                self.spec.metric.reached(value) and self.target_hit is None:
            self.target_hit = trial.index
            self.echo(f"target {self.spec.metric.name} {self.spec.metric.target:g} reached by "
                      f"trial {trial.index}: no new trials")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
