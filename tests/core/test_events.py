"""The run-directory reader: FileFollower's byte offsets and MetricsReader's events.

Every reader of a live run (the TUI's panels, ``emotui logs -f``, the sweep controller) polls
these files while a job on another machine appends to them, so each case below is one a reader
meets in practice: lines arriving in pieces, a file that is not there yet, a file a resume
replaced or truncated.
"""

from __future__ import annotations

import json
import os

from emotui.core.events import (
    FileFollower,
    MetricsReader,
    MetricsWriter,
    parse_lines,
    read_all,
    truncate_after_step,
)


def append(path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def event_line(step: int, **fields) -> str:
    return json.dumps({"time": 0, "split": "train", "step": step, **fields}) + "\n"


# --- FileFollower ---------------------------------------------------------------------------


def test_offset_advances_by_whole_lines_only(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"one\ntwo\nthr")
    follower = FileFollower(path)
    assert follower.read_complete() == b"one\ntwo\n"
    assert follower.offset == len(b"one\ntwo\n")  # the torn "thr" is left for later
    assert follower.read_complete() == b""
    assert follower.offset == 8
    append(path, "ee\nfour\n")
    assert follower.read_complete() == b"three\nfour\n"
    assert follower.offset == path.stat().st_size
    assert not follower.restarted


def test_several_lines_appended_between_polls_come_in_one_read(tmp_path):
    path = tmp_path / "log"
    path.write_text("a\n")
    follower = FileFollower(path)
    assert follower.read_complete() == b"a\n"
    append(path, "b\nc\n")
    append(path, "d\n")
    assert follower.read_complete().splitlines() == [b"b", b"c", b"d"]


def test_a_line_torn_several_times_waits_for_its_newline(tmp_path):
    path = tmp_path / "log"
    path.write_text("")
    follower = FileFollower(path)
    for piece in ("pa", "rt", "ial"):
        append(path, piece)
        assert follower.read_complete() == b""
        assert follower.offset == 0
    append(path, "\n")
    assert follower.read_complete() == b"partial\n"


def test_a_given_start_offset_skips_what_came_before(tmp_path):
    path = tmp_path / "log"
    path.write_text("old\nnew\n")
    follower = FileFollower(path, offset=4)
    assert follower.read_complete() == b"new\n"


def test_initial_offset_is_asked_once_at_the_first_read(tmp_path):
    asked: list[int] = []

    class FromTheEnd(FileFollower):
        def initial_offset(self, size: int) -> int:
            asked.append(size)
            return size

    path = tmp_path / "log"
    path.write_text("history\n")
    follower = FromTheEnd(path, offset=None)
    assert follower.read_complete() == b""
    append(path, "later\n")
    assert follower.read_complete() == b"later\n"
    assert asked == [len("history\n")]


def test_an_absent_file_reads_empty_until_it_appears(tmp_path):
    path = tmp_path / "not-yet"
    follower = FileFollower(path)
    assert follower.read_complete() == b""
    assert follower.offset == 0 and not follower.restarted
    path.write_text("first\n")
    assert follower.read_complete() == b"first\n"
    assert not follower.restarted  # appearing is not restarting


def test_a_file_that_disappears_reads_empty_and_keeps_its_offset(tmp_path):
    path = tmp_path / "log"
    path.write_text("one\n")
    follower = FileFollower(path)
    follower.read_complete()
    path.unlink()
    assert follower.read_complete() == b""
    assert follower.offset == 4


def test_a_truncated_file_is_read_again_from_the_start(tmp_path):
    path = tmp_path / "log"
    path.write_text("one\ntwo\nthree\n")
    follower = FileFollower(path)
    follower.read_complete()
    with open(path, "w", encoding="utf-8") as fh:  # same file (inode), shorter
        fh.write("uno\n")
    assert follower.read_complete() == b"uno\n"
    assert follower.restarted
    append(path, "dos\n")
    assert follower.read_complete() == b"dos\n"
    assert not follower.restarted  # only the read that started over says so


def test_a_replaced_file_is_read_from_the_start_even_when_longer(tmp_path):
    """A rename over the file (how a resume rewrites metrics.jsonl) gives a new inode: the size
    alone would not show it when the new file is at least as long as the old offset."""
    path = tmp_path / "log"
    path.write_text("a\nb\n")
    follower = FileFollower(path)
    follower.read_complete()
    fresh = tmp_path / "log.tmp"
    fresh.write_text("x\ny\nz\nw\n")
    os.replace(fresh, path)
    assert follower.read_complete() == b"x\ny\nz\nw\n"
    assert follower.restarted


def test_a_replaced_file_with_a_torn_last_line(tmp_path):
    path = tmp_path / "log"
    path.write_text("a\nb\nc\n")
    follower = FileFollower(path)
    follower.read_complete()
    fresh = tmp_path / "log.tmp"
    fresh.write_text("x\nhalf")
    os.replace(fresh, path)
    assert follower.read_complete() == b"x\n"
    assert follower.restarted and follower.offset == 2


# --- MetricsReader and friends ------------------------------------------------------------------


def test_metrics_reader_parses_appended_events_in_order(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = MetricsReader(path)
    assert reader.poll() == []  # no file yet
    append(path, event_line(1, loss=1.0) + event_line(2, loss=0.5))
    assert [e["step"] for e in reader.poll()] == [1, 2]
    append(path, event_line(3, loss=0.25))
    assert [(e["step"], e["loss"]) for e in reader.poll()] == [(3, 0.25)]
    assert reader.poll() == []


def test_metrics_reader_skips_foreign_and_blank_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(event_line(1) + "\n" + "not json\n" + "[1, 2]\n" + '"text"\n'
                    + event_line(2))
    assert [e["step"] for e in MetricsReader(path).poll()] == [1, 2]


def test_metrics_reader_after_truncation_takes_the_lot(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(event_line(s) for s in range(1, 6)))
    reader = MetricsReader(path)
    assert len(reader.poll()) == 5
    truncate_after_step(path, 2)
    assert [e["step"] for e in reader.poll()] == [1, 2]
    assert reader.restarted
    append(path, event_line(3))
    assert [e["step"] for e in reader.poll()] == [3]
    assert not reader.restarted


def test_parse_lines_takes_bytes_and_text():
    lines = [event_line(1).encode(), event_line(2), b"\xff\xfe", "  "]
    assert [e["step"] for e in parse_lines(lines)] == [1, 2]


def test_read_all_of_an_absent_file_is_empty(tmp_path):
    assert read_all(tmp_path / "missing.jsonl") == []


def test_writer_appends_whole_lines_and_flags_nonfinite_values(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(event_line(0))
    reader = MetricsReader(path)
    reader.poll()
    with MetricsWriter(path) as writer:
        written = writer.write("eval", 7, accuracy=0.5, loss=float("inf"), epoch=1.0)
        # Flushed per line: a reader sees the event before the writer closes.
        [seen] = reader.poll()
    assert seen == written
    assert seen["split"] == "eval" and seen["step"] == 7 and "time" in seen
    assert seen["loss"] is None and seen["nonfinite"] == ["loss"]
    assert [e["step"] for e in read_all(path)] == [0, 7]


def test_truncate_after_step_leaves_a_file_with_nothing_to_drop_alone(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(event_line(1) + event_line(2))
    inode = path.stat().st_ino
    truncate_after_step(path, 5)
    assert path.stat().st_ino == inode  # not rewritten: readers need not start over
    truncate_after_step(tmp_path / "missing.jsonl", 1)  # no file: nothing to do
    assert not (tmp_path / "missing.jsonl").exists()


def test_truncate_after_step_drops_later_steps_and_every_test_event(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(event_line(1) + json.dumps({"split": "test", "step": 1}) + "\n"
                    + event_line(2) + event_line(3))
    truncate_after_step(path, 2)
    assert [(e["split"], e["step"]) for e in read_all(path)] == [("train", 1), ("train", 2)]
