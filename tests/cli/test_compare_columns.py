"""Which hyperparameter columns `emotui compare` shows: those whose values tell the runs apart
(as a table shows them), the learning rate whenever a run has one."""

from __future__ import annotations

from emotui.cli import compare_cmd
from emotui.cli.compare_cmd import choose_columns


def rows_with(values, key="lora_r"):
    return [{"run_id": f"r{i}", key: value} for i, value in enumerate(values)]


def test_a_column_that_differs_only_past_the_first_rows_is_shown():
    probe = compare_cmd._PROBE_ROWS
    same = rows_with([8] * (3 * probe))
    assert "lora_r" not in choose_columns(same, None)
    late = rows_with([8] * (3 * probe) + [16])
    assert "lora_r" in choose_columns(late, None)
    early = rows_with([8, 16] + [8] * (3 * probe))
    assert "lora_r" in choose_columns(early, None)


def test_values_that_read_the_same_in_a_table_do_not_differ():
    assert "lora_r" not in choose_columns(rows_with([1, 1.0, None, "1"] * 300), None)
    assert "lora_r" in choose_columns(rows_with([1, None, "2"] * 300), None)


def test_unhashable_values_are_compared_one_by_one():
    assert "lora_r" not in choose_columns(rows_with([[1, 2]] * 700), None)
    assert "lora_r" in choose_columns(rows_with([[1, 2]] * 700 + [[1, 3]]), None)


def test_the_learning_rate_is_shown_when_any_run_has_one():
    rows = rows_with([None] * 900 + [2e-5], key="learning_rate")
    assert "learning_rate" in choose_columns(rows, None)
    assert "learning_rate" not in choose_columns(rows_with([None] * 900, "learning_rate"), None)
