"""``train(config, run_dir)``: one run's whole life while it trains.

Marks the run running, keeps its heartbeat, loads data and model, runs the recipe, streams
metric events to metrics.jsonl (and the tracker), keeps status.json's progress current, and
writes results.json. Setup errors (ConfigError, DataError) surface unchanged, before any step;
later errors mark the run failed with a one-line reason and propagate; a stop request checkpoints
and raises Preempted; ``resume=True`` picks up from checkpoints/last.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotui.core import checkpoints
from emotui.core.claim import claim_run
from emotui.core.config import RunConfig
from emotui.core.events import truncate_after_step
from emotui.core.failure_reasons import failure_reason
from emotui.core.lifecycle import (
    mark_cancelled,
    mark_completed,
    mark_preempted,
    mark_running,
    record_failure,
)
from emotui.core.progress import WorkPlan
from emotui.core.runstore import RunPaths
from emotui.core.status import HEARTBEAT_INTERVAL_S, check_fence, touch_heartbeat, write_status
from emotui.core.vocabulary import Event, EventField, ResultKey
from emotui.train import runlog
from emotui.train.data import load_splits
from emotui.train.errors import Preempted
from emotui.train.hub import go_offline_if_unreachable
from emotui.train.reporting import (
    configure_library_logging,
    open_reporter,
    save_results,
    write_predictions,
)
from emotui.train.telemetry import SystemSampler
from emotui.train.ticker import Position, PositionTicker

log = logging.getLogger("emotui")


class Heartbeat:
    """Touches the run's heartbeat file every few seconds from a daemon thread. If the run's
    folder is deleted meanwhile, it asks training to stop (``on_gone``) instead of recreating
    anything: training's next write then ends the run with RunFolderGone."""

    def __init__(self, paths: RunPaths, interval: float = HEARTBEAT_INTERVAL_S,
                 on_gone: Callable[[], None] | None = None):
        self.paths = paths
        self.interval = interval
        self.on_gone = on_gone
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="emotui-heartbeat", daemon=True)

    def _beat(self) -> None:
        while True:
            try:
                touch_heartbeat(self.paths)
            except OSError:
                # A flaky network filesystem must not kill training (the next beat retries);
                # a deleted run folder must.
                if not self.paths.root.is_dir() and self.on_gone is not None:
                    log.error("run %s: its folder was deleted; stopping", self.paths.run_id)
                    self.on_gone()
                    return
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def train(config: RunConfig, run_dir: str | Path, *, resume: bool = False,
          stop_event: threading.Event | None = None) -> dict[str, Any]:
    paths = RunPaths(Path(run_dir).expanduser().absolute())
    paths.root.mkdir(parents=True, exist_ok=True)
    # One process trains a run at a time (RunClaimed otherwise); the one that does first puts
    # back a checkpoint an interrupted save left under a temporary name.
    with claim_run(paths):
        try:
            checkpoints.recover_all(paths)
            return _train_claimed(config, paths, resume=resume, stop_event=stop_event)
        except Exception as exc:
            # A failure before training records its own (mark_running on a full disk); an
            # ending training recorded stands.
            record_failure(paths, exc)
            raise


def _train_claimed(config: RunConfig, paths: RunPaths, *, resume: bool,
                   stop_event: threading.Event | None) -> dict[str, Any]:
    check_fence(paths)  # an attempt the run has moved on from never starts training
    mark_running(paths)
    stop_event = stop_event if stop_event is not None else threading.Event()
    # The position ticker stops (the block ends) before the end is recorded; each outcome line
    # is logged before its state, so a reader that stops at the end has seen it.
    ticker = PositionTicker(paths, sampler=SystemSampler())
    with Heartbeat(paths, on_gone=stop_event.set):
        try:
            go_offline_if_unreachable(config)
            with ticker:
                if config.recipe == "reference":
                    from emotui.train.reference import run_reference  # lazy: pulls torch

                    results = run_reference(config, paths, resume=resume, stop_event=stop_event,
                                            ticker=ticker)
                else:
                    results = run_default(config, paths, resume=resume, stop_event=stop_event,
                                          ticker=ticker)
            runlog.completed(results, ticker.elapsed())
            mark_completed(paths, results.get(ResultKey.COLLAPSE_REASON), progress=1.0, eta_s=0)
            return results
        except Preempted as exc:
            runlog.stopped("preempted", f"stopped at step {exc.step}; the checkpoint saved "
                           "there is where it resumes")
            mark_preempted(paths, f"preempted at step {exc.step}")
            raise
        except KeyboardInterrupt as exc:
            runlog.stopped("cancelled", failure_reason(exc))
            mark_cancelled(paths, failure_reason(exc))
            raise
        except BaseException as exc:
            runlog.stopped("failed", failure_reason(exc, paths.run_id))
            record_failure(paths, exc)
            raise


