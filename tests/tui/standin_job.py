"""A stand-in for a training job, for the browser test's default run: it writes into a run what
a local-backend job writes while it trains (status.json's position, metrics.jsonl with train,
eval and system events, the training log, the heartbeat), through emotui's own writers, one step
every STEP_S, without torch.

The browser test watches it the way it watches a real job; the slow variant of that test trains
the tiny model instead. Usage: ``python standin_job.py RUNS_DIR`` prints the run id once the run
is running, then steps until SIGTERM (a cancel) ends it as cancelled.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from emotui.core.config import build_config
from emotui.core.events import MetricsWriter
from emotui.core.lifecycle import create_run, end_run, mark_running
from emotui.core.processes import process_identity
from emotui.core.runlogs import RunLogFiles
from emotui.core.runstore import RunStore
from emotui.core.status import now, touch_heartbeat, write_status
from emotui.train.runlog import RunLog
from emotui.train.telemetry import SystemSampler

STEP_S = 0.25
STEPS_PER_EPOCH = 38  # 300 toy rows, batch 8
EPOCHS = 60


def main(runs: Path) -> None:
    config, _ = build_config([("stand-in", {
        "method": "lora", "num_train_epochs": EPOCHS, "per_device_train_batch_size": 8,
        "logging_steps": 1, "learning_rate": 1e-3, "seed": 3})])
    paths = create_run(RunStore(runs), config, backend="local")
    pid = os.getpid()
    here = process_identity(pid)
    mark_running(paths, proc_start=here["proc_start"], boot_id=here["boot_id"],
                 job_id=str(pid), pgid=os.getpgid(0))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    total = EPOCHS * STEPS_PER_EPOCH
    start = time.monotonic()
    sampler = SystemSampler(detect_gpu=False)
    with RunLogFiles(paths), MetricsWriter(paths.metrics) as metrics:
        runlog = RunLog(config)
        runlog.started(config, device="cpu", precision="fp32",
                       examples={"train": 300, "validation": 60, "test": 60}, total_steps=total,
                       steps_per_epoch=STEPS_PER_EPOCH)
        print(paths.run_id, flush=True)
        step = 0
        while not stop and step < total:
            time.sleep(STEP_S)
            step += 1
            epoch = step / STEPS_PER_EPOCH
            loss = 1.8 / (1 + 0.01 * step)
            runlog.event(metrics.write("train", step, epoch=round(epoch, 4), loss=loss,
                                       learning_rate=1e-3 * (1 - step / total),
                                       samples_per_second=8 / STEP_S))
            best = {}
            if step % STEPS_PER_EPOCH == 0:  # an evaluation at each epoch's end, as the job's
                accuracy = round(0.9 - 0.5 / (1 + epoch), 4)
                runlog.event(metrics.write("eval", step, epoch=epoch, loss=round(loss - 0.1, 4),
                                           accuracy=accuracy, macro_f1=accuracy - 0.03))
                best = {"eval_accuracy": accuracy, "eval_macro_f1": accuracy - 0.03}
            if step % 20 == 1:
                metrics.write("system", step, **sampler.sample())
            elapsed = time.monotonic() - start
            write_status(paths, phase="training", step=step, total_steps=total,
                         epoch=round(epoch, 4), progress=round(step / total, 4),
                         samples_per_second=8 / STEP_S, elapsed_s=round(elapsed, 1),
                         eta_s=round((total - step) * STEP_S, 1), position_time=now(), **best)
            touch_heartbeat(paths)
    end_run(paths, "cancelled", "cancelled by user")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
