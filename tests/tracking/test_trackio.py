"""trackio as a tracker, for real: a tiny run with --report_to trackio writes into a temporary
trackio database (trackio itself, in the run's process), `emotui compare --trackio` reads it back
with the local run's numbers, a run trackio logged for someone else is a row of its own, and no
W&B key or Hugging Face token lands in anything written. The reader also takes trackio's inbox
fragments (a network filesystem), non-finite values and names logged twice."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tracking_helpers import PLANTED_KEY, files_containing

from emotui.cli.main import main
from emotui.core.runstore import RunStore, read_json
from emotui.core.status import read_status
from emotui.tracking.keys import record_to_row
from emotui.tracking.trackio_store import (
    EXIT_KEY, TrackioDatabase, TrackioUnavailable, project_db, trackio_dir,
)

PLANTED_HF_TOKEN = "hf_emotuiplanted" + "4b1d9e07" * 3


def trackio_env(root: Path) -> dict[str, str]:
    env = dict(os.environ, TRACKIO_DIR=str(root), HF_TOKEN=PLANTED_HF_TOKEN,
               WANDB_API_KEY=PLANTED_KEY, HF_HUB_OFFLINE="1")
    env.pop("TRACKIO_SPACE_ID", None)
    return env


def log_with_trackio(root: Path, project: str, name: str, config: dict,
                     rows: list[dict]) -> None:
    """A run logged by trackio's own API (a script of someone else's), in its own process: trackio
    reads TRACKIO_DIR when it is imported."""
    script = textwrap.dedent(f"""
        import trackio
        nan = float("nan")
        run = trackio.init(project={project!r}, name={name!r}, config={config!r},
                           auto_log_gpu=False, auto_log_cpu=False, embed=False)
        for row in {rows!r}:
            trackio.log(row)
        trackio.finish()
    """)
    out = subprocess.run([sys.executable, "-c", script], env=trackio_env(root),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, toy_data_dir):
    """One LoRA run through the CLI with --report_to trackio, in its own process (as a detached
    or Slurm job would), a W&B key and an HF token planted in its environment."""
    root = tmp_path_factory.mktemp("trackio_e2e")
    runs, tracked = root / "runs", root / "trackio"
    out = subprocess.run([
        sys.executable, "-m", "emotui", "run", "-q", "--runs-dir", str(runs),
        "--method", "lora", "--report_to", "trackio", "--trackio-project", "emo",
        "--trackio-space-id", "someone/emo-dashboard",
        "--model_name_or_path", str(tiny_model_dir),
        "--train_file", str(toy_data_dir / "train.jsonl"),
        "--validation_file", str(toy_data_dir / "validation.jsonl"),
        "--test_file", str(toy_data_dir / "test.jsonl"),
        "--num_train_epochs", "2", "--learning_rate", "3e-3", "--lora_r", "4",
        "--per_device_train_batch_size", "16", "--logging_steps", "4",
        "--max_seq_length", "64", "--seed", "7",
    ], env=trackio_env(tracked), cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    [paths] = list(RunStore(runs))
    # Someone else's script logged to the same project with trackio itself.
    log_with_trackio(tracked, "emo", "their-baseline", {"learning_rate": 5e-5,
                                                        "peft_method": "lora", "lora_r": 16},
                     [{"eval/accuracy": 0.61}, {"eval/accuracy": 0.64, "test/accuracy": 0.62}])
    return {"root": root, "runs": runs, "trackio": tracked, "paths": paths}


def compare_json(capsys, *argv: str) -> list[dict]:
    capsys.readouterr()
    assert main(["compare", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_run_is_in_trackio_with_its_config_and_results(trained):
    paths, results = trained["paths"], read_json(trained["paths"].results)
    db = project_db("emo", trained["trackio"])
    assert db.is_file()
    records = {r["id"]: r for r in TrackioDatabase(db).records()}
    record = records[paths.run_id]  # the trackio run is named by the emotui run id
    assert record["trackio_id"] == paths.run_id
    assert record["config"]["emotui_run_id"] == paths.run_id
    assert record["config"]["learning_rate"] == 3e-3 and record["config"]["lora_r"] == 4
    summary = record["summary"]
    assert summary[EXIT_KEY] == 0 and record["state"] == "finished"
    for key, logged in (("eval_accuracy", "eval/accuracy"), ("test_accuracy", "test/accuracy"),
                        ("test_macro_f1", "test/macro_f1"),
                        ("trainable_params", "trainable_params")):
        assert summary[logged] == pytest.approx(results[key]), key
    history = TrackioDatabase(db).history(paths.run_id)
    losses = [row["train/loss"] for row in history if "train/loss" in row]
    assert losses and all(isinstance(v, float) for v in losses)
    # The Space is recorded for `trackio sync --project emo`; nothing was uploaded.
    with sqlite3.connect(db) as conn:
        [(space,)] = conn.execute("SELECT value FROM project_metadata WHERE key='space_id'")
    assert space == "someone/emo-dashboard"
    status = read_status(paths)
    assert status["trackio_project"] == "emo"
    assert status["trackio_settings"] == {"project": "emo", "space_id": "someone/emo-dashboard"}


def test_compare_reads_trackio_back_with_the_local_numbers(trained, capsys, monkeypatch):
    monkeypatch.setenv("TRACKIO_DIR", str(trained["trackio"]))
    paths, results = trained["paths"], read_json(trained["paths"].results)
    # From trackio alone (an empty store): the numbers are trackio's, and they are the run's.
    empty = trained["root"] / "empty-store"
    rows = {r["run_id"]: r for r in compare_json(capsys, "--runs-dir", str(empty),
                                                 "--trackio", "emo")}
    mine = rows[paths.run_id]
    assert mine["source"] == "trackio" and mine["method"] == "lora"
    assert mine["status"] == "completed" and mine["lora_r"] == 4
    for key in ("eval_accuracy", "test_accuracy", "test_macro_f1", "trainable_params"):
        assert mine[key] == pytest.approx(results[key]), key
    theirs = rows["their-baseline"]
    assert theirs["source"] == "trackio" and theirs["linked_run_id"] is None
    assert theirs["eval_accuracy"] == 0.64 and theirs["test_accuracy"] == 0.62
    assert theirs["learning_rate"] == 5e-5 and theirs["lora_r"] == 16
    # With the store: the trackio run merges into its local row; the other stays its own row.
    rows = compare_json(capsys, "--runs-dir", str(trained["runs"]), "--trackio", "emo")
    assert [r["run_id"] for r in rows] == [paths.run_id, "their-baseline"]
    merged = rows[0]
    assert merged["source"] == "local+trackio"
    assert merged["trackio_project"] == "emo" and merged["trackio_run_id"] == paths.run_id
    for key in ("eval_accuracy", "test_accuracy", "test_macro_f1"):
        assert merged[key] == pytest.approx(results[key])
    # The filter and sort act on trackio rows as on any other.
    rows = compare_json(capsys, "--runs-dir", str(trained["runs"]), "--trackio", "emo",
                        "--filter", "source=trackio")
    assert [r["run_id"] for r in rows] == ["their-baseline"]


def test_no_key_or_token_in_anything_written(trained):
    roots = [trained["runs"], trained["trackio"]]
    assert files_containing(PLANTED_KEY, *roots) == []
    assert files_containing(PLANTED_HF_TOKEN, *roots) == []


# --- the reader alone --------------------------------------------------------------------------


def test_a_missing_project_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "nothing"))
    assert main(["compare", "--runs-dir", str(tmp_path / "runs"), "--trackio", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("emotui: error: no trackio project at") and "\n" not in err
    not_db = tmp_path / "garbage.db"
    not_db.write_bytes(b"not a database at all" * 10)
    with pytest.raises(TrackioUnavailable, match="not a readable trackio database"):
        TrackioDatabase(not_db).records()


def test_trackio_dir_follows_trackio(tmp_path):
    assert trackio_dir({"TRACKIO_DIR": str(tmp_path)}) == tmp_path
    assert trackio_dir({"HF_HOME": str(tmp_path / "hf")}) == tmp_path / "hf" / "trackio"
    assert trackio_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "huggingface" / "trackio"


def test_names_logged_twice_non_finite_values_and_inbox_fragments(tmp_path):
    root = tmp_path / "trackio"
    log_with_trackio(root, "p", "same", {"lr": 1}, [{"train/loss": 1.0}])
    log_with_trackio(root, "p", "same", {"lr": 2}, [{"train/loss": float("nan")}])
    db = project_db("p", root)
    before = db.stat().st_mtime_ns
    records = TrackioDatabase(db).records()
    ids = [r["id"] for r in records]
    assert len(ids) == 2 and all(i.startswith("same~") for i in ids) and len(set(ids)) == 2
    [nan_run] = [r for r in records if r["config"] == {"lr": 2}]
    assert nan_run["summary"]["train/loss"] != nan_run["summary"]["train/loss"]  # NaN back
    assert TrackioDatabase(db).history(nan_run["id"])[0]["_step"] == 0
    # A run on a network filesystem: trackio wrote a fragment its dashboard has not imported.
    fragment = root / "inbox" / "writer1" / "00000000.jsonl"
    fragment.parent.mkdir(parents=True)
    fragment.write_text(json.dumps({
        "v": 1, "kind": "metric", "project": "p", "run": "on-nfs", "run_id": "abc",
        "metrics": {"eval/accuracy": 0.5, "train/loss": "Infinity"}, "step": 3,
        "timestamp": "2026-01-01T00:00:00+00:00", "config": {"peft_method": "ia3"},
        "log_id": "x1"}) + "\n" + "{torn line\n")
    records = {r["id"]: r for r in TrackioDatabase(db).records()}
    row = record_to_row(records["on-nfs"])
    assert row["method"] == "ia3" and row["eval_accuracy"] == 0.5
    assert row["source"] == "trackio" and row["status"] is None  # trackio keeps no state
    assert records["on-nfs"]["summary"]["train/loss"] == float("inf")
    assert db.stat().st_mtime_ns == before  # read, never written
