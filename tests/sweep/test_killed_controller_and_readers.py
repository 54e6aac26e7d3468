"""An inline sweep whose controller was killed mid-trial, looked at by a reader (`emotui ls`,
the TUI) before `sweep resume`: the trial continues from its checkpoint, it is not lost.

The reader finds the trial's process gone and records it failed, flagged ``lost`` (nobody
recorded its end: a guess); the controller, which never saw the trial end, takes it up again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sweep_fakes import FakeTrain, inline_launcher, run_ids, status

from emotui.cli.main import main
from emotui.core.events import read_all
from emotui.core.runstore import RunStore
from emotui.sweep.runner import open_sweep, run_sweep, save_sweep

SWEEP = """\
method: grid
metric: {name: eval/accuracy, goal: maximize}
parameters:
  learning_rate: {values: [1.0e-3, 1.0e-2]}
  num_train_epochs: {value: 4}
  dataset_name: {value: null}
"""

# The controller in its own process, trials trained inline by the stand-in, slowly enough to
# be killed in the middle of the first one.
CONTROLLER = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    sys.path[:0] = sys.argv[3:5]
    import sweep_fakes
    from sweep_fakes import FakeTrain, inline_launcher
    from emotui.core.runstore import RunStore
    from emotui.sweep.runner import open_sweep, run_sweep, save_sweep

    class SlowWriter(sweep_fakes.MetricsWriter):
        def write(self, split, step, **fields):
            event = super().write(split, step, **fields)
            if split == "eval":
                time.sleep(0.5)
            return event

    sweep_fakes.MetricsWriter = SlowWriter
    file, runs = Path(sys.argv[1]), RunStore(sys.argv[2])
    spec, paths, _ = open_sweep(file, [], runs)
    save_sweep(spec, paths, file, [])
    run_sweep(spec, paths, runs, inline_launcher(FakeTrain()))
""")


def test_a_reader_after_the_controller_was_killed_does_not_lose_the_trial(tmp_path, runs_dir,
                                                                          capsys):
    file = tmp_path / "s.yaml"
    file.write_text(SWEEP)
    here = Path(__file__).resolve().parent
    proc = subprocess.Popen([sys.executable, "-c", CONTROLLER, str(file), str(runs_dir),
                             str(here), str(here.parent)])
    deadline = time.monotonic() + 120  # bounds a hang only
    first = None
    while first is None and time.monotonic() < deadline and proc.poll() is None:
        for rid in run_ids(runs_dir) if runs_dir.exists() else []:
            if (runs_dir / rid / "checkpoints" / "last" / "epoch").exists():
                first = rid
        time.sleep(0.05)
    assert first is not None, "the first trial never saved a checkpoint"
    proc.send_signal(signal.SIGKILL)  # the controller, and the trial training in it, die
    proc.wait()
    assert status(runs_dir, first)["state"] == "running"

    # A reader looks before anyone resumes the sweep.
    assert main(["ls", "--runs-dir", str(runs_dir)]) == 0
    looked = status(runs_dir, first)
    assert looked["state"] == "failed" and looked["lost"] is True
    assert "exit record" in capsys.readouterr().out

    # `sweep resume`: the trial continues in its run directory, from its checkpoint.
    train = FakeTrain()
    spec, paths, _ = open_sweep(file, [], RunStore(runs_dir))
    save_sweep(spec, paths, file, [])
    assert run_sweep(spec, paths, RunStore(runs_dir), inline_launcher(train)) == "finished"
    assert (first, True) in train.calls
    assert len(run_ids(runs_dir)) == 2
    done = status(runs_dir, first)
    assert done["state"] == "completed" and done["lost"] is None and done["starts"] == 2
    epochs = [e["epoch"] for e in read_all(runs_dir / first / "metrics.jsonl")
              if e["split"] == "eval"]
    assert epochs == [1, 2, 3, 4]  # continued: none repeated, none missing


def test_a_trial_the_sweep_saw_fail_stays_finished(tmp_path, runs_dir):
    """Only a guess the controller never saw is overruled: a failure it recorded stands."""
    file = tmp_path / "s.yaml"
    file.write_text(SWEEP)
    store = RunStore(runs_dir)
    spec, paths, _ = open_sweep(file, [], store)
    save_sweep(spec, paths, file, [])

    class Lost(FakeTrain):
        def __call__(self, config, run_dir, **kw):
            from emotui.core.lifecycle import RunState, mark_running, record_end
            from emotui.core.runstore import RunPaths

            if not self.calls:
                self.calls.append((Path(run_dir).name, kw.get("resume", False)))
                mark_running(RunPaths(Path(run_dir)))
                return record_end(RunPaths(Path(run_dir)), RunState.FAILED, "lost", lost=True)
            return super().__call__(config, run_dir, **kw)

    train = Lost()
    assert run_sweep(spec, paths, store, inline_launcher(train)) == "finished"
    lost_id = train.calls[0][0]
    assert status(runs_dir, lost_id)["state"] == "failed"
    spec, paths, _ = open_sweep(file, [], store)
    calls_before = len(train.calls)
    assert run_sweep(spec, paths, store, inline_launcher(train)) == "finished"
    assert len(train.calls) == calls_before  # nothing started again
