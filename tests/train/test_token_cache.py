"""Tokenised splits are cached on disk: a second load (another trial, another run) tokenises
nothing; a changed data file, max length or tokenizer is a new entry."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from toy_runs import toy_config

from emotui.train.batches import encode
from emotui.train.data import load_splits
from emotui.train.model import load_tokenizer
from emotui.train.token_cache import TokenCache, encode_splits, token_cache_dir


@pytest.fixture
def data_dir(toy_data_dir, tmp_path):
    """A copy of the toy data this test may edit."""
    return shutil.copytree(toy_data_dir, tmp_path / "data")


def load(config, folder):
    """What one run does: read the data, tokenise through a cache of its own (a new process)."""
    cache = TokenCache(folder)
    encoded = encode_splits(config, load_tokenizer(config), load_splits(config).splits, cache)
    return encoded, cache


def same_ids(a, b) -> bool:
    return len(a.ids) == len(b.ids) and all(np.array_equal(x, y) for x, y in zip(a.ids, b.ids))


def test_the_second_load_hits_the_cache_and_a_changed_file_misses(tiny_model_dir, data_dir,
                                                                   tmp_path):
    config = toy_config(tiny_model_dir, data_dir)
    folder = tmp_path / "tokens"
    first, cache = load(config, folder)
    assert (cache.hits, cache.misses) == (0, 3)
    second, cache = load(config, folder)
    assert (cache.hits, cache.misses) == (3, 0)
    for split in first:
        assert same_ids(first[split], second[split])
        assert np.array_equal(first[split].lengths, second[split].lengths)
        assert np.array_equal(first[split].labels, second[split].labels)

    test_file = data_dir / "test.jsonl"
    rows = [json.loads(line) for line in test_file.read_text().splitlines()]
    rows[0]["text"] += " and then some"
    test_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    third, cache = load(config, folder)
    assert (cache.hits, cache.misses) == (2, 1)  # only the changed split is tokenised again
    tokenizer = load_tokenizer(config)
    fresh = encode(tokenizer, [r["text"] for r in rows], [r["label"] for r in rows],
                   config.max_seq_length)
    assert same_ids(third["test"], fresh)
    assert not same_ids(third["test"], first["test"])


def test_max_length_limits_and_overwrite_cache_are_respected(tiny_model_dir, data_dir, tmp_path):
    folder = tmp_path / "tokens"
    load(toy_config(tiny_model_dir, data_dir), folder)
    _, cache = load(toy_config(tiny_model_dir, data_dir, max_seq_length=8), folder)
    assert cache.misses == 3  # other truncation: other entries
    _, cache = load(toy_config(tiny_model_dir, data_dir, max_train_samples=50), folder)
    assert (cache.hits, cache.misses) == (2, 1)  # other training texts
    _, cache = load(toy_config(tiny_model_dir, data_dir, overwrite_cache=True), folder)
    assert (cache.hits, cache.misses) == (0, 3)


def test_an_unreadable_entry_is_tokenised_again(tiny_model_dir, data_dir, tmp_path):
    config = toy_config(tiny_model_dir, data_dir)
    folder = tmp_path / "tokens"
    first, _ = load(config, folder)
    for entry in folder.glob("*.npz"):
        entry.write_bytes(b"not a zip file")
    again, cache = load(config, folder)
    assert (cache.hits, cache.misses) == (0, 3)
    assert all(same_ids(first[s], again[s]) for s in first)
    _, cache = load(config, folder)
    assert cache.hits == 3  # rewritten


def test_runs_keep_their_tokens_in_the_user_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTUI_CACHE_DIR", str(tmp_path / "cache"))
    assert TokenCache().folder == token_cache_dir() == tmp_path / "cache" / "tokens"