def run_default(config: RunConfig, paths: RunPaths, *, resume: bool,
                stop_event: threading.Event | None, ticker: PositionTicker) -> dict[str, Any]:
    """emotui's own recipe (loop.py)."""
    import torch
    from transformers import set_seed

    # lazy: these pull torch
    from emotui.train.checkpoint import Checkpointer
    from emotui.train.loop import TrainingLoop, resolve_device
    from emotui.train.model import build_model
    from emotui.train.token_cache import encode_splits

    configure_library_logging()
    # -- setup: ConfigError / DataError surface from here, before any step --------------------
    set_seed(config.seed)
    dataset = load_splits(config)
    built = build_model(config, dataset.label_names)
    encoded = encode_splits(config, built.tokenizer, dataset.splits)
    device = resolve_device()
    checkpointer = Checkpointer(paths, built.model, built.tokenizer, built.is_peft,
                                dataset.label_names)
    pad_id = built.tokenizer.pad_token_id if built.tokenizer.pad_token_id is not None else 0
    problem = checkpoints.resume_problem(paths) if resume else None
    if not resume or problem is not None:
        # Nothing to continue from (the run died before its first checkpoint was complete):
        # start over, saying so, with the earlier metrics set aside (never deleted).
        notice = checkpoints.start_over(paths, problem)
        if notice:
            log.warning(notice)
        resume = False
    reporter = open_reporter(config, paths, ticker)
    ok = False
    results: dict[str, Any] = {}
    try:
        loop = TrainingLoop(config, built.model, pad_id, encoded, dataset.label_names,
                            checkpointer, reporter, stop_event, device)
        if resume:
            loop.resume()
            truncate_after_step(paths.metrics, loop.state.global_step)
            log.info("resumed at step %d (epoch %d, batch %d)", loop.state.global_step,
                     loop.state.epoch, loop.state.batch_in_epoch)
        reporter.open()
        reporter.follow(lambda: loop_position(loop), loop.total_steps, plan=WorkPlan.for_run(
            config, total_steps=loop.total_steps, steps_per_epoch=loop.steps_per_epoch,
            validation=len(encoded["validation"]) if "validation" in encoded else 0,
            test=len(encoded["test"]) if "test" in encoded else 0,
            final_eval=config.eval_strategy != "no"))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        write_status(paths, total_steps=loop.total_steps, trainable_params=built.trainable_params,
                     total_params=built.total_params, device=str(device),
                     num_virtual_tokens=built.num_virtual_tokens)
        precision = str(loop.amp_dtype).replace("torch.", "") if loop.amp_dtype else "float32"
        reporter.runlog.started(
            config, device=runlog.describe_device(device), precision=precision,
            examples={name: len(split) for name, split in encoded.items()},
            total_steps=loop.total_steps, steps_per_epoch=loop.steps_per_epoch,
            trainable_params=built.trainable_params, total_params=built.total_params)

        if config.do_train:
            reporter.begin(loop.state.global_step)
            loop.run()
        elif config.do_eval:
            loop.evaluate_and_keep_best()
        if checkpointer.best_step is None or not paths.checkpoint_best.is_dir():
            # No evaluation chose a best model: the final weights are the best we have.
            checkpointer.save_best(loop.state.global_step)
            loop.state.best_step = loop.state.global_step

        test = None
        if config.do_predict and "test" in encoded:
            reporter.set_phase("predicting")
            if config.load_best_model_at_end:
                loop.restore_best()
            test = loop.evaluate("test")
            epoch = round(loop.state.global_step / loop.steps_per_epoch, 4)
            reporter.event(Event.TEST, loop.state.global_step, epoch=epoch,
                           loss=test[EventField.LOSS], accuracy=test[EventField.ACCURACY],
                           macro_f1=test[EventField.MACRO_F1])
            write_predictions(paths, dataset.splits["test"].texts, encoded["test"].labels,
                              test, dataset.label_names)
        checkpointer.cleanup()
        results = save_results(
            config, paths, loop.state, test, encoded, dataset.label_names, built,
            steps_per_epoch=loop.steps_per_epoch, device=device, precision=precision,
        )
        ok = True
        return results
    finally:
        if not ok:
            checkpointer.cleanup()  # a failed or stopped attempt leaves no temporary folders
        reporter.finish(results, ok)


def loop_position(loop) -> Position:
    """The default loop's position, read from the ticker's thread (plain attributes only)."""
    state = loop.state
    epoch = state.epoch + state.batch_in_epoch / max(loop.batches_per_epoch, 1)
    return Position(state.global_step, epoch, state.samples_trained, loop.pass_progress,
                    loop.step_clock)
