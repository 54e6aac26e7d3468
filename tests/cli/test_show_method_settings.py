"""`emotui show` of a run names its own method's settings only: an IA3 run's config.yaml and
`ls` row hold every method's (lora_r, prefix_num_virtual_tokens, the P-tuning options), none of
which it used. On a terminal, piped and as JSON."""

from __future__ import annotations

import json

import pytest

from emotui.core import methods
from emotui.core.config import build_config, dump_config
from emotui.core.runstore import RunStore
from emotui.core.status import write_status

OTHER_METHODS = [f for f in methods.owned_fields() if "ia3" not in methods.owners(f)]


@pytest.fixture
def ia3_run(cli):
    config, _ = build_config([("test", {"method": "ia3", "model_name_or_path": "fixture/m"})])
    paths = RunStore(cli.runs_dir).create("ia3")
    paths.config.write_text(dump_config(config), encoding="utf-8")
    write_status(paths, state="completed")
    return paths.run_id


def _named(text: str) -> list[str]:
    return [f for f in OTHER_METHODS if f in text]


def test_piped_show_names_no_other_methods_settings(cli, ia3_run):
    result = cli("show", ia3_run)
    assert result.code == 0, result.err
    keys = [line.split("\t", 1)[0].rsplit(".", 1)[-1] for line in result.out.splitlines()]
    assert "peft_method" in keys or "config.peft_method" in result.out
    assert not [k for k in keys if k in OTHER_METHODS], result.out


def test_show_json_names_no_other_methods_settings(cli, ia3_run):
    payload = json.loads(cli("show", ia3_run, "--json").out)
    assert payload["method"] == "ia3"
    assert not [k for k in payload if k in OTHER_METHODS]
    assert not [k for k in payload["config"] if k in OTHER_METHODS]
    assert "ia3_target_modules" in payload["config"]  # its own stay, set or not


def test_terminal_show_names_no_other_methods_settings(cli, ia3_run, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("show", ia3_run)
    assert result.code == 0 and "peft_method=ia3" in result.out
    assert not _named(result.out), result.out
