"""W&B offline files that cannot be read as runs: a truncated file of a finished run lists as
unreadable with the reason (not as a running ghost without an id), and without an importable
wandb, `compare` says "W&B unavailable" in one line."""

from __future__ import annotations

import re
import struct
import sys
import zlib
from pathlib import Path

import pytest
from tracking_helpers import make_offline_run

from emotui.cli.main import main
from emotui.tracking.offline import WandbUnavailable, read_run_file
from emotui.tracking.sources import offline_rows

CONFIG = {"learning_rate": 2e-3, "peft_method": "lora", "lora_r": 8}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("offline")
    return make_offline_run(root / "study", config=CONFIG, rows=[{"eval/accuracy": 0.9}],
                            summary={"test/accuracy": 0.91})


def _copy(run_file: Path, tmp_path: Path, keep: int) -> Path:
    """The offline run's folder (its logs too), with the .wandb file cut to ``keep`` bytes."""
    import shutil

    folder = tmp_path / "wandb" / run_file.parent.name
    shutil.copytree(run_file.parent, folder)
    copy = folder / run_file.name
    copy.write_bytes(run_file.read_bytes()[:keep])
    return copy


def test_a_file_cut_before_its_run_record_is_unreadable_and_keeps_its_id(finished_run,
                                                                        tmp_path):
    copy = _copy(finished_run, tmp_path, 150)
    run = read_run_file(copy)
    assert run.id == finished_run.stem.removeprefix("run-")  # from the file's name
    [row] = offline_rows(tmp_path)
    assert row["run_id"] == run.id and row["status"] == "unreadable"
    assert re.fullmatch(rf"{copy.name} is cut short at byte \d+ of 150, before its run record "
                        r"\(truncated\?\)", row["reason"])


def test_a_finished_run_cut_after_its_run_record_is_unreadable_not_running(finished_run,
                                                                           tmp_path):
    size = finished_run.stat().st_size
    copy = _copy(finished_run, tmp_path, size - 20)
    [row] = offline_rows(tmp_path)
    assert row["status"] == "unreadable" and row["learning_rate"] == 2e-3
    assert row["reason"].startswith(f"{copy.name} is cut short at byte ")
    assert "its run finished (W&B's debug-internal.log says so)" in row["reason"]


def test_a_whole_file_still_reads_as_completed(finished_run, tmp_path):
    _copy(finished_run, tmp_path, finished_run.stat().st_size)
    [row] = offline_rows(tmp_path)
    assert row["status"] == "completed" and row["reason"] is None


def _hand_built_file(path: Path) -> Path:
    payload = b"\x00" * 4
    record = struct.pack("<IHB", zlib.crc32(payload, zlib.crc32(b"\x01")), len(payload), 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(b":W&B" + struct.pack("<HB", 0xBEE1, 0) + record + payload)
    return path


def test_compare_without_wandb_says_w_and_b_unavailable_in_one_line(tmp_path, monkeypatch,
                                                                   capsys):
    run_file = _hand_built_file(tmp_path / "wandb" / "offline-run-1-abc" / "run-abc.wandb")
    for name in ("wandb", "wandb.proto", "wandb.proto.wandb_internal_pb2"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of it raises ImportError
    with pytest.raises(WandbUnavailable, match="^W&B unavailable: wandb cannot be imported"):
        read_run_file(run_file)
    code = main(["--runs-dir", str(tmp_path / "runs"), "compare", str(tmp_path),
                 "--format", "csv"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("emotui: error: W&B unavailable: wandb cannot be imported (")
    assert err.rstrip().endswith("it is needed to read W&B offline runs: pip install wandb")
