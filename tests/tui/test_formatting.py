"""Packing a summary's values into lines: a value never splits across two."""

from __future__ import annotations

from rich.text import Text

from emotui.tui.formatting import pack

PARTS = ["step 562/1250", "2220 samples/s", "61.5k tokens/s", "31% padding",
         "best eval 81.40%", "local"]


def test_values_wrap_whole_at_the_width():
    lines = pack(PARTS, 78, " · ").plain.split("\n")
    assert lines == ["step 562/1250 · 2220 samples/s · 61.5k tokens/s · 31% padding",
                     "best eval 81.40% · local"]
    assert all(len(line) <= 78 for line in lines)


def test_one_line_when_it_fits_or_the_width_is_unknown():
    wide = pack(PARTS, 160, " · ").plain
    assert "\n" not in wide and wide.count(" · ") == len(PARTS) - 1
    assert pack(PARTS, 0, " · ").plain == wide


def test_a_value_wider_than_the_line_gets_a_line_of_its_own():
    lines = pack(["running", "x" * 30, "ETA 5m"], 20, "  ").plain.split("\n")
    assert lines == ["running", "x" * 30, "ETA 5m"]


def test_styles_survive_packing():
    packed = pack([Text("running", style="bold"), "lora"], 80, "  ")
    assert packed.plain == "running  lora"
    assert any(span.style == "bold" and packed.plain[span.start:span.end] == "running"
               for span in packed.spans)
