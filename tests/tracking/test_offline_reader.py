"""The .wandb reader on files written by wandb itself (offline mode), whole, torn and corrupt."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from tracking_helpers import make_offline_run, wait_for_exit_record

from emotui.tracking import keys
from emotui.tracking.offline import (
    BLOCK_SIZE, WandbFileError, find_run_files, read_framing, read_offline_runs, read_run_file,
)
from emotui.tracking.sources import offline_rows

STUDY_CONFIG = {"learning_rate": 2e-3, "peft_method": "lora", "lora_r": 8, "lora_alpha": 16,
                "lora_target_modules": "query,value", "seed": 23,
                "model_name_or_path": "roberta-base"}


def study_history(steps: int = 6) -> list[dict]:
    rows = []
    for step in range(1, steps + 1):
        rows.append({"train/loss": 1.0 / step, "train/learning_rate": 2e-3 * (1 - step / 10),
                     "train/global_step": step * 10, "train/epoch": step / 2})
        if step % 2 == 0:
            rows.append({"eval/accuracy": 0.5 + step / 20, "eval/loss": 0.9 - step / 20,
                         "train/global_step": step * 10, "train/epoch": step / 2})
    return rows


@pytest.fixture
def study_file(tmp_path) -> Path:
    return make_offline_run(tmp_path / "study", config=STUDY_CONFIG, rows=study_history(),
                            summary={"test/accuracy": 0.933, "eval/accuracy": 0.939})


def test_reads_config_history_summary_and_exit(study_file):
    run = read_run_file(study_file)
    assert run.id and study_file.name == f"run-{run.id}.wandb"
    assert run.project == "study"
    assert run.config == STUDY_CONFIG  # _wandb internals dropped
    assert [r["train/loss"] for r in run.history if "train/loss" in r] == [
        1.0 / s for s in range(1, 7)]
    assert [r["eval/accuracy"] for r in run.history if "eval/accuracy" in r] == [0.6, 0.7, 0.8]
    assert run.summary["test/accuracy"] == 0.933
    assert run.summary["eval/accuracy"] == 0.939
    assert run.exit_code == 0 and run.state == "finished"
    assert not run.torn and not run.synced


def test_offline_run_maps_onto_emotui_columns(study_file, tmp_path):
    [row] = offline_rows(tmp_path / "study")  # found from the folder that holds wandb/
    assert row["source"] == "wandb-offline"
    assert row["method"] == "lora"
    assert row["status"] == "completed"
    assert row["learning_rate"] == 2e-3 and row["lora_r"] == 8
    assert row["test_accuracy"] == 0.933 and row["eval_accuracy"] == 0.939
    assert row["epoch"] == 3
    # The history turns back into metrics.jsonl events (what the TUI plots).
    events = keys.history_to_events(read_run_file(study_file).history)
    assert [e["split"] for e in events].count("eval") == 3
    assert events[0] == {**events[0], "split": "train", "step": 10, "loss": 1.0}


def test_every_path_form_finds_the_run(study_file, tmp_path):
    study = tmp_path / "study"
    for path in (study, study / "wandb", study_file.parent, study_file):
        assert find_run_files(path) == [study_file], path


def test_torn_last_record_keeps_everything_before_it(study_file, tmp_path):
    data = study_file.read_bytes()
    whole = read_framing(data)
    assert not whole.torn and whole.end == len(data)
    full = read_run_file(study_file)
    # Cut the file at every byte of its last 120: a writer stopped mid-record.
    for cut in range(len(data) - 120, len(data)):
        framing = read_framing(data[:cut])
        assert framing.torn or framing.end == cut
        assert len(framing.payloads) <= len(whole.payloads)
    torn_path = tmp_path / "run-torn.wandb"
    torn_path.write_bytes(data[: len(data) - 5])
    torn = read_run_file(torn_path)
    assert torn.torn
    assert torn.config == full.config
    assert torn.exit_code is None  # the exit record was lost
    assert torn.state == "running"  # fresh file, no exit: still being written
    assert len(torn.history) >= len(full.history) - 1


def test_run_still_being_written_is_read_while_open(tmp_path):
    """wandb-core flushes its buffer whenever it likes, so a live file usually ends mid-record."""
    import time

    import wandb

    run = wandb.init(mode="offline", project="live", dir=str(tmp_path), reinit="create_new",
                     config={"learning_rate": 1e-4},
                     settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))
    try:
        pad = "p" * 1000
        for step in range(400):
            run.log({"train/loss": 1.0 / (step + 1), "train/global_step": step, "pad": pad})
        [file] = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
        deadline = time.monotonic() + 20  # bounds a hang only
        while file.stat().st_size < 100_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        [live] = read_offline_runs(file.parent)
        assert live.config == {"learning_rate": 1e-4}
        assert live.exit_code is None and live.state == "running"
        losses = [r["train/loss"] for r in live.history if "train/loss" in r]
        assert losses and losses == [1.0 / (s + 1) for s in range(len(losses))]
    finally:
        run.finish()
    wait_for_exit_record(file)
    [done] = read_offline_runs(file.parent)
    assert done.state == "finished" and not done.torn
    assert len([r for r in done.history if "train/loss" in r]) == 400


def test_records_spanning_blocks(tmp_path):
    """A config bigger than a 32 KiB block travels as FIRST/MIDDLE/LAST fragments."""
    big = "x" * (BLOCK_SIZE * 2 + 123)
    path = make_offline_run(tmp_path, config={"notes_blob": big, "learning_rate": 1e-3},
                            rows=[{"train/loss": 0.5}])
    data = path.read_bytes()
    assert len(data) > 2 * BLOCK_SIZE
    run = read_run_file(path)
    assert run.config["notes_blob"] == big
    assert run.history[-1]["train/loss"] == 0.5 and run.exit_code == 0


def test_corrupt_record_stops_reading_there(study_file, tmp_path):
    data = bytearray(study_file.read_bytes())
    whole = read_framing(bytes(data))
    middle = len(data) // 2
    data[middle] ^= 0xFF  # flip a byte: that record's checksum no longer matches
    framing = read_framing(bytes(data))
    assert framing.torn
    assert 0 < len(framing.payloads) < len(whole.payloads)


def test_not_a_wandb_file(tmp_path):
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b"PK\x03\x04 definitely a zip file")
    with pytest.raises(WandbFileError, match="not a W&B run file"):
        read_run_file(path)


def test_framing_of_a_hand_built_file():
    """The format as documented: header, CRC-32 of type+payload, block padding."""
    def record(kind: int, payload: bytes) -> bytes:
        crc = zlib.crc32(payload, zlib.crc32(bytes((kind,))))
        return struct.pack("<IHB", crc, len(payload), kind) + payload

    header = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
    first = record(1, b"a" * 10)
    # Fill block 0 so fewer than 7 bytes are left: those are zero padding.
    filler_len = BLOCK_SIZE - len(header) - len(first) - 7 - 3
    filler = record(1, b"b" * filler_len)
    data = header + first + filler + b"\0" * 3 + record(2, b"c" * 5) + record(4, b"d" * 4)
    framing = read_framing(data)
    assert framing.payloads == [b"a" * 10, b"b" * filler_len, b"c" * 5 + b"d" * 4]
    assert not framing.torn
    # FIRST without its LAST: torn.
    assert read_framing(data[: -len(record(4, b"d" * 4))]).torn
