"""The precision local models train and answer in: ``--ftb-precision=auto|fp32|bf16``.

``auto`` is bf16 autocast where it pays (CUDA with bf16, CPUs with AMX: 1.3-1.6x faster), else
fp32. ``bf16`` runs on any x86 CPU (without AMX torch emulates it, only slower), so the bf16 path
can be tested on every machine.

Log-likelihood scores are computed in fp32 whatever the precision. Measured on the untuned
SmolLM2-135M (an Intel CPU with AMX, 11 choices of 5 prompts): under bf16 autocast a reply's score
in a padded batch differed from the same reply scored alone by up to 0.33 nats (the kernels round
differently per shape), more than the margin between two choices often is; in fp32, by 3.5e-5.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .base import ProviderError

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
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device.type == "cpu" and has_amx() else "fp32"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ProviderError("--ftb-precision=bf16: this GPU has no bf16; fix: --ftb-precision=fp32 or auto")
    return name


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (``None``: plain fp32)."""
    return torch.bfloat16 if precision == "bf16" else None
