"""An inline run that fails points to a log that holds the traceback (`emotui logs RUN
--stderr`), not to an empty stderr.log."""

from __future__ import annotations

import re

import emotui.train
import emotui.train.hub


def fail_deep_inside(config, run_dir, *, resume=False, stop_event=None):
    def load_batch():
        raise RuntimeError("boom in the data loader")

    load_batch()


def test_the_hint_names_a_log_with_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(emotui.train, "train", fail_deep_inside)
    # Training is stood in: it loads nothing, so no Hub needs reaching for roberta-base.
    monkeypatch.setattr(emotui.train.hub, "unloadable_here", lambda config: None)
    result = cli("run", "-q")
    assert result.code == 1, result.err
    line = result.err.strip().splitlines()[-1]
    assert "RuntimeError: boom in the data loader" in line
    hint = re.search(r"details: (emotui logs (\S+) --stderr)", line)
    assert hint, line
    logs = cli("logs", hint.group(2), "--stderr")
    assert logs.code == 0
    assert "Traceback (most recent call last)" in logs.out
    assert "in load_batch" in logs.out and "RuntimeError: boom in the data loader" in logs.out
