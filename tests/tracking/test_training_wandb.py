"""End to end: `emotui run --report_to wandb` in W&B offline mode with a planted API key, then
the offline run read back and imported, merged with a W&B project (local stand-in) in
`emotui compare` in every export format, `emotui sync`, and the key searched for in everything
emotui wrote (run dirs, W&B folders, caches, logs, a detached local job, a Slurm job script)."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from tracking_helpers import (
    PLANTED_KEY, files_containing, isolate_wandb, parse_latex, parse_markdown, parse_typst,
    wait_for_exit_record,
)
from wandb_standin import StandIn, study_run

from emotui.cli.main import main
from emotui.core.events import read_all
from emotui.core.runstore import RunStore, read_json
from emotui.core.status import read_status, write_status
from emotui.tracking.offline import read_offline_runs

PROJECT = "team/emo"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, toy_data_dir):
    """One LoRA run trained through the CLI with --report_to wandb, offline, key planted."""
    root = tmp_path_factory.mktemp("wandb_e2e")
    with pytest.MonkeyPatch.context() as mp:
        home = isolate_wandb(mp, root / "home")
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_API_KEY", PLANTED_KEY)
        mp.chdir(root)
        # A detached local job (the launch layer) trains alongside, inheriting the environment.
        local_job = start_local_job(root / "runs_local", tiny_model_dir, toy_data_dir)
        runs = root / "runs"
        code = main([
            "run", "-q", "--runs-dir", str(runs), "--method", "lora", "--report_to", "wandb",
            "--wandb-project", "emo", "--wandb-tags", "e2e",
            "--model_name_or_path", str(tiny_model_dir),
            "--train_file", str(toy_data_dir / "train.jsonl"),
            "--validation_file", str(toy_data_dir / "validation.jsonl"),
            "--test_file", str(toy_data_dir / "test.jsonl"),
            "--num_train_epochs", "2", "--learning_rate", "3e-3", "--lora_r", "4",
            "--per_device_train_batch_size", "16", "--logging_steps", "4",
            "--max_seq_length", "64", "--seed", "7",
        ])
        assert code == 0
        [paths] = list(RunStore(runs))
        [file] = list(paths.wandb.glob("offline-run-*/run-*.wandb"))
        wait_for_exit_record(file)
    return {"root": root, "home": home, "runs": runs, "paths": paths, "local_job": local_job}


def start_local_job(runs: Path, tiny_model_dir: Path, toy_data_dir: Path):
    """A full fine-tuning run with --report_to wandb submitted to the local backend (or None
    when this build has no launch layer)."""
    try:
        from emotui.launch.local import LocalBackend
    except ImportError:
        return None
    from emotui.core.config import build_config, dump_config
    from emotui.tracking.settings import status_fields

    config, _ = build_config([("test", {
        "method": "full", "report_to": "wandb", "model_name_or_path": str(tiny_model_dir),
        "train_file": str(toy_data_dir / "train.jsonl"),
        "validation_file": str(toy_data_dir / "validation.jsonl"),
        "test_file": str(toy_data_dir / "test.jsonl"), "num_train_epochs": 1,
        "max_train_samples": 64, "per_device_train_batch_size": 16, "max_seq_length": 32})])
    job = RunStore(runs).create(config.method)
    job.config.write_text(dump_config(config))
    write_status(job, run_id=job.run_id, state="queued", backend="local",
                 **status_fields({"project": "emo"}))
    LocalBackend().submit(job)
    return job


def test_training_writes_an_offline_run_that_reads_back(trained):
    paths = trained["paths"]
    status = read_status(paths)
    results = read_json(paths.results)
    assert status["state"] == "completed"
    assert status["wandb_run_id"] == paths.run_id and status["wandb_mode"] == "offline"
    assert status["wandb_project"] == "emo"
    assert status["wandb_settings"] == {"project": "emo", "tags": ["e2e"]}
    assert (paths.root / status["wandb_dir"]).is_dir()

    [run] = read_offline_runs(paths.root)
    assert run.id == paths.run_id and run.project == "emo" and run.exit_code == 0
    assert set(run.tags) == {"e2e", "lora"}
    assert run.config["peft_method"] == "lora" and run.config["lora_r"] == 4
    assert run.config["learning_rate"] == 3e-3
    assert run.config["emotui_run_id"] == paths.run_id

    events = read_all(paths.metrics)
    train_losses = [e["loss"] for e in events if e["split"] == "train"]
    eval_accs = [e["accuracy"] for e in events if e["split"] == "eval"]
    assert train_losses and len(eval_accs) == 2
    assert [r["train/loss"] for r in run.history if "train/loss" in r] == train_losses
    assert [r["eval/accuracy"] for r in run.history if "eval/accuracy" in r] == eval_accs
    assert [r["train/global_step"] for r in run.history if "eval/accuracy" in r] == [
        e["step"] for e in events if e["split"] == "eval"]
    assert run.summary["test/accuracy"] == results["test_accuracy"]
    assert run.summary["eval/accuracy"] == results["eval_accuracy"]
    assert run.summary["trainable_params"] == results["trainable_params"]
    assert run.summary["test/confusion_matrix_table"]["nrows"] == 36  # 6 x 6 labels


def test_offline_run_imports_as_a_read_only_row(trained, capsys):
    paths = trained["paths"]
    results = read_json(paths.results)
    # The run's W&B folder read in place, as any foreign offline run would be.
    assert main(["compare", "--runs-dir", str(trained["runs"]), str(paths.wandb),
                 "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["source"] == "wandb-offline" and row["run_id"] == paths.run_id
    assert row["method"] == "lora" and row["status"] == "completed"
    assert row["test_accuracy"] == results["test_accuracy"]
    assert row["lora_r"] == 4 and row["learning_rate"] == 3e-3
    # Named together with its run directory, it is merged into that run's row.
    assert main(["compare", "--runs-dir", str(trained["runs"]), paths.run_id, str(paths.wandb),
                 "--format", "json"]) == 0
    [merged] = json.loads(capsys.readouterr().out)
    assert merged["source"] == "local+wandb-offline"


def _compare(trained, capsys, fmt: str, *extra: str) -> str:
    code = main(["compare", "--runs-dir", str(trained["runs"]), trained["paths"].run_id,
                 "--wandb", PROJECT, "--format", fmt,
                 "--columns", "run_id,source,method,learning_rate,test_accuracy,wandb_url",
                 *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_compare_merges_local_and_wandb_rows_in_every_format(trained, capsys, monkeypatch):
    paths = trained["paths"]
    results = read_json(paths.results)
    twin = study_run(paths.run_id, lr=3e-3, peft="lora", lora_r=4, eval_acc=0.5, test_acc=0.5,
                     extra_config={"emotui_run_id": paths.run_id, "method": "lora"})
    with StandIn({PROJECT: [twin, study_run("st1", lr=2e-5, peft=None, eval_acc=0.938,
                                               test_acc=0.9285)]}) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
        out = _compare(trained, capsys, "json", "--refresh")
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [paths.run_id, "st1"]  # the twin is merged, not shown
    local, study = rows
    assert local["source"] == "local+wandb"
    assert local["test_accuracy"] == results["test_accuracy"]  # the local result wins
    assert local["wandb_url"].endswith(f"/team/emo/runs/{paths.run_id}")
    assert study["source"] == "wandb" and study["method"] == "full"
    assert study["test_accuracy"] == 0.9285

    # The stand-in is gone: the cached project serves every format, parsed back here.
    expected_ids = [paths.run_id, "st1"]
    parsed = list(csv.DictReader(io.StringIO(_compare(trained, capsys, "csv"))))
    assert [r["run_id"] for r in parsed] == expected_ids
    assert float(parsed[1]["test_accuracy"]) == 0.9285 and parsed[0]["source"] == "local+wandb"
    md = parse_markdown(_compare(trained, capsys, "md"))
    assert [r[0] for r in md[2:]] == expected_ids and md[3][4] == "92.85%"
    _, tex = parse_latex(_compare(trained, capsys, "latex"))
    assert [r[0] for r in tex[1:]] == expected_ids and tex[2][2] == "full"
    ncols, typ = parse_typst(_compare(trained, capsys, "typst"))
    assert ncols == 6 and [r[0] for r in typ[1:]] == expected_ids
    monkeypatch.setenv("COLUMNS", "200")
    table = _compare(trained, capsys, "table")
    assert paths.run_id in table and "st1" in table

    filtered = json.loads(_compare(trained, capsys, "json", "--filter", "method=full"))
    assert [r["run_id"] for r in filtered] == ["st1"]


def test_compare_refresh_without_network_keeps_cache_with_one_warning(trained, capsys,
                                                                      monkeypatch,
                                                                      closed_port_url):
    monkeypatch.setenv("WANDB_BASE_URL", closed_port_url)
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    # No cache in this test's fresh HOME: the failure is the whole answer, one line, exit 1.
    code = main(["compare", "--runs-dir", str(trained["runs"]), "--wandb", PROJECT])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().count("\n") == 0 and "W&B unreachable" in err


def test_sync_without_key_or_network_says_so_in_one_line(trained, capsys, monkeypatch,
                                                         closed_port_url):
    monkeypatch.setenv("WANDB_BASE_URL", closed_port_url)
    assert main(["sync", "--runs-dir", str(trained["runs"]), "--dry-run"]) == 0
    assert trained["paths"].run_id in capsys.readouterr().out
    assert main(["sync", "--runs-dir", str(trained["runs"])]) == 1
    err = capsys.readouterr().err
    assert "no W&B API key" in err and err.strip().count("\n") == 0
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    assert main(["sync", "--runs-dir", str(trained["runs"])]) == 1
    err = capsys.readouterr().err
    assert "W&B unreachable" in err and err.strip().count("\n") == 0


def test_sync_passes_the_key_by_environment_only(trained, capsys, monkeypatch):
    """With a reachable server, `wandb sync` is started with the run folders as arguments."""
    import subprocess

    from emotui.tracking import sync

    calls = []

    def fake_run(command, **kwargs):
        calls.append((command, kwargs))
        for folder in (part for part in command[4:] if not part.startswith("-")):
            for file in Path(folder).glob("run-*.wandb"):
                Path(str(file) + ".synced").write_text("")
        return subprocess.CompletedProcess(command, 0, "Syncing: https://w.example/team/emo/"
                                           f"runs/{trained['paths'].run_id} ... done.\n", "")

    with StandIn({}) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
        monkeypatch.setattr(sync.subprocess, "run", fake_run)
        assert main(["sync", "--runs-dir", str(trained["runs"]), trained["paths"].run_id]) == 0
    [(command, kwargs)] = calls
    assert command[:4] == [sys.executable, "-m", "wandb", "sync"]
    assert all(PLANTED_KEY not in part for part in command)
    assert kwargs["env"]["WANDB_API_KEY"] == PLANTED_KEY
    assert "uploaded" in capsys.readouterr().out
    status = read_status(trained["paths"])
    assert status["wandb_url"].endswith(f"/runs/{trained['paths'].run_id}")
    for file in trained["paths"].wandb.glob("offline-run-*/run-*.wandb.synced"):
        file.unlink()  # leave the run as the other tests expect it


def _fake_slurm_client(bin_dir: Path) -> None:
    """sbatch/srun stand-ins: accept the job, run nothing (only the script is of interest)."""
    bin_dir.mkdir()
    for name, body in (("sbatch", 'echo "Submitted batch job 4242"'), ("srun", "exit 0"),
                       ("squeue", "exit 0"), ("sacct", "exit 0"), ("scancel", "exit 0")):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_the_planted_key_is_in_no_file_emotui_wrote(trained, capsys, monkeypatch, tmp_path):
    """Training (inline above; detached local here), compare, sync, a Slurm job script: the key
    is only ever in the environment."""
    monkeypatch.setenv("WANDB_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("WANDB_MODE", "offline")
    runs = trained["runs"]
    written = [trained["root"], trained["home"], tmp_path]

    # The detached local job started with the training above, logging to W&B offline.
    job = trained["local_job"]
    if job is None:
        pytest.skip("no launch layer in this build")
    deadline = time.monotonic() + 600  # bounds a hang only
    while read_status(job).get("state") not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the detached job did not finish"
        time.sleep(0.5)
    assert read_status(job)["state"] == "completed", read_status(job).get("reason")
    assert read_status(job)["wandb_mode"] == "offline"
    assert list(job.wandb.glob("offline-run-*/run-*.wandb"))

    # A Slurm job script, through the real backend and a stand-in sbatch.
    slurm = pytest.importorskip("emotui.launch.slurm")
    _fake_slurm_client(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    queued = RunStore(runs).create("full")
    queued.config.write_text(job.config.read_text())
    write_status(queued, run_id=queued.run_id, state="queued", backend="slurm")
    slurm.SlurmBackend().submit(queued)
    scripts = [p for p in queued.launch.rglob("*") if p.is_file() and p.suffix == ".sh"]
    assert scripts, "no sbatch script was written"
    assert "#SBATCH" in scripts[0].read_text()

    # compare (cache) and sync (fails: no network) with the key in the environment.
    with StandIn({PROJECT: [study_run("st1", lr=2e-5, peft=None, eval_acc=0.9, test_acc=0.9)]},
                 api_key=PLANTED_KEY) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        assert main(["compare", "--runs-dir", str(runs), "--wandb", PROJECT, "--refresh",
                     "--format", "csv", "-o", str(tmp_path / "table.csv")]) == 0
        # The key went to the server (how it authenticates), and nowhere else.
        assert server.auth_headers
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    main(["sync", "--runs-dir", str(runs)])
    capsys.readouterr()

    everything = [p for root in written for p in root.rglob("*") if p.is_file()]
    assert len(everything) > 50  # run dirs, W&B folders and logs, caches, launch scripts
    assert any(p.suffix == ".wandb" for p in everything)
    assert any(p.name.startswith("debug") and p.suffix == ".log" for p in everything)
    assert (tmp_path / "home" / ".cache" / "emotui" / "wandb").is_dir()
    leaks = files_containing(PLANTED_KEY, *written)
    assert leaks == [], f"the API key was written to: {leaks}"
