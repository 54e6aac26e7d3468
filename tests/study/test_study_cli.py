"""`emotui study` on the command line: the plan of the study's four sweep files, bad study
files refused in one line with nothing stored, and a whole study of the tiny RoBERTa."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from study_helpers import write

from emotui.cli.main import main

REPO = Path(__file__).resolve().parents[2]
FOUR = [str(REPO / "sweep_configs" / name) for name in (
    "full_finetuning.yaml", "lora.yaml", "prompt_tuning_hard.yaml", "prompt_tuning_soft.yaml")]
REFERENCE = REPO.parent / "shared" / "reference" / "sweep_configs"


def _cli(capsys, runs_dir: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["study", "--runs-dir", str(runs_dir), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _entries(runs_dir: Path) -> list[str]:
    return sorted(p.name for p in runs_dir.iterdir()) if runs_dir.is_dir() else []


def test_the_studys_four_sweep_files_plan_as_a_study(capsys, runs_dir):
    code, out, err = _cli(capsys, runs_dir, *FOUR, "--confirm-seeds", "1,2,3", "--dry-run",
                          "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert [m["method"] for m in plan["methods"]] == [
        "full", "lora", "prompt_tuning_text", "prompt_tuning_random"]
    assert [m["search_trials"] for m in plan["methods"]] == [4, 48, 12, 12]
    assert plan["search_trials"] == 76 and plan["confirm_runs"] == 12
    assert plan["total_runs"] == 88 and plan["confirm_seeds"] == [1, 2, 3]
    assert plan["metric"] == {"name": "eval/accuracy", "goal": "maximize"}
    assert _entries(runs_dir) == []  # a dry run stores nothing
    # Piped, the same plan as comment lines and TSV.
    code, out, _ = _cli(capsys, runs_dir, *FOUR, "--confirm-seeds", "1,2,3", "--dry-run")
    assert code == 0
    assert "76 trials" in out.splitlines()[0] and "88 runs in all" in out.splitlines()[0]
    header = next(line for line in out.splitlines() if line.startswith("method\t"))
    assert header.split("\t")[:4] == ["method", "search", "search_trials", "confirm_runs"]


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the reference study's files are absent")
def test_the_original_sweep_files_plan_unchanged(capsys, runs_dir):
    files = sorted(str(p) for p in REFERENCE.glob("sweep_*.yaml"))
    code, out, err = _cli(capsys, runs_dir, *files, "--confirm-seeds", "1,2,3", "--dry-run",
                          "--json")
    assert code == 0, err
    assert json.loads(out)["search_trials"] == 76


GOOD_METHODS = ("methods:\n  full:\n    parameters:\n"
                "      learning_rate: {values: [1.0e-4, 1.0e-3]}\n")

BAD = [
    ("unknown-top-key", "model: roberta-base\nmethod: {}\n" + GOOD_METHODS,
     "unknown key 'method'; did you mean 'methods'?"),
    ("unknown-method", "methods:\n  lroa:\n", "did you mean 'lora'?"),
    ("test-metric", GOOD_METHODS + "select: {metric: test/accuracy}\n",
     "a study picks its winners on validation only"),
    ("unknown-setting", GOOD_METHODS + "fixed: {learning_rte: 1}\n",
     "unknown setting 'learning_rte'"),
    ("fixed-and-searched", GOOD_METHODS + "fixed: {learning_rate: 1.0e-3}\n",
     "searched here and pinned by fixed"),
    ("random-without-trials", GOOD_METHODS.replace("values: [1.0e-4, 1.0e-3]",
                                                   "min: 1.0e-5, max: 1.0e-3") +
     "search: {method: random}\n", "random search needs a number of trials"),
    ("bad-wall-time", GOOD_METHODS + "budget: {wall_time: 3}\n", "has no unit"),
    ("budget-typo", GOOD_METHODS + "budget: {gpu_hour: 3}\n", "did you mean 'gpu_hours'?"),
    ("confirm-typo", GOOD_METHODS + "confirm: {seed: [1, 2]}\n",
     "confirm runs one run per seed"),
    ("confirm-bad-setting", GOOD_METHODS + "confirm: {seeds: [1], lora_r: 16}\n", "lora_r"),
    ("bad-seeds", GOOD_METHODS + "confirm: {seeds: [1, x]}\n", "is not an integer seed"),
    ("missing-data-folder", GOOD_METHODS + "data: ./no/such/folder\n", "does not exist"),
    ("missing-model-folder", GOOD_METHODS + "model: ./no/such/model\n", "does not exist"),
    ("bad-value", "methods:\n  lora:\n    parameters:\n      lora_r: {values: [0, 8]}\n",
     "lora_r"),
    ("search-typo", GOOD_METHODS + "search: {trails: 4}\n", "did you mean 'trials'?"),
    ("report-format", GOOD_METHODS + "report: [pdf, docx]\n", "unknown format 'docx'"),
]


@pytest.mark.parametrize("text,phrase", [(t, p) for _, t, p in BAD], ids=[c for c, _, _ in BAD])
def test_a_bad_study_file_is_one_line_exit_2_and_nothing_stored(capsys, tmp_path, runs_dir,
                                                                text, phrase):
    file = write(tmp_path, text)
    for extra in ([], ["--dry-run"]):
        code, out, err = _cli(capsys, runs_dir, str(file), *extra)
        assert code == 2, (code, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("emotui: error: "), err
        assert phrase in lines[0], lines[0]
        assert "Traceback" not in err + out and out == ""
        assert _entries(runs_dir) == []


def test_bad_command_lines_are_refused_before_anything_is_stored(capsys, tmp_path, runs_dir):
    sweep = REPO / "sweep_configs" / "ia3.yaml"
    for argv, phrase in (
            ([str(sweep), str(sweep)], "both search ia3"),
            ([str(REPO / "sweep_configs" / "methods_at_defaults.yaml")], "several methods"),
            ([str(sweep), "--confirm-seeds", "1,1"], "given twice"),
            ([str(sweep), "--set", "peft_method=lora"], "--set peft_method"),
            (["status"], "needs one study id"),
            (["status", "nope"], "no study 'nope'"),
            ([str(tmp_path / "missing.yaml")], "does not exist")):
        code, _, err = _cli(capsys, runs_dir, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
        assert phrase in err, (argv, err)
    assert _entries(runs_dir) == []


def _tiny_study(model: Path, data: Path) -> str:
    return f"""\
