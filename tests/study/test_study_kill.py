"""A study process killed (SIGKILL) in each phase, then the same study run again: no finished run
is redone and none is lost. Counted: runs, the starts of each run, its metric lines, the exports.

The study runs in its own process with the stand-in trainer and exporter (study_fakes), which
record every call in files, so both processes' calls are counted together.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from study_fakes import eval_lines
from study_helpers import STUDY, run_dirs, write

from emotui.core.events import read_all
from emotui.core.runstore import RunStore
from emotui.study.store import StudyStore
from emotui.study.summary import summarize_study

DRIVER = textwrap.dedent("""\
    import json, os, signal, sys
    from pathlib import Path
    sys.path[:0] = sys.argv[3:5]
    import study_fakes
    from study_fakes import StandInTrain, stand_in_exporter
    from emotui.core.runstore import RunStore
    from emotui.study.study_file import load_study
    from emotui.study.store import StudyStore, create_study_dir
    import emotui.study.controller as controller

    file, runs, kill = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[5])
    log = runs.parent / "calls.jsonl"

    def record(kind, **fields):
        with open(log, "a") as f:
            f.write(json.dumps({"kind": kind, **fields}) + "\\n")

    def die_on(count, kind):
        seen = {"n": 0}
        def check():
            seen["n"] += 1
            if seen["n"] == count:
                record("killed", phase=kind)
                os.kill(os.getpid(), signal.SIGKILL)
        return check

    module, _ = stand_in_exporter()
    export_run = module.export_run
    export_kill = die_on(2, "export") if kill.get("phase") == "export" else (lambda: None)

    def exporting(paths, out, merged):
        record("export", run_id=paths.run_id)
        Path(out).mkdir(parents=True)
        export_kill()  # the second export dies half-written
        os.rmdir(out)
        return export_run(paths, out, merged)

    module.export_run = exporting
    sys.modules["emotui.train.export"] = module
    if kill.get("phase") == "select":
        pick, check = controller.pick_winner, die_on(2, "select")
        controller.pick_winner = lambda *a, **k: (check(), pick(*a, **k))[1]
    if kill.get("phase") == "test":
        results, check = controller.test_results, die_on(2, "test")
        controller.test_results = lambda *a, **k: (check(), results(*a, **k))[1]
    if kill.get("phase") == "report":
        import emotui.report.output as output
        check = die_on(1, "report")
        output.compile_pdf = lambda *a, **k: check()

    class Recording(StandInTrain):
        def __call__(self, config, run_dir, **kw):
            record("train", run_id=Path(run_dir).name, resume=kw.get("resume", False))
            return super().__call__(config, run_dir, **kw)

    train = Recording(kill=kill if "call" in kill else None)
    spec = load_study([str(file)])
    store = RunStore(runs)
    paths = StudyStore(store.root).paths(spec.default_id())
    if not paths.spec.exists():
        create_study_dir(paths, {**spec.to_json(), "fingerprint": spec.fingerprint()}, [file],
                         list(spec.methods))
    print(controller.StudyController(spec, paths, store, train_fn=train).run())
""")

# The study: full (2 trials), lora (2), ia3 (1) of 2 epochs; confirm 3 seeds x 3 of 3 epochs.
# Train calls in order: 0-4 search, 5-13 confirm.
KILLS = {
    "search": {"call": 2, "epoch": 1},  # lora's first trial, after its first epoch
    "select": {"phase": "select"},  # after full's winner, before lora's
    "confirm": {"call": 6, "epoch": 2},  # full's second seed, after its second epoch
    "test": {"phase": "test"},
    "report": {"phase": "report"},  # the report's files written, the PDF not yet compiled
    "export": {"phase": "export"},  # full exported, lora's export half-written
}


def _drive(tmp_path: Path, runs_dir: Path, file: Path, kill: dict) -> subprocess.CompletedProcess:
    here = Path(__file__).resolve().parent
    return subprocess.run([sys.executable, "-c", DRIVER, str(file), str(runs_dir), str(here),
                           str(here.parent), json.dumps(kill)],
                          capture_output=True, text=True, timeout=300)


def _calls(tmp_path: Path) -> list[dict]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("phase", list(KILLS))
def test_a_study_killed_in_each_phase_continues_without_redoing_or_losing(tmp_path, runs_dir,
                                                                         phase):
    file = write(tmp_path, STUDY)
    first = _drive(tmp_path, runs_dir, file, KILLS[phase])
    assert first.returncode == -9, (first.stdout, first.stderr)  # killed, as planned
    assert [c["phase"] for c in _calls(tmp_path) if c["kind"] == "killed"] or phase in (
        "search", "confirm")
    paths = next(iter(StudyStore(runs_dir)))
    assert json.loads(paths.state.read_text())["phase"] == phase
    # A reader of the half-done study: its phase, progress, and no live controller.
    summary = summarize_study(paths, RunStore(runs_dir))
    assert summary["phase"] == phase and not summary["controller"]["alive"]
    search = next(p for p in summary["phases"] if p["phase"] == "search")
    assert search["planned"] == 5 and search["finished"] == (2 if phase == "search" else 5)

    second = _drive(tmp_path, runs_dir, file, {})
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "done"
    state = json.loads(paths.state.read_text())
    assert all(p["state"] == "done" for p in state["phases"].values())

    # Runs: 5 search trials and 9 confirm runs, each started afresh exactly once.
    ids = run_dirs(runs_dir)
    assert len(ids) == 14
    calls = _calls(tmp_path)
    fresh = Counter(c["run_id"] for c in calls if c["kind"] == "train" and not c["resume"])
    assert sorted(fresh) == ids and set(fresh.values()) == {1}
    resumed = [c["run_id"] for c in calls if c["kind"] == "train" and c["resume"]]
    if phase in ("search", "confirm"):
        assert len(resumed) == 1  # the trial that was training when the study died
    else:
        assert resumed == []
    # Metric lines: every epoch exactly once, none missing; one test line per confirm run.
    store = RunStore(runs_dir)
    for rid in ids:
        epochs = [e["epoch"] for e in eval_lines(store.paths(rid))]
        confirm = any(rid == r["run_id"] for m in state["methods"].values()
                      for r in m["test"]["runs"] if m["test"]["source"] == "confirm")
        assert epochs == ([1, 2, 3] if confirm else [1, 2]), (rid, epochs)
        tests = [e for e in read_all(store.paths(rid).metrics) if e["split"] == "test"]
        assert len(tests) == 1
        assert json.loads((runs_dir / rid / "status.json").read_text())["state"] == "completed"
    # The outputs: the report whole, each method exported once (the half-written one again).
    for name in ("report.pdf", "report.md", "report.html"):
        assert (paths.report / name).is_file()
    assert not list(paths.report.glob(".report.*"))
    exports = Counter(c["run_id"] for c in calls if c["kind"] == "export")
    assert len(exports) == 3
    assert sorted(exports.values()) == ([1, 1, 2] if phase == "export" else [1, 1, 1])
    for method in ("full", "lora", "ia3"):
        assert (paths.export / method / "config.json").is_file()
    assert not list(paths.export.glob(".*"))
