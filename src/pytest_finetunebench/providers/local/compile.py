"""``--ftb-compile``: training through ``torch.compile`` (inductor), one decoder layer at a time.

Each decoder layer is compiled in place (``nn.Module.compile``), so the weights keep their names for
saving and merging. The layers share their graphs (torch inlines the modules, the weights are
inputs; the first layer gets its own, its input needing no gradient), and dynamic shapes keep a new
batch width from recompiling. Inductor fuses the elementwise work between the matmuls (autocast's
casts, LoRA's scaling, RMSNorm, SiLU) that dominates a small model's step on a CPU. Measured on
SmolLM2-135M, LoRA r=16, batch 8, 2 cores of an Intel Xeon with AMX (BENCHMARKS.md): a step about
1.5x faster in bf16 and 1.35x in fp32, after a first step that compiles for about a minute (inductor
caches the result on disk, so a later run compiles in seconds). The compiled bf16 step rounds fewer
intermediates to bf16 than eager autocast does, so its losses differ; that is why the setting is
part of the tuned model's key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from ..base import ProviderError


def decoder_layers(model: Any) -> list[torch.nn.Module]:
    """The repeated decoder layers of a causal LM (through a LoRA wrapper)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        raise ProviderError(
            f"--ftb-compile: {type(inner).__name__} has no list of decoder layers to compile; fix: drop --ftb-compile"
        )
    return list(layers)


@contextlib.contextmanager
def compiled_layers(model: Any, enabled: bool) -> Iterator[None]:
    """Compile ``model``'s decoder layers for the block, if ``enabled``; plain modules afterwards.

    The CPU kernels' vector width is set explicitly, which puts it in the key of inductor's
    on-disk cache: left unset, inductor picks it from ``ATEN_CPU_CAPABILITY`` but keys the cache
    without it, and kernels built for AVX2 then served under AVX-512 (or the reverse) trained to
    NaN losses (measured with torch 2.13.0: ``make test`` and ``make test-avx2`` on one machine).
    """
    if not enabled:
        yield
        return
    from torch._inductor import config
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    try:
        with config.patch({"cpp.simdlen": pick_vec_isa().bit_width()}):
            yield
    finally:
        for layer in layers:
            layer._compiled_call_impl = None


def graphs_built() -> int:
    """How many graphs torch.compile has built in this process (a recompile adds one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
