"""An unreachable Hub is found with one quick probe, and the process then loads offline."""

import os
import socket

import pytest

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


def test_an_unreachable_hub_refuses_a_name_the_cache_lacks_before_the_run(monkeypatch, tmp_path,
                                                                          tiny_model_dir):
    from emotui.core.errors import ConfigError
    from emotui.launch.runs import check_start
    from emotui.train import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    message = hub.unloadable_here(config(cache_dir=str(cache)))  # roberta-base first
    assert message.startswith("cannot reach the Hugging Face Hub (HF_HUB_OFFLINE is set) to "
                              "load 'roberta-base' (--model_name_or_path)")
    assert message.endswith("pass a local folder to --model_name_or_path")
    local_model = config(model_name_or_path=str(tiny_model_dir), cache_dir=str(cache))
    message = hub.unloadable_here(local_model)
    assert "dataset 'dair-ai/emotion'" in message and "--train_file" in message
    # Cached (offline loading reads the cache): left to training.
    (cache / "datasets--dair-ai--emotion").mkdir()
    assert hub.unloadable_here(local_model) is None
    (cache / "models--roberta-base").mkdir()
    assert hub.unloadable_here(config(cache_dir=str(cache))) is None
    # A run started on this machine is refused; a Slurm job's node may reach what this one
    # cannot, and its run is left to it.
    with pytest.raises(ConfigError, match="cannot reach the Hugging Face Hub"):
        check_start(config(cache_dir=str(tmp_path / "empty")), "inline")
    with pytest.raises(ConfigError, match="cannot reach the Hugging Face Hub"):
        check_start(config(cache_dir=str(tmp_path / "empty")), "local")
    check_start(config(cache_dir=str(tmp_path / "empty")), "slurm")


def test_a_reachable_hub_is_left_to_training(monkeypatch, tmp_path):
    from emotui.train import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_unreachable", lambda: None)
    assert hub.unloadable_here(config(cache_dir=str(tmp_path))) is None
    monkeypatch.setattr(hub, "hub_unreachable", lambda: "huggingface.co:443: no route")
    assert "(huggingface.co:443: no route)" in hub.unloadable_here(config(cache_dir=str(tmp_path)))
