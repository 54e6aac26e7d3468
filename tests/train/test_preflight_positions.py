"""Virtual tokens take positions before the text (prefix tuning, P-tuning, prompt tuning: the
text's position ids start after them): their number plus max_seq_length past what the model's
config.json allows is refused before the run exists, in one line, not after the start-up."""

from __future__ import annotations

import json
import time

import pytest

from emotui.cli.main import main
from emotui.core.config import build_config
from emotui.core.errors import ConfigError
from emotui.train.preflight import check_before_run, virtual_tokens

# RoBERTa's family: positions start after the padding index, so 514 take 512 tokens.
ROBERTA = {"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(ROBERTA))
    (folder / "model.safetensors").write_bytes(b"stand-in")
    (folder / "tokenizer.json").write_text("{}")
    return folder


def _config(model_dir, method: str, **values):
    config, _ = build_config([("test", {"method": method, "model_name_or_path": str(model_dir),
                                        "dataset_name": None, **values})])
    return config


@pytest.mark.parametrize("method, setting", [
    ("prefix", "prefix_num_virtual_tokens"), ("p-tuning", "p_tuning_num_virtual_tokens"),
    ("prompt-random", "prompt_tuning_num_virtual_tokens"),
    ("prompt-text", "prompt_tuning_num_virtual_tokens")])
def test_virtual_tokens_and_text_past_the_positions_are_refused(model_dir, method, setting):
    config = _config(model_dir, method, max_seq_length=500, **{setting: 20})
    assert virtual_tokens(config) == (setting, 20)
    with pytest.raises(ConfigError) as caught:
        check_before_run(config)
    message = str(caught.value)
    assert "20 virtual tokens" in message and "max_seq_length 500" in message
    assert "512 positions" in message and f"--{setting} to 12" in message
    check_before_run(_config(model_dir, method, max_seq_length=492, **{setting: 20}))  # fits


def test_methods_without_virtual_tokens_use_every_position(model_dir):
    for method in ("full", "lora", "ia3"):
        config = _config(model_dir, method, max_seq_length=512)
        assert virtual_tokens(config) is None
        check_before_run(config)


def test_emotui_run_refuses_it_at_once_and_keeps_nothing(model_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    started = time.monotonic()
    code = main(["run", "--method", "prefix", "--model_name_or_path", str(model_dir),
                 "--max_seq_length", "510", "--runs-dir", str(runs)])
    assert code == 2
    assert time.monotonic() - started < 10  # no model loaded, nothing trained
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "virtual tokens (prefix_num_virtual_tokens)" in err
    assert not runs.exists() or not any(runs.iterdir())
