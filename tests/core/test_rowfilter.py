"""Row filters (``emotui compare --filter``): every operator, numbers vs text, missing values,
aliases, and the one-line errors a bad filter gets."""

from __future__ import annotations

import pytest

from emotui.core.errors import ConfigError
from emotui.core.rowfilter import filter_rows, parse_filter

ROWS = [
    {"run_id": "r1", "method": "lora", "learning_rate": 0.001, "test_accuracy": 0.93,
     "status": "completed", "model_name_or_path": "FacebookAI/roberta-base",
     "lora_target_modules": "query,value", "collapsed": False, "eval/accuracy": 0.9},
    {"run_id": "r2", "method": "full", "learning_rate": 2e-5, "test_accuracy": 0.925,
     "status": "completed", "model_name_or_path": "all-MiniLM-L6-v2", "collapsed": True},
    {"run_id": "r3", "method": "prompt_tuning_text", "learning_rate": 0.02,
     "test_accuracy": None, "status": "running", "model_name_or_path": "roberta-base"},
]


def ids(expr: str, columns=None) -> list[str]:
    return [row["run_id"] for row in filter_rows(ROWS, [expr], columns)]


@pytest.mark.parametrize("expr, expected", [
    ("method=lora", ["r1"]),
    ("method==lora", ["r1"]),
    ("method!=lora", ["r2", "r3"]),
    ("learning_rate>0.001", ["r3"]),
    ("learning_rate>=0.001", ["r1", "r3"]),
    ("learning_rate<0.001", ["r2"]),
    ("learning_rate<=0.001", ["r1", "r2"]),
    ("model_name_or_path~ROBERTA", ["r1", "r3"]),
])
def test_every_operator(expr, expected):
    assert ids(expr) == expected


def test_numbers_compare_as_numbers_and_text_without_case():
    assert ids("learning_rate=1e-3") == ["r1"]  # 0.001 written another way
    assert ids("learning_rate>2e-05") == ["r1", "r3"]  # not "0.001" > "2e-05" as text
    assert ids("method=LoRA") == ["r1"]
    assert ids("status>=running") == ["r3"]  # text orders as text
    assert ids("collapsed=true") == ["r2"]  # booleans are words, not 1 and 0


def test_none_matches_a_missing_value_and_quotes_keep_it_literal():
    assert ids("test_accuracy=none") == ["r3"]
    assert ids("test_accuracy==null") == ["r3"]
    assert ids("test_accuracy!=none") == ["r1", "r2"]
    assert ids("lora_target_modules=none") == ["r2", "r3"]  # an absent column is missing too
    rows = [{"run_id": "n", "name": "none"}, {"run_id": "m", "name": None}]
    assert [r["run_id"] for r in filter_rows(rows, ["name='none'"])] == ["n"]
    assert [r["run_id"] for r in filter_rows(rows, ['name="none"'])] == ["n"]


def test_a_row_without_the_column_fails_every_condition_but_not_equal():
    for op in ("=", "==", ">", ">=", "<", "<=", "~"):
        assert "r2" not in ids(f"lora_target_modules{op}query"), op
    assert ids("lora_target_modules!=query") == ["r1", "r2", "r3"]


def test_conditions_join_with_and_and_values_may_hold_commas():
    assert ids("method=lora and test_accuracy>0.9") == ["r1"]
    assert ids("status=completed AND learning_rate<1e-3") == ["r2"]
    assert ids("lora_target_modules=query,value") == ["r1"]
    assert ids("  method = full  ") == ["r2"]  # spaces around the parts are fine


def test_several_filters_must_all_hold_and_none_is_skipped():
    assert [r["run_id"] for r in filter_rows(ROWS, ["status=completed", None, "method!=full"])] \
        == ["r1"]
    assert filter_rows(ROWS, []) == ROWS


def test_aliases_and_column_names_with_slashes():
    assert ids("lr<1e-4") == ["r2"]
    assert ids("acc>=0.93") == ["r1"]
    assert ids("state=running") == ["r3"]
    assert ids("id=r2") == ["r2"]
    assert ids("eval/accuracy>0.5") == ["r1"]


def test_known_columns_refuse_unknown_ones_with_a_suggestion():
    columns = ["run_id", "method", "learning_rate", "test_accuracy", "status"]
    assert ids("lr<1e-4", columns) == ["r2"]  # aliases resolve before the check
    with pytest.raises(ConfigError, match=r"unknown column 'test_acuracy'; did you mean "
                                          r"'test_accuracy'\?"):
        parse_filter("test_acuracy>0.9", columns)
    with pytest.raises(ConfigError) as raised:
        parse_filter("zzz=1", columns)
    assert str(raised.value) == "filter: unknown column 'zzz'"


@pytest.mark.parametrize("expr", ["method", "=lora", "method lora", "1abc=2"])
def test_malformed_conditions_say_what_a_filter_looks_like(expr):
    with pytest.raises(ConfigError) as raised:
        parse_filter(expr)
    message = str(raised.value)
    assert "is not COLUMN OP VALUE" in message and "--filter 'method=lora" in message
    assert "\n" not in message


@pytest.mark.parametrize("expr", ["", "   "])
def test_an_empty_filter_is_refused(expr):
    with pytest.raises(ConfigError, match="empty filter"):
        parse_filter(expr)
