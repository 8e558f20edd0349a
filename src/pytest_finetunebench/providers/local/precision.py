"""The precision local models train in: ``--ftb-precision=auto|fp32|bf16``.

``auto`` is bf16 autocast where it pays (GPUs with native bf16, compute capability 8.0 on; CPUs
with AMX: 1.3-1.6x faster), else fp32. ``bf16`` runs on any x86 CPU (without AMX torch emulates it,
only slower), so the bf16 path can be tested on every machine.

On a GPU answers are generated in it too; on a CPU in fp32 (:func:`generation_dtype`).
Log-likelihood scores are computed in fp32 whatever the precision. Measured on the untuned
SmolLM2-135M (an Intel CPU with AMX, 11 choices of 5 prompts): under bf16 autocast a reply's score
in a padded batch differed from the same reply scored alone by up to 0.33 nats (the kernels round
differently per shape), more than the margin between two choices often is; in fp32, by 3.5e-5.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from ..base import ProviderError

PRECISIONS = ("auto", "fp32", "bf16")


def has_amx() -> bool:
    """Whether torch's kernels can use AMX bf16 tile units: the CPU has them (Linux: /proc/cpuinfo)
    and oneDNN is not capped below them (``ONEDNN_MAX_CPU_ISA=AVX2``, say, as ``make test-avx2``
    runs the suite the way a CPU without AMX would)."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if isa not in ("ALL", "DEFAULT") and "AMX" not in isa:
        return False
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def resolve(requested: str | None, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what ``requested`` (default ``auto``) means on ``device``."""
    name = requested or "auto"
    if name not in PRECISIONS:
        raise ProviderError(f"--ftb-precision={requested}: use one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if native_bf16(device) else "fp32"
        return "bf16" if device.type == "cpu" and has_amx() else "fp32"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ProviderError("--ftb-precision=bf16: this GPU has no bf16; fix: --ftb-precision=fp32 or auto")
    return name


def native_bf16(device: torch.device) -> bool:
    """Whether a GPU computes bf16 in hardware: compute capability 8.0 (Ampere) or later.
    ``torch.cuda.is_bf16_supported()`` also counts emulation (T4, V100), which is slower than fp32."""
    return torch.cuda.get_device_capability(device) >= (8, 0)


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (``None``: plain fp32)."""
    return torch.bfloat16 if precision == "bf16" else None


def generation_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype answers are generated in: fp32 on a CPU, the training's elsewhere.

    On a CPU a bf16 forward rounds differently with the thread count and the batch's shapes, and
    the thread count follows the machine's load. Measured on the tuned SmolLM2-135M (2 cores of an
    Intel Xeon with AMX, 374 questions, greedy): 12 answers changed between 1 and 2 threads in
    bf16, none in fp32; fp32 took 20.7 s against 15.2 s. On a GPU, fp32 would double the weights'
    memory for every model; not measured there (no GPU was lent to this work).
    """
    return None if device.type == "cpu" else autocast_dtype(precision)


class FrozenCasts:
    """A training's frozen linear weights held in the autocast dtype, cast once rather than at each step.

    Autocast casts a linear layer's fp32 weight to bf16 at every call. A weight that does not train
    (LoRA's base layers, an output layer tied to the frozen embedding) gives the same bf16 tensor
    each time, so holding that copy changes no number: the same loss at every step, measured with
    and without. It saves the casts: SmolLM2-135M, LoRA r=16, batch 8, bf16, 2 cores of an Intel
    Xeon with AMX (BENCHMARKS.md): +10% tokens/s eager, +16% compiled. In the block each layer has
    a parameter of its own (a tied output layer stops sharing the embedding's); :meth:`originals`
    puts the fp32 parameters back, for a save, and leaving the block puts them back for good. Only
    weights in CPU memory are copied: on a GPU the copies would add half the frozen weights' size to
    its memory, for casts that are cheap there (not measured: no GPU was lent to this work).

    For the block it also stops peft's LoRA layers casting their input to the adapters' fp32: under
    autocast a bf16 input (the attention's output, the MLP's product) went to fp32 and straight back
    to bf16 for the adapter's matmul, and its gradient the same way back, both exact round trips.
    On any device: the numbers stay bit for bit the same (tested), without 8 casts a layer a step.
    """

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype | None) -> None:
        self._swaps: list[tuple[torch.nn.Module, str, torch.nn.Parameter, torch.nn.Parameter]] = []
        self._tuners: list[torch.nn.Module] = []  # peft's LoRA layers: their input cast autocast undoes
        for module in model.modules() if dtype is not None else ():
            if getattr(module, "cast_input_dtype_enabled", False):
                self._tuners.append(module)
            if not isinstance(module, torch.nn.Linear):
                continue
            for name in ("weight", "bias"):
                param = getattr(module, name)
                if param is None or param.requires_grad or param.dtype != torch.float32 or param.device.type != "cpu":
                    continue
                copy = torch.nn.Parameter(param.detach().to(dtype), requires_grad=False)
                self._swaps.append((module, name, param, copy))

    def __len__(self) -> int:
        return len(self._swaps)

    def _hold(self, copies: bool) -> None:
        for module, name, original, copy in self._swaps:
            setattr(module, name, copy if copies else original)

    def __enter__(self) -> FrozenCasts:
        self._hold(True)
        for tuner in self._tuners:
            tuner.cast_input_dtype_enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._hold(False)
        for tuner in self._tuners:
            tuner.cast_input_dtype_enabled = True

    @contextlib.contextmanager
    def originals(self) -> Iterator[None]:
        """The fp32 parameters for the block (a checkpoint's save merges into them)."""
        self._hold(False)
        try:
            yield
        finally:
            self._hold(True)
