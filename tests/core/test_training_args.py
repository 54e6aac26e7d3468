"""The table of TrainingArguments' field types (core/training_args_table.py) is what the
installed transformers declares: the CLI checks pass-through settings against it without
importing transformers."""

from __future__ import annotations

import pytest


def test_the_table_is_what_transformers_declares():
    pytest.importorskip("transformers")
    from emotui.core.training_args import generate_table
    from emotui.core.training_args_table import TYPES

    fresh: dict = {}
    exec(generate_table(), fresh)  # noqa: S102 - our own generated module text
    assert TYPES == fresh["TYPES"], "regenerate it: python -m emotui.core.training_args"


def test_every_pass_through_name_transformers_has_is_in_the_table():
    transformers = pytest.importorskip("transformers")
    import dataclasses

    from emotui.core.config import EXTRA_TRAINING_ARGS
    from emotui.core.training_args_table import TYPES

    fields = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    assert set(TYPES) == EXTRA_TRAINING_ARGS & fields