name: tiny
model: {model}
data: {data}
fixed:
  num_train_epochs: 1
  per_device_train_batch_size: 32
  max_seq_length: 48
  max_train_samples: 120
  logging_steps: 5
  seed: 7
methods:
  full:
    parameters:
      learning_rate: {{values: [1.0e-3, 1.0e-6]}}
  lora:
    parameters:
      learning_rate: {{values: [3.0e-3]}}
select: {{metric: eval/accuracy}}
confirm: {{seeds: [1, 2], num_train_epochs: 2}}
"""


def test_a_tiny_roberta_study_end_to_end(capsys, tmp_path, runs_dir, tiny_model_dir,
                                         toy_data_dir):
    file = write(tmp_path, _tiny_study(tiny_model_dir, toy_data_dir))
    code, out, err = _cli(capsys, runs_dir, str(file), "--json")
    assert code == 0, err
    summary = json.loads(out)  # exactly one JSON document on stdout
    assert summary["phase"] == "done"
    study = runs_dir / "studies" / summary["study_id"]
    methods = {m["method"]: m for m in summary["methods"]}
    assert methods["full"]["search"]["finished"] == 2 and methods["lora"]["search"]["finished"] == 1
    assert methods["full"]["winner"]["params"] == {"learning_rate": 1e-3}
    for m in methods.values():
        assert m["confirm"]["finished"] == 2
        assert m["test"]["completed"] == 2 and m["test"]["test_accuracy"]["n"] == 2
        assert m["test"]["test_accuracy"]["mean"] > 0.2  # the toy task is learnable
    for name in ("report.pdf", "report.md", "report.html"):
        assert (study / "report" / name).is_file()
    phases = {p["phase"]: p for p in summary["phases"]}
    try:
        import emotui.train.export  # noqa: F401
    except ImportError:
        assert phases["export"]["state"] == "skipped"
        assert "no exporter" in phases["export"]["note"]
    else:
        assert phases["export"]["state"] == "done"
        for method, kind in (("full", "full"), ("lora", "merged")):
            made = json.loads((study / "export" / method / "emotui_export.json").read_text())
            assert made["run_id"] == methods[method]["test"]["best_run"]  # best seed on val
            assert made["kind"] == kind and (study / "export" / method / "config.json").is_file()
    runs = len([p for p in runs_dir.iterdir() if (p / "status.json").exists()])
    assert runs == 3 + 4
    # The same command again: nothing new.
    code, out, err = _cli(capsys, runs_dir, str(file))
    assert code == 0, err
    assert len([p for p in runs_dir.iterdir() if (p / "status.json").exists()]) == runs
    # status and ls, piped: comment lines and TSV with whole values.
    code, out, _ = _cli(capsys, runs_dir, "status", summary["study_id"][:6])
    assert code == 0 and out.startswith(f"# study {summary['study_id']}")
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("#")]
    header = rows[0]
    full = dict(zip(header, rows[1]))
    assert full["method"] == "full" and full["search_finished"] == "2"
    assert float(full["test_accuracy"]) == pytest.approx(
        methods["full"]["test"]["test_accuracy"]["mean"])
    code, out, _ = _cli(capsys, runs_dir, "ls")
    assert code == 0 and out.splitlines()[1].split("\t")[:2] == [summary["study_id"], "done"]
    # The sweeps are ordinary sweeps.
    assert main(["sweep", "status", f"{summary['study_id']}-search-full", "--runs-dir",
                 str(runs_dir), "--json"]) == 0
