"""The study's state machine: search -> select -> confirm -> test -> report -> export.

Each phase does its work from what is on disk and records that it is done (study.json), so a
study process killed at any moment continues, when the same command runs again (or `emotui
study resume ID`), with nothing redone and nothing lost:

- search and confirm are sweeps with ids derived from the study's (``<id>-search-<method>``,
  ``<id>-confirm-<method>``), driven by the sweep layer's controller: finished trials are never
  rerun, a trial interrupted mid-run resumes from its checkpoint, live jobs are reattached;
- select and test recompute the same answer from the sweeps' records and run directories;
- the report is rewritten whole (report.output writes atomically), and each export appears
  complete or not at all.

The budget (study.budget) ends search, never confirm: a method's sweep is asked, before each new
trial, whether the method's share is spent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from emotui.core.errors import ConfigError
from emotui.core.progress import format_duration
from emotui.core.runstore import RunStore, atomic_write_text, read_json
from emotui.core.status import now
from emotui.core.vocabulary import Event, EventField, ResultKey, result_key
from emotui.launch.gpu_share import visible_gpus
from emotui.launch.registry import backend_spec
from emotui.study import budget as money
from emotui.study.outcome import export_winner, test_results, write_report
from emotui.study.select import pick_winner, search_rows
from emotui.study.spec import StudySpec
from emotui.study.store import (
    PHASES,
    StudyPaths,
    StudyState,
    controller_alive,
    write_controller,
)
from emotui.sweep.launching import SweepInterrupted, make_launcher
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep
from emotui.sweep.store import SweepPaths, SweepStore, read_trials

BEAT_S = 5.0  # controller.json's heartbeat (sweep.store: stale after 60 s)
BUDGET_CHECK_S = 2.0  # a share is re-measured at most this often


class StudyController:
    def __init__(self, spec: StudySpec, paths: StudyPaths, store: RunStore, *,
                 backend: str = "inline", max_parallel: int = 1, sharing: Any = None,
                 gpus: list[str] | None = None, sections: dict[str, Any] | None = None,
                 train_fn: Any = None, echo: Callable[[str], None] | None = None,
                 trial_status: dict[str, Any] | None = None):
        self.spec = spec
        self.paths = paths
        self.store = store
        self.backend = backend
        self.max_parallel = max_parallel
        self.sharing = sharing
        self.gpus = gpus
        self.sections = sections or {}
        self.train_fn = train_fn  # tests train a stand-in instead of emotui.train.train
        self.echo = echo or (lambda line: None)
        self.trial_status = dict(trial_status or {})
        self.sweeps = SweepStore(store.root)
        self.state: StudyState | None = None
        self._searching: str | None = None  # the method whose search runs now (wall time)
        self._stopped_reason: str | None = None  # why the budget stopped the last search
        self._stop_beat = threading.Event()

    # -- driving -------------------------------------------------------------------------------

    def run(self) -> str:
        """Run every phase not done yet; returns "done"."""
        other = controller_alive(self.paths)
        if other and other.get("pid") != _pid():
            raise ConfigError(f"study {self.paths.study_id} is being run by pid {other.get('pid')} "
                              f"on {other.get('host')}; watch it with 'emotui study status "
                              f"{self.paths.study_id}'")
        self.state = StudyState(self.paths)
        sharing = self.sharing.fields() if self.sharing is not None else \
            {"trials_per_gpu": None, "mps": None}
        write_controller(self.paths, state="running", backend=self.backend,
                         max_parallel=self.max_parallel, started=now(), ended=None,
                         runs_per_device=self._runs_per_device(), **sharing)
        beat = threading.Thread(target=self._beat, name="study-heartbeat", daemon=True)
        beat.start()
        ending = "failed"
        try:
            if self.state["phase"] == "done":
                ending = "done"
                return ending
            self.state.log(f"study {self.paths.study_id}: running on {self.backend}")
            for phase in PHASES:
                if self.state.phase_state(phase) in ("done", "skipped"):
                    continue
                self.state.set_phase(phase, "running")
                skipped = getattr(self, f"_{phase}")()
                self.state.set_phase(phase, "skipped" if skipped else "done", note=skipped)
            with self.state.lock:
                self.state.data.update(phase="done", ending="done", ended=now())
                self.state.save()
            self.state.log("study done")
            ending = "done"
            return ending
        except KeyboardInterrupt:
            ending = "interrupted"
            raise
        except Exception as exc:
            ending = "interrupted" if isinstance(exc, SweepInterrupted) else "failed"
            self.state.log(f"study {ending}: {exc}" if ending == "failed" else "interrupted")
            raise
        finally:
            self._stop_beat.set()
            beat.join(timeout=BEAT_S + 1)
            write_controller(self.paths, state=ending, ended=now())

    def _beat(self) -> None:
        """controller.json every BEAT_S; the wall time of search, counted for the budget."""
        last = time.monotonic()
        while not self._stop_beat.wait(BEAT_S):
            elapsed, last = time.monotonic() - last, time.monotonic()
            self._count_wall(elapsed)
            write_controller(self.paths, state="running")
        self._count_wall(time.monotonic() - last)

    def _count_wall(self, seconds: float) -> None:
        method = self._searching
        if method is None or self.state is None:
            return
        with self.state.lock:
            record = self.state.method(method)["search"]
            record["wall_s"] = float(record.get("wall_s") or 0.0) + seconds
            self.state.data["budget"]["wall_s"] = float(
                self.state.data["budget"].get("wall_s") or 0.0) + seconds
            self.state.save()

    def _update(self, method: str, part: str, **fields: Any) -> None:
        with self.state.lock:
            self.state.method(method)[part].update(fields)
            self.state.save()

    # -- the sweeps ----------------------------------------------------------------------------

    def _open(self, sweep_id: str, sweep: dict[str, Any]) -> tuple[Any, SweepPaths]:
        """The sweep (made the first time, found again after): its file in the study's
        sweeps/ folder, its state an ordinary sweep's."""
        import yaml

        file = self.paths.sweep_file(sweep_id)
        if not file.exists():
            atomic_write_text(file, yaml.safe_dump(sweep, sort_keys=False, allow_unicode=True))
        spec, sweep_paths, _ = open_sweep(file, [], self.store, name=sweep_id)
        save_sweep(spec, sweep_paths, file, [], trial_status=self.trial_status)
        return spec, sweep_paths

    def _drive(self, spec: Any, sweep_paths: SweepPaths,
               stop_planning: Callable[[], str | None] | None = None) -> str:
        launcher = make_launcher(self.backend, max_parallel=self.max_parallel,
                                 sections=self.sections, train_fn=self.train_fn,
                                 sharing=self.sharing, gpus=self.gpus,
                                 sweep_id=sweep_paths.sweep_id)
        saved = read_json(sweep_paths.spec) or {}
        return run_sweep(spec, sweep_paths, self.store, launcher, max_parallel=self.max_parallel,
                         echo=self.echo, trial_status=saved.get("trial_status") or {},
                         stop_planning=stop_planning)

    def _sweep_paths(self, method: str, part: str) -> SweepPaths:
        return self.sweeps.paths(self.state.method(method)[part]["sweep_id"])

    # -- search --------------------------------------------------------------------------------

    def _search(self) -> str | None:
        names = list(self.spec.methods)
        for index, method in enumerate(names):
            record = self.state.method(method)["search"]
            if record["state"] in ("finished", "stopped"):
                continue
            search = self.spec.methods[method]
            spec, sweep_paths = self._open(record["sweep_id"], search.sweep)
            planned = spec.planned_total()
            self.echo(f"study {self.paths.study_id}: search {method} ({index + 1}/{len(names)}, "
                      f"{planned} trial{'s' if planned != 1 else ''} planned)")
            self._update(method, "search", state="running", started=record.get("started") or now(),
                         planned=planned)
            stopper = self._budget_stopper(index, method, sweep_paths) \
                if self.spec.budget.given else None
            self._searching = method
            try:
                ending = self._drive(spec, sweep_paths, stopper)
            finally:
                self._searching = None
            trials = len(read_trials(sweep_paths))
            self._update(method, "search", state="stopped" if ending == "stopped" else "finished",
                         ending=ending, ended=now(), trials=trials,
                         device_s=self._device_s(sweep_paths))
            if ending == "stopped":
                left = len(names) - index - 1
                self.state.log(
                    f"budget: search of {method} stopped after {trials} of {planned} trials "
                    f"({self._stopped_reason or 'its share is spent'}); "
                    + (f"{left} method{'s' if left != 1 else ''} left to search, then " if left
                       else "") + "confirm goes on with what search found", note=True)
                with self.state.lock:
                    self.state.data["budget"]["exhausted"] = True
                    self.state.save()
            self.state.log(f"search {method}: {ending}, {trials} trial{'s' if trials != 1 else ''}")
        return None

    def _runs_per_device(self) -> int:
        """How many runs share one GPU: --trials-per-gpu where GPUs are shared (pinned here, or
        packed into Slurm jobs); 1 otherwise (with no GPU here, K changes nothing)."""
        if self.sharing is None:
            return 1
        shared = bool(self.gpus) or backend_spec(self.backend).packs_trials
        return self.sharing.trials_per_gpu if shared else 1

    def _device_s(self, sweep_paths: SweepPaths) -> float:
        k = self._runs_per_device()
        return sum(money.run_device_seconds(self.store, r["run_id"], trials_per_gpu=k)
                   for r in read_trials(sweep_paths) if r.get("run_id")
                   and (self.store.root / r["run_id"]).is_dir())

    def spent_before(self, index: int) -> money.Spent:
        """What the searches of the methods before ``index`` spent."""
        total = money.Spent()
        for method in list(self.spec.methods)[:index]:
            record = self.state.method(method)["search"]
            sweep_paths = self._sweep_paths(method, "search")
            total = total + money.Spent(self._device_s(sweep_paths),
                                        float(record.get("wall_s") or 0.0))
        return total

    def _budget_stopper(self, index: int, method: str,
                        sweep_paths: SweepPaths) -> Callable[[], str | None]:
        names = list(self.spec.methods)
        budget = self.spec.budget
        unit = self._unit()
        checked = {"at": 0.0}

        def check() -> str | None:
            if time.monotonic() - checked["at"] < BUDGET_CHECK_S:
                return None
            checked["at"] = time.monotonic()
            if not read_trials(sweep_paths):
                return None  # every method gets at least one trial
            allowed = money.share(budget, self.spent_before(index), len(names) - index)
            with self.state.lock:
                wall = float(self.state.method(method)["search"].get("wall_s") or 0.0)
            spent = money.Spent(self._device_s(sweep_paths), wall)
            which = money.exceeded(spent, allowed)
            if which is None:
                return None
            if which == "device":
                reason = (f"{method}'s share of the budget, {allowed.device_s / 3600:.3f} {unit}, "
                          f"is spent ({spent.device_s / 3600:.3f})")
            else:
                reason = (f"{method}'s share of the wall-time budget, "
                          f"{_duration(allowed.wall_s)}, is spent ({_duration(spent.wall_s)})")
            self._stopped_reason = reason
            return f"the study's budget: {reason}"

        return check

    def _unit(self) -> str:
        """GPU-hours, or CPU-hours when the study's runs so far trained on a CPU."""
        if self.gpus or backend_spec(self.backend).resources is not None:
            return "GPU-hours"
        try:
            return "GPU-hours" if visible_gpus() else "CPU-hours"
        except Exception:  # noqa: BLE001 - no way to tell: say GPU-hours, as the file does
            return "GPU-hours"

    # -- select --------------------------------------------------------------------------------

    def _select(self) -> str | None:
        metric = self.spec.metric
        for method, search in self.spec.methods.items():
            rows = search_rows(self._sweep_paths(method, "search"), self.store, metric)
            winner = pick_winner(rows, metric)
            with self.state.lock:
                record = self.state.method(method)
                if winner is None:
                    record["winner"] = None
                    record["select"] = "no search trial ran to its end with a value"
                else:
                    record["winner"] = {**winner.to_json(), "metric": metric.name,
                                        "values": search.spec.parameter_values(winner.params)}
                    record["select"] = None
                self.state.save()
            if winner is None:
                self.state.log(f"select {method}: no winner (no search trial ran to its end)",
                               note=True)
                continue
            params = ", ".join(f"{k}={v}" for k, v in winner.params.items()) or "its defaults"
            flag = " (every trial had collapsed: the best of them)" if winner.collapsed else ""
            self.state.log(f"select {method}: trial {winner.trial} ({winner.run_id}), "
                           f"{metric.name} {winner.value:.4f}{flag}; {params}",
                           note=winner.collapsed)
            self.echo(f"study {self.paths.study_id}: {method} winner trial {winner.trial}, "
                      f"{metric.name} {winner.value:.4f}{flag}")
        return None

    # -- confirm -------------------------------------------------------------------------------

    def _confirm(self) -> str | None:
        if not self.spec.confirm_seeds:
            return "no confirm seeds: each method's winner is its search run"
        names = list(self.spec.methods)
        for index, method in enumerate(names):
            record = self.state.method(method)
            if record["confirm"]["state"] in ("finished", "skipped"):
                continue
            winner = record.get("winner")
            if winner is None:
                self._update(method, "confirm", state="skipped")
                continue
            sweep = self.spec.confirm_sweep(method, winner["values"])
            spec, sweep_paths = self._open(record["confirm"]["sweep_id"], sweep)
            self.echo(f"study {self.paths.study_id}: confirm {method} ({index + 1}/{len(names)}, "
                      f"seeds {', '.join(str(s) for s in self.spec.confirm_seeds)})")
            self._update(method, "confirm", state="running",
                         started=record["confirm"].get("started") or now(),
                         planned=spec.planned_total())
            ending = self._drive(spec, sweep_paths)
            self._update(method, "confirm", state="finished", ending=ending, ended=now(),
                         trials=len(read_trials(sweep_paths)))
            self.state.log(f"confirm {method}: {ending}")
        return None

    # -- test ----------------------------------------------------------------------------------

    def _test(self) -> str | None:
        field = self.spec.metric.field  # the validation score the winners were picked by
        key = result_key(Event.EVAL, field) \
            if field in (EventField.ACCURACY, EventField.MACRO_F1) else ResultKey.EVAL_ACCURACY
        for method in self.spec.methods:
            record = self.state.method(method)
            if record["confirm"]["state"] == "finished":
                runs = [r["run_id"] for r in read_trials(self._sweep_paths(method, "confirm"))
                        if r.get("run_id")]
                source = "confirm"
            elif record.get("winner"):
                runs, source = [record["winner"]["run_id"]], "search"
            else:
                runs, source = [], "none"
            result = test_results(self.store, runs, key, source=source)
            with self.state.lock:
                record["test"] = result
                self.state.save()
            acc = result[ResultKey.TEST_ACCURACY]
            if acc["mean"] is not None:
                spread = f" ± {100 * acc['std']:.2f}" if acc["std"] is not None else ""
                self.state.log(f"test {method}: accuracy {100 * acc['mean']:.2f}{spread} % "
                               f"(n={acc['n']}, {source})")
                self.echo(f"study {self.paths.study_id}: {method} test accuracy "
                          f"{100 * acc['mean']:.2f}{spread} % (n={acc['n']})")
        return None

    # -- report and export ---------------------------------------------------------------------

    def _report(self) -> str | None:
        if not self.spec.report_formats:
            return "no report asked for (report: false)"
        try:
            written = write_report(self.spec, self.state.data, self.store, self.paths)
        except ConfigError as exc:
            self.state.log(f"report: none ({exc})", note=True)
            return f"no report: {exc}"
        with self.state.lock:
            self.state.data["report"] = {"files": [str(p) for p in written], "written": now()}
            self.state.save()
        self.state.log(f"report: {', '.join(p.name for p in written)}")
        self.echo(f"study {self.paths.study_id}: report in {self.paths.report}")
        return None

    def _export(self) -> str | None:
        if not self.spec.export:
            return "no export asked for (export: false)"
        try:
            # lazy: the train layer's exporter (emotui export) is optional: probed here
            import emotui.train.export  # noqa: F401
        except ImportError:
            reason = ("this emotui has no exporter (emotui.train.export); each method's best "
                      "run stays in its run folder")
            self.state.log(f"export: skipped: {reason}", note=True)
            return reason
        for method in self.spec.methods:
            record = self.state.method(method)
            best = (record.get("test") or {}).get("best_run")
            dest = self.paths.export_dir(method)
            if best is None or (record.get("export") or {}).get("path") and dest.is_dir():
                continue
            if not dest.is_dir():
                self.echo(f"study {self.paths.study_id}: exporting {method} ({best})")
                export_winner(self.store, best, method, dest, self.spec.export_merged)
            with self.state.lock:
                record["export"] = {"run_id": best, "path": str(dest), "written": now()}
                self.state.save()
            self.state.log(f"export {method}: {best} -> {dest}")
        return None


def _pid() -> int:
    import os

    return os.getpid()


def _duration(seconds: float) -> str:
    return format_duration(seconds)
