"""`emotui run --backend/--resume/--follow` and `emotui cancel`: bad input is one line, exit 2,
and leaves nothing behind; settings layers reach the submitted job."""

from __future__ import annotations

import json
import textwrap

import pytest

from emotui.cli.main import main
from emotui.core.errors import or_list
from emotui.launch import backend_names
from emotui.core.runstore import RunStore
from emotui.core.status import read_status, write_status


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    # Two labels: a single-class training set is refused before the run exists.
    path.write_text("".join(json.dumps({"text": text, "label": label}) + "\n"
                            for text, label in (("hi", 0), ("bye", 1))))
    return path


def run_args(runs_dir, train_file, *extra):
    return ["run", "--runs-dir", str(runs_dir), "--train_file", str(train_file),
            "--do_eval", "false", "--do_predict", "false", *extra]


@pytest.mark.parametrize("extra,message", [
    (["--follow"], f"--follow is for --backend {or_list(backend_names(detached=True))}"),
    (["--backend", "local", "--partition", "gpu"], "--partition applies to --backend slurm"),
    (["--backend", "slurm", "--time", "soon"], "slurm time (from command line)"),
    (["--backend", "slurm", "--sbatch-arg", "array=1-3"], "emotui sets --array itself"),
    (["--backend", "slurm", "--gpus", "1", "--gres", "gpu:1"], "gpus and gres both set"),
])
def test_bad_launch_input(runs_dir, train_file, capsys, extra, message, fake_slurm):
    code = main(run_args(runs_dir, train_file, *extra))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert RunStore(runs_dir).run_ids() == []  # nothing half-created


def test_resume_input_errors(runs_dir, capsys):
    assert main(["run", "--runs-dir", str(runs_dir), "--resume", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    paths = RunStore(runs_dir).create("full")
    write_status(paths, state="failed")
    assert main(["run", "--runs-dir", str(runs_dir), "--resume", paths.run_id,
                 "--learning_rate", "1e-3"]) == 2
    assert "drop --learning_rate" in capsys.readouterr().err
    write_status(paths, state="completed")
    paths.config.write_text("{}\n")
    assert main(["run", "--runs-dir", str(runs_dir), "--resume", paths.run_id]) == 2
    assert "only failed, cancelled or preempted" in capsys.readouterr().err


def test_cancel_finished_run_changes_nothing(runs_dir, capsys):
    paths = RunStore(runs_dir).create("full")
    write_status(paths, state="completed", backend="local")
    assert main(["cancel", "--runs-dir", str(runs_dir), paths.run_id[-4:]]) == 0
    assert "already completed; nothing to cancel" in capsys.readouterr().out
    assert read_status(paths)["state"] == "completed"


def test_config_file_sections_and_user_defaults_reach_the_job(runs_dir, train_file, tmp_path,
                                                              monkeypatch, capsys, fake_slurm):
    user = tmp_path / "user.yaml"
    user.write_text("slurm:\n  account: lab\n  partition: cpu\n  setup: [module load x]\n")
    monkeypatch.setenv("EMOTUI_CONFIG", str(user))
    config = tmp_path / "exp.yaml"
    config.write_text(textwrap.dedent(f"""
        train_file: {train_file}
        do_eval: false
        do_predict: false
        backend: slurm
        slurm:
          partition: gpu
          time: "01:00:00"
    """))
    code = main(["run", "--runs-dir", str(runs_dir), "--config", str(config), "--json",
                 "--qos", "high"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["backend"] == "slurm"
    status = read_status(RunStore(runs_dir).find(out["run_id"]))
    res = status["resources"]
    assert (res["account"], res["partition"], res["time"], res["qos"]) == ("lab", "gpu", 60, "high")
    assert res["setup"] == ["module load x"]
    script = next((RunStore(runs_dir).find(out["run_id"]).launch).glob("*_submission.sh"))
    text = script.read_text()
    assert "#SBATCH --partition=gpu" in text and "module load x" in text
    assert "#SBATCH --job-name=" + out["run_id"] in text
