"""torch.compile for the default recipe: when it pays, what it compiles, where its cache lives.

When: ``torch_compile`` true/false decides; unset ("auto") compiles only on a CUDA device and only
for runs of at least ``AUTO_COMPILE_MIN_STEPS`` optimizer steps. On the CPU, compiling costs
tens of seconds and saves little (the arithmetic, not kernel launches, is what takes the time);
a short GPU run does not win its compile time back.

What: the model's repeated blocks (the encoder layers), each compiled in place with dynamic
shapes. The layers share one compiled graph per mode (train / eval), so compile time is that of
one layer, not of the whole network; dynamic shapes let every batch keep its own width (no
padding to a few bucket sizes). Parameter names are unchanged, so checkpoints are too.

Where: inductor's FX-graph and AOT-autograd caches live in ``<user cache>/compile``, so only the
first run of a model/method/shape set pays the full compile; later runs and sweep trials load
the compiled kernels. ``TORCHINDUCTOR_CACHE_DIR`` set by the user wins.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from emotui.core.general_settings import AUTO_COMPILE_MIN_STEPS
from emotui.core.userconfig import user_cache_dir

log = logging.getLogger("emotui")

# Train/eval mode, masks present or not, grad or no-grad, and several methods in one process (the
# benchmark) each recompile the shared layer code; dynamo's default limit (8) would silently fall
# back to eager.
RECOMPILE_LIMIT = 64


def should_compile(setting: bool | None, device: torch.device, planned_steps: int) -> bool:
    """The rule the module docstring states: an explicit setting wins, else CUDA and long runs."""
    if setting is not None:
        return setting
    return device.type == "cuda" and planned_steps >= AUTO_COMPILE_MIN_STEPS


def compile_cache_dir() -> Path:
    """Where compiled kernels are kept across runs: $TORCHINDUCTOR_CACHE_DIR, else the user's."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    explicit = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # Inductor writes its own default (a temporary folder) into the variable once it has used it.
    if explicit and os.path.abspath(explicit) != os.path.abspath(default_cache_dir()):
        return Path(explicit)
    return user_cache_dir() / "compile"


def use_compile_cache() -> Path:
    """Point inductor's on-disk caches at ``compile_cache_dir()``; call before compiling."""
    folder = compile_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


def repeated_blocks(model: nn.Module) -> list[nn.Module]:
    """The largest list of same-class blocks in the model (a transformer's layers), else []."""
    best: list[nn.Module] = []
    best_size = 0
    for module in model.modules():
        if not isinstance(module, nn.ModuleList) or len(module) < 2:
            continue
        blocks = list(module)
        if len({type(b) for b in blocks}) != 1:
            continue
        size = sum(p.numel() for b in blocks for p in b.parameters())
        if size > best_size:
            best, best_size = blocks, size
    return best


def compile_model(model: nn.Module, *, mode: str | None = None, regional: bool = True
                  ) -> nn.Module:
    """Compile ``model`` for training and evaluation; returns what the loop should call.

    Regional (default): each repeated block compiled in place, the model itself returned.
    Otherwise (or without repeated blocks): ``torch.compile`` of the whole model.
    """
    use_compile_cache()
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit,
                                               RECOMPILE_LIMIT)
    blocks = repeated_blocks(model) if regional else []
    if blocks:
        for block in blocks:
            block.compile(dynamic=True, mode=mode)
        return model
    return torch.compile(model, dynamic=True, mode=mode)


def uses_cuda_graphs(mode: str | None) -> bool:
    return bool(mode) and "reduce-overhead" in mode


def mark_step() -> None:
    """A new iteration starts: CUDA graphs may reuse the previous one's output buffers."""
    torch.compiler.cudagraph_mark_step_begin()


@dataclass
class CompileStats:
    """Compile work done by this process since ``start()``: seconds, and cache use."""

    seconds: float = 0.0
    graphs: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    @staticmethod
    def now() -> "CompileStats":
        from torch._dynamo.utils import calculate_time_spent, counters

        inductor = counters["inductor"]
        return CompileStats(
            seconds=calculate_time_spent().get("total_wall_time", 0.0),
            graphs=int(counters["stats"]["unique_graphs"]),
            cache_hits=int(inductor["fxgraph_cache_hit"]),
            cache_misses=int(inductor["fxgraph_cache_miss"]),
        )

    def since(self, start: "CompileStats") -> "CompileStats":
        return CompileStats(round(self.seconds - start.seconds, 3), self.graphs - start.graphs,
                            self.cache_hits - start.cache_hits,
                            self.cache_misses - start.cache_misses)

