"""`emotui export` refuses bad input in one line, exit 2, before anything loads (the runs here
name a model that does not exist: nothing may try to load it), and leaves nothing behind."""

from __future__ import annotations

import pytest
from bad_input_helpers import assert_clean_refusal, store_entries
from core.corrupt_store import write_good_run

from emotui.core import methods
from emotui.core.config import build_config
from emotui.core.lifecycle import RunState, create_run, record_end
from emotui.core.runstore import RunStore


def completed(runs_dir, method: str, run_id: str, *, best: bool = True):
    paths = write_good_run(RunStore(runs_dir), run_id, method=method)
    if best:
        paths.checkpoint_best.mkdir(parents=True)
    return paths


def test_unknown_run(cli):
    completed(cli.runs_dir, "lora", "250101-000000-lora-aaaa")
    before = store_entries(cli.runs_dir)
    result = cli("export", "nosuchrun")
    assert_clean_refusal(result, cli.runs_dir, "no run 'nosuchrun'", before)


def test_queued_run_says_wait(cli):
    config, _ = build_config([("test", {"model_name_or_path": "fixture/encoder"})])
    paths = create_run(RunStore(cli.runs_dir), config, backend="local")
    before = store_entries(cli.runs_dir)
    result = cli("export", paths.run_id)
    assert_clean_refusal(result, cli.runs_dir, "is queued: only a completed run can be "
                                               "exported; wait for it to finish", before)
    assert not paths.export.exists()


@pytest.mark.parametrize("state, reason", [(RunState.FAILED, "CUDA out of memory"),
                                           (RunState.CANCELLED, "cancelled by user")])
def test_run_that_ended_otherwise(cli, state, reason):
    config, _ = build_config([("test", {"model_name_or_path": "fixture/encoder"})])
    paths = create_run(RunStore(cli.runs_dir), config, backend="local")
    record_end(paths, state, reason)
    before = store_entries(cli.runs_dir)
    result = cli("export", paths.run_id)
    assert_clean_refusal(result, cli.runs_dir, f"{state.value} ({reason}): only a completed "
                                               "run can be exported", before)
    assert "emotui ls --state completed" in result.err


@pytest.mark.parametrize("method", [m.alias for m in methods.METHODS
                                    if m.peft_method and not m.mergeable])
def test_merged_for_a_method_peft_cannot_merge(cli, method):
    paths = completed(cli.runs_dir, method, "250101-000000-x-bbbb")
    before = store_entries(cli.runs_dir)
    result = cli("export", paths.run_id, "--merged")
    assert_clean_refusal(result, cli.runs_dir, "peft cannot merge it into the base weights; "
                                               "drop --merged", before)
    assert not paths.export.exists()


def test_no_merged_for_full_fine_tuning(cli):
    paths = completed(cli.runs_dir, "full", "250101-000000-full-cccc")
    result = cli("export", paths.run_id, "--no-merged")
    assert_clean_refusal(result, cli.runs_dir, "no adapter to export; drop --no-merged",
                         store_entries(cli.runs_dir))


def test_completed_without_a_best_checkpoint(cli):
    paths = completed(cli.runs_dir, "lora", "250101-000000-lora-dddd", best=False)
    result = cli("export", paths.run_id)
    assert_clean_refusal(result, cli.runs_dir, "completed without a best checkpoint",
                         store_entries(cli.runs_dir))


def test_out_is_a_file(cli, tmp_path):
    paths = completed(cli.runs_dir, "lora", "250101-000000-lora-eeee")
    file = tmp_path / "model.bin"
    file.write_text("x")
    result = cli("export", paths.run_id, "--out", str(file))
    assert_clean_refusal(result, cli.runs_dir, f"--out {file} is a file",
                         store_entries(cli.runs_dir))
    assert file.read_text() == "x"


@pytest.mark.parametrize("force", [False, True])
def test_out_holds_other_files(cli, tmp_path, force):
    paths = completed(cli.runs_dir, "lora", "250101-000000-lora-ffff")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = cli("export", paths.run_id, "--out", str(out), *(["--force"] if force else []))
    fragment = "did not write; --force replaces an earlier export only" if force \
        else "exists and is not empty; give --out DIR, a new or empty folder, or add --force"
    assert_clean_refusal(result, cli.runs_dir, fragment, store_entries(cli.runs_dir))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_default_out_that_holds_other_files(cli):
    paths = completed(cli.runs_dir, "lora", "250101-000000-lora-gggg")
    paths.export.mkdir()
    (paths.export / "x").write_text("")
    result = cli("export", paths.run_id)
    assert_clean_refusal(result, cli.runs_dir,
                         f"the export folder {paths.export} exists and is not empty; give --out",
                         store_entries(cli.runs_dir))


def test_help_says_what_loads_each_kind(cli):
    result = cli("export", "--help")
    assert result.code == 0
    assert "AutoModelForSequenceClassification.from_pretrained(DIR)" in result.out
    assert "peft.AutoPeftModelForSequenceClassification.from_pretrained(" in result.out
    assert "id2label=" in result.out and "--no-merged" in result.out
