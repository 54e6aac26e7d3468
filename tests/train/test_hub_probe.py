"""An unreachable Hub is found with one quick probe, and the process then loads offline."""

import os
import socket

from emotui.core.config import build_config
from emotui.train.hub import OFFLINE_VARIABLES, go_offline_if_unreachable, hub_unreachable, needs_hub


def config(**values):
    return build_config([("test", values)])[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def test_needs_hub_only_for_names_that_are_not_local(tiny_model_dir, toy_data_dir):
    assert needs_hub(config())  # roberta-base + dair-ai/emotion
    local = config(model_name_or_path=str(tiny_model_dir), data_dir=str(toy_data_dir))
    assert not needs_hub(local)
    assert needs_hub(config(model_name_or_path=str(tiny_model_dir)))  # Hub dataset


def test_probe_reports_a_closed_endpoint():
    problem = hub_unreachable(f"http://127.0.0.1:{closed_port()}", timeout=2)
    assert problem and "127.0.0.1" in problem


def test_unreachable_hub_switches_the_process_offline(monkeypatch):
    for name in OFFLINE_VARIABLES + ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    go_offline_if_unreachable(config())
    assert all(os.environ.get(name) == "1" for name in OFFLINE_VARIABLES)
