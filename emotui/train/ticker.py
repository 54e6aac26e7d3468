"""status.json's position while a run works, refreshed every TICK_S and at every phase change.

A reader should never wonder whether a run is alive: the job rewrites its position (phase, step,
fractional epoch, samples/s, elapsed, ETA) from a daemon thread every TICK_S, independent of
``logging_steps``, and at once when the phase changes (training -> evaluating -> saving ...).
Every TELEMETRY_S the same thread samples the system (train.telemetry): the sample goes to
metrics.jsonl as a "system" event and its GPU fields to status.json.

Fields written (core.progress turns them into a live elapsed time and a counting-down ETA):
``phase`` ("starting", "training", "evaluating", "predicting", "saving"; None once stopped),
``step``, ``total_steps``, ``epoch`` (fractional), ``progress`` (0..1), ``samples_per_second``
(recent window), ``elapsed_s`` (this attempt), ``eta_s`` (core.progress.EtaModel: every phase
still to come) with ``eta_pace`` (how fast readers count it down), ``position_time`` (when
measured), ``pass_done`` and ``pass_total`` (examples of the evaluation or test pass under way,
else None), ``gpu_util``, ``gpu_mem_used_bytes``, ``gpu_mem_total_bytes`` (only on a GPU).

The ticker stops (its thread joined) before the run's end is recorded: the last position is
written before the final state, never after it. Nothing a sample raises ends the thread (it would
leave readers with a frozen position and print a thread traceback over the job's own error line):
telemetry stops with a warning in the run's log and the position goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from emotui.core.progress import EVAL_PHASES, EtaModel, PassProgress, WorkPlan
from emotui.core.runstore import RunPaths
from emotui.core.status import RunFolderGone, now, write_status
from emotui.train.telemetry import GPU_KEYS, SystemSampler

log = logging.getLogger("emotui")

TICK_S = 1.5  # below the 2 s readers are promised, with room for a slow write
TELEMETRY_S = 5.0
RATE_WINDOW_S = 30.0  # samples/s over about this much recent training time
PHASES = ("starting", "training", "evaluating", "predicting", "saving")


@dataclass(frozen=True)
class Position:
    """Where training stands: optimizer steps, fractional epochs, training samples seen; for
    the ETA, when the last step ended (``step_clock``, time.monotonic) and the evaluation pass
    the loop last reported (used while the phase is that pass's)."""

    step: int
    epoch: float
    samples: int
    evaluation: PassProgress | None = None
    step_clock: float | None = None


class PositionTicker:
    """The run's position in status.json (see the module docstring). A context manager: the
    thread runs while the block does; ``follow`` names where the position comes from."""

    def __init__(self, paths: RunPaths, *, interval: float | None = None,
                 telemetry_interval: float | None = None, sampler: SystemSampler | None = None):
        self.paths = paths
        self.interval = interval or TICK_S
        self.telemetry_interval = telemetry_interval or TELEMETRY_S
        self.sampler = sampler
        self._start = time.monotonic()  # this attempt
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emotui-position", daemon=True)
        self._phase: str | None = "starting"
        self._source: Callable[[], Position] | None = None
        self.total_steps: int | None = None
        self._eta: EtaModel | None = None
        self._window: deque[tuple[float, int]] = deque()
        self._rate: float | None = None
        self._last_position: Position | None = None
        self._gpu: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}
        self._sink: Callable[[int, dict[str, Any]], None] | None = None
        self._recorded = False  # a sample has reached the sink
        self._last_sample = time.monotonic()
        self._closed = False  # the last position is written: the thread writes nothing more

    # -- wiring ---------------------------------------------------------------------------------

    def follow(self, source: Callable[[], Position], total_steps: int,
               plan: WorkPlan | None = None) -> None:
        """Read the position from ``source`` (called from the ticker's thread: it must only
        read plain attributes) for a run of ``total_steps`` optimizer steps; ``plan``: all the
        run does (evaluations, the test pass) for the ETA, else training alone."""
        with self._lock:
            self._source, self.total_steps = source, int(total_steps)
            self._eta = EtaModel(plan or WorkPlan(total_steps=int(total_steps)))

    def begin(self, step: int) -> None:
        """Training (re)starts at ``step`` now: the ETA's rate counts from here (the phase
        change is the ETA model's cue)."""
        with self._lock:
            self._window.clear()
        self.set_phase("training")

    def send_telemetry_to(self, sink: Callable[[int, dict[str, Any]], None]) -> None:
        """``sink(step, sample)`` records each system sample (metrics.jsonl's "system" split)."""
        with self._lock:
            self._sink = sink

    def note(self, **fields: Any) -> None:
        """Further status fields to keep current (the best evaluation so far); written at once
        when they change."""
        with self._lock:
            if all(self._extra.get(k, object()) == v for k, v in fields.items()):
                return
            self._extra.update(fields)
            self.refresh()

    def elapsed(self) -> float:
        """Wall seconds since this attempt started."""
        return time.monotonic() - self._start

    # -- phases ---------------------------------------------------------------------------------

    @property
    def phase(self) -> str | None:
        return self._phase

    def set_phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
        with self._lock:
            if phase == self._phase:
                return
            if phase != "training":
                self._window.clear()  # evaluation is not training: samples/s keeps its value
            self._phase = phase
            self.refresh()

    @contextmanager
    def during(self, phase: str) -> Iterator[None]:
        """``phase`` for the block, then back to the phase before it."""
        before = self._phase
        self.set_phase(phase)
        try:
            yield
        finally:
            if before is not None:
                self.set_phase(before)

    # -- writing --------------------------------------------------------------------------------

    def position_fields(self) -> dict[str, Any]:
        """The position as status.json fields, measured now."""
        clock = time.monotonic()
        fields: dict[str, Any] = {"phase": self._phase, "elapsed_s": round(clock - self._start, 1),
                                  "position_time": now()}
        position = self._read_source()
        if position is None:  # starting: a previous attempt's estimate no longer holds
            fields.update(eta_s=None, eta_pace=None, samples_per_second=None, pass_done=None,
                          pass_total=None)
        else:
            total = self.total_steps or 0
            if self._phase == "training":
                self._window.append((clock, position.samples))
                while self._window and clock - self._window[0][0] > RATE_WINDOW_S:
                    self._window.popleft()
                if len(self._window) >= 2 and self._window[-1][0] > self._window[0][0]:
                    (t0, s0), (t1, s1) = self._window[0], self._window[-1]
                    self._rate = round((s1 - s0) / (t1 - t0), 2)
            evaluation = position.evaluation
            if evaluation is not None and evaluation.split != EVAL_PHASES.get(self._phase or ""):
                evaluation = None  # the last pass's count, not this phase's
            eta = self._eta.update(clock, self._phase, position.step, evaluation,
                                   position.step_clock) if self._eta is not None else None
            fields.update(step=position.step, total_steps=total, epoch=round(position.epoch, 4),
                          progress=round(min(1.0, position.step / total), 4) if total else None,
                          samples_per_second=self._rate,
                          eta_s=None if eta is None else round(eta, 1),
                          eta_pace=round(self._eta.pace, 3) if eta is not None else None,
                          pass_done=evaluation.done if evaluation else None,
                          pass_total=evaluation.total if evaluation else None)
        fields.update(self._gpu)
        fields.update(self._extra)
        return fields

    def _read_source(self) -> Position | None:
        if self._source is None:
            return self._last_position
        try:
            self._last_position = self._source()
        except (AttributeError, TypeError, ValueError, ZeroDivisionError) as exc:
            # Read while the loop swaps its state (a resume): the next tick reads the new one.
            log.debug("position not readable this tick: %s", exc)
        return self._last_position

    def refresh(self) -> None:
        """Write the position to status.json now."""
        with self._lock:
            if self._closed:
                return  # a thread that outlived its join must not write after the end
            try:
                write_status(self.paths, **self.position_fields())
            except OSError as exc:
                # A flaky network filesystem must not stop training; the next tick retries.
                log.debug("could not write the position: %s", exc)
            except RunFolderGone as exc:
                # Training's own next write stops the run and says so; the ticker says nothing.
                log.debug("%s", exc)

    def _sample(self) -> None:
        sampler = self.sampler
        if sampler is None:  # telemetry stopped meanwhile
            return
        sample = sampler.sample()
        with self._lock:
            self._gpu = {k: sample[k] for k in GPU_KEYS if k in sample}
            sink, position = self._sink, self._last_position
        if sink is not None and position is not None:  # an event needs the step it belongs to
            sink(position.step, sample)
            self._recorded = True

    def _telemetry_due(self) -> bool:
        """The first sample as soon as one can be recorded (a short run gets one too), then
        every telemetry_interval."""
        if not self._recorded and self._sink is not None and self._last_position is not None:
            return True
        return time.monotonic() - self._last_sample >= self.telemetry_interval

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.sampler is not None and self._telemetry_due():
                self._last_sample = time.monotonic()
                try:
                    self._sample()
                except OSError as exc:
                    log.debug("no telemetry this time: %s", exc)
                except Exception as exc:  # a bug in a sample must not freeze the position
                    log.warning("system telemetry stopped: %s: %s", type(exc).__name__, exc)
                    self._stop_telemetry()
            self.refresh()

    def _stop_telemetry(self) -> None:
        with self._lock:
            sampler, self.sampler = self.sampler, None
        if sampler is not None:
            sampler.close()

    # -- lifetime -------------------------------------------------------------------------------

    def __enter__(self) -> "PositionTicker":
        self.refresh()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the thread and write the last position, with no phase: the job is done working
        (the lifecycle records how it ended right after)."""
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            self._phase = None
            self.refresh()
            self._closed = True
        self._stop_telemetry()
