"""TextTail: backlog start skips a cut first line; torn lines wait; a replaced log starts over."""

from emotui.tui.sources.tail import TextTail


def test_backlog_partial_lines_and_replacement(tmp_path):
    log = tmp_path / "stdout.log"
    log.write_text("".join(f"line {i:03d}\n" for i in range(100)))  # 9 bytes a line
    tail = TextTail(log, backlog=40)
    assert tail.poll() == ["line 096", "line 097", "line 098", "line 099"]  # cut line dropped
    with open(log, "a") as fh:
        fh.write("torn")
    assert tail.poll() == []
    with open(log, "a") as fh:
        fh.write(" now whole\n")
    assert tail.poll() == ["torn now whole"]
    replacement = tmp_path / "new.log"
    replacement.write_text("fresh\n")
    replacement.replace(log)
    assert tail.poll() == ["fresh"]
