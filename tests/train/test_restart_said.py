"""A resume that cannot continue (killed during the first save of checkpoints/last) says so in one
line — what was unusable, that it restarts, where the earlier metric lines are — and keeps those
lines in metrics.set-aside.jsonl; nothing is deleted."""

from __future__ import annotations

import json

from toy_runs import new_run, toy_config

from emotui.core.checkpoints import resume_problem, start_over
from emotui.core.claim import claim_run
from emotui.core.events import read_all, set_aside_all, truncate_after_step
from emotui.core.lifecycle import RunState, set_state
from emotui.core.runstore import RunPaths
from emotui.launch import runs
from emotui.train import train

SMALL = dict(num_train_epochs=1, max_train_samples=32, max_eval_samples=16,
             max_predict_samples=16, logging_steps=1)


def _line(step: int, split: str = "train") -> str:
    return json.dumps({"time": 1.0, "split": split, "step": step, "loss": 1.0}) + "\n"


def _killed_in_its_first_save(paths: RunPaths) -> list[str]:
    """The run as a kill during its first save of checkpoints/last leaves it: metrics of the
    steps before, an unsealed staging folder, no last; recorded failed."""
    lines = [_line(1), _line(2), _line(2, "eval")]
    paths.metrics.write_text("".join(lines))
    staging = paths.checkpoints / ".last.tmp-abc123"
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"half a model")
    set_state(paths, RunState.FAILED, reason="killed")
    return lines


def _side_lines(paths: RunPaths) -> list[dict]:
    return [json.loads(line) for line in paths.metrics_set_aside.read_text().splitlines()]


def test_resume_after_a_kill_in_the_first_save_says_it_restarts_and_keeps_the_metrics(
        tiny_model_dir, toy_data_dir, runs_dir, caplog):
    config = toy_config(tiny_model_dir, toy_data_dir, **SMALL)
    paths = new_run(runs_dir, config)
    earlier = _killed_in_its_first_save(paths)
    notices: list[str] = []

    def train_here(resumed: RunPaths):
        return train(config, resumed.root, resume=True)

    results = runs.resume(paths, backend="inline", train_here=train_here,
                          warn=notices.append)
    assert results["status"] == "completed"
    (notice,) = notices
    assert "\n" not in notice
    assert notice == (f"run {paths.run_id}: its first save of checkpoints/last was cut short "
                      "(no complete checkpoint); training restarts from the first step (its 3 "
                      "earlier metric lines kept in metrics.set-aside.jsonl)")
    # The job that trained it said so too, in its log; the earlier lines are kept, whole.
    assert any("training restarts from the first step" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")
    header, *kept = _side_lines(paths)
    assert header["lines"] == 3 and "cut short" in header["why"]
    assert kept == [json.loads(line) for line in earlier]
    # metrics.jsonl holds only the new attempt's events, from the first step.
    steps = [e["step"] for e in read_all(paths.metrics) if e["split"] == "train"]
    assert steps[0] == 1 and steps == sorted(steps)


def test_a_resume_with_a_complete_checkpoint_says_nothing(tiny_model_dir, toy_data_dir,
                                                           runs_dir):
    paths = new_run(runs_dir, toy_config(tiny_model_dir, toy_data_dir, **SMALL))
    (paths.checkpoint_last).mkdir(parents=True)
    paths.resume_state.write_bytes(b"state")
    with claim_run(paths):
        assert resume_problem(paths) is None


def test_no_resume_and_no_metrics_is_nothing_to_say(tmp_path):
    paths = RunPaths(tmp_path / "run")
    paths.root.mkdir()
    assert start_over(paths, None) is None and not paths.metrics_set_aside.exists()


def test_truncation_on_resume_sets_the_dropped_lines_aside(tmp_path):
    paths = RunPaths(tmp_path / "run")
    paths.root.mkdir()
    paths.metrics.write_text(_line(1) + _line(2) + _line(2, "test") + _line(3) + '{"torn')
    assert truncate_after_step(paths.metrics, 2) == 3
    assert [e["step"] for e in read_all(paths.metrics)] == [1, 2]
    header, *kept = paths.metrics_set_aside.read_text().splitlines()
    assert json.loads(header)["why"] == "past step 2, where the run resumes"
    assert kept == [_line(2, "test").strip(), _line(3).strip(), '{"torn']
    # A second batch is appended after the first, never over it.
    assert set_aside_all(paths.metrics, "started over") == 2
    assert not paths.metrics.exists()
    assert [line.get("why") for line in _side_lines_raw(paths) if "why" in line] == [
        "past step 2, where the run resumes", "started over"]


def _side_lines_raw(paths: RunPaths) -> list[dict]:
    out = []
    for line in paths.metrics_set_aside.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({})
    return out
