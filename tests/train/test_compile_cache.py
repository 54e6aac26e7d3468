"""torch_compile: when auto compiles, and a second run reusing the first run's compiled kernels."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from emotui.core.config import build_config
from emotui.core.errors import ConfigError
from emotui.core.general_settings import AUTO_COMPILE_MIN_STEPS
from emotui.train.compiling import (
    CompileStats,
    compile_cache_dir,
    compile_model,
    repeated_blocks,
    should_compile,
)

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_compiles_only_long_runs_on_a_gpu():
    assert should_compile(None, CUDA, AUTO_COMPILE_MIN_STEPS) is True
    assert should_compile(None, CUDA, AUTO_COMPILE_MIN_STEPS - 1) is False
    assert should_compile(None, CPU, 100 * AUTO_COMPILE_MIN_STEPS) is False
    assert should_compile(True, CPU, 1) is True  # an explicit setting wins
    assert should_compile(False, CUDA, 100 * AUTO_COMPILE_MIN_STEPS) is False


@pytest.mark.parametrize("raw, value", [(None, None), ("auto", None), ("AUTO", None),
                                        (True, True), ("true", True), (False, False),
                                        ("off", False)])
def test_torch_compile_takes_auto_and_the_old_true_false(raw, value):
    layer = {} if raw is None else {"torch_compile": raw}
    config, _ = build_config([("test", layer)])
    assert config.torch_compile is value


def test_a_bad_torch_compile_value_is_one_line():
    with pytest.raises(ConfigError, match="torch_compile .* must be true, false or auto"):
        build_config([("test", {"torch_compile": "sometimes"})])


def test_the_compile_cache_lives_in_the_user_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "unset below")  # restored after the test
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    assert compile_cache_dir() == tmp_path / "cache" / "compile"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert compile_cache_dir() == tmp_path / "mine"  # the user's own choice wins


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(x + torch.nn.functional.gelu(self.linear(x)))


class TinyEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.layers = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        h = self.embed(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h[:, 0])


def compile_and_run() -> CompileStats:
    """A fresh model through compile_model, trained one step at two sequence lengths."""
    from torch._inductor.utils import clear_caches

    # A new run: dynamo forgets its compiled code, inductor its in-memory caches.
    torch._dynamo.reset()
    clear_caches()
    start = CompileStats.now()
    model = TinyEncoder()
    assert compile_model(model) is model  # compiled in place, layer by layer
    for width in (5, 9):
        model(torch.randn(3, width, 4)).sum().backward()
    return CompileStats.now().since(start)


@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
                    reason="inductor needs a C++ compiler on the CPU")
def test_a_second_compile_of_the_same_model_and_shapes_reuses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "unset below")  # restored after the test
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    assert len(repeated_blocks(TinyEncoder())) == 2
    first = compile_and_run()
    assert first.graphs >= 1 and first.cache_misses >= 2  # forward and backward compiled
    assert first.cache_hits == 0
    assert any((tmp_path / "cache" / "compile").iterdir())
    second = compile_and_run()
    assert second.cache_misses == 0  # nothing compiled again:
    assert second.cache_hits == first.cache_misses  # every graph came from the cache
