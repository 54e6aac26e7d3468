"""Packing values into lines: breaks fall between values, never inside one."""

from __future__ import annotations

from emotui.core.layout import line_starts, pack_plain


def test_breaks_only_where_the_next_value_would_not_fit():
    # 5 + 2 + 5 = 12 fits in 12; the third value would reach 19.
    assert line_starts([5, 5, 5], 12, 2) == [False, False, True]
    assert line_starts([5, 5, 5], 100, 2) == [False, False, False]
    assert line_starts([5, 5, 5], 0, 2) == [False, False, False]  # width unknown: one line


def test_a_value_longer_than_the_line_has_a_line_of_its_own():
    assert line_starts([3, 30, 3], 10, 2) == [False, True, True]


def test_plain_lines_end_with_the_separators_mark():
    assert pack_plain(["a=1", "bb=22", "c=3"], 10, ", ") == ["a=1, bb=22,", "c=3"]
    assert pack_plain(["ETA 5m", "elapsed 3s"], 12, "  ") == ["ETA 5m", "elapsed 3s"]
    assert pack_plain([], 10, ", ") == []
