"""Local paths in a run config: saved normalised, and a missing local folder refused at once."""

from __future__ import annotations

import pytest

from emotui.core.config import build_config
from emotui.core.config_checks import looks_like_missing_local_path
from emotui.core.errors import ConfigError


def test_relative_paths_are_saved_normalised(tmp_path, monkeypatch):
    model = tmp_path / "shared" / "model"
    model.mkdir(parents=True)
    data = tmp_path / "shared" / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"text": "hi", "label": 0}\n')
    work = tmp_path / "emotui"
    work.mkdir()
    monkeypatch.chdir(work)
    config, _ = build_config([("test", {"model_name_or_path": "../shared/model",
                                        "train_file": "../shared/./data/train.jsonl"})])
    # The same folder is one value in every table, however it was spelled.
    assert config.model_name_or_path == str(model)
    assert config.train_file == str(data / "train.jsonl")


@pytest.mark.parametrize("value, missing", [
    ("./missing", True), ("../missing", True), ("/no/such/model", True), ("~/no-such", True),
    ("a/b/c", True), ("org/../name", True), ("roberta-base", False),
    ("FacebookAI/roberta-base", False), ("sentence-transformers/all-MiniLM-L6-v2", False),
])
def test_what_counts_as_a_missing_local_folder(value, missing):
    assert looks_like_missing_local_path(value) is missing


def test_a_missing_tokenizer_folder_is_refused_too():
    with pytest.raises(ConfigError, match=r"tokenizer_name \(from test\): folder ./tok does not"):
        build_config([("test", {"tokenizer_name": "./tok"})])
