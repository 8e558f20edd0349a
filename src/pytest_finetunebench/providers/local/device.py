"""Where the embedded model runs: the device (cuda, mps or cpu) and, on a CPU, how many threads.

On a CPU the thread count is this process's share of the cores among pytest-xdist workers, less
what other processes keep busy; training then picks among a few counts by measured speed.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..base import ProviderError


def pick_device(requested: str | None) -> torch.device:
    """``auto`` (default): cuda, then mps, then cpu. CUDA without an index is this pytest-xdist
    worker's GPU (worker N on GPU N mod the GPUs), so the workers spread over a machine's GPUs;
    ``cuda:1`` is GPU 1."""
    name = (requested or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ProviderError(f"--ftb-device={requested}: {exc}") from None
    mps = getattr(torch.backends, "mps", None)
    if (device.type == "cuda" and not torch.cuda.is_available()) or (
        device.type == "mps" and not (mps is not None and mps.is_available())
    ):
        raise ProviderError(
            f"--ftb-device={requested}: no {device.type} device on this machine; fix: --ftb-device=auto or cpu"
        )
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", worker_index() % torch.cuda.device_count())
    if device.type == "cuda" and device.index >= torch.cuda.device_count():
        raise ProviderError(
            f"--ftb-device={requested}: this machine has {torch.cuda.device_count()} GPU(s), numbered from 0;"
            " fix: --ftb-device=cuda"
        )
    return device


def worker_index() -> int:
    """This pytest-xdist worker's number (``gw3``: 3), 0 outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def cpu_share() -> int:
    """The cores this process may use: all of them shared out among pytest-xdist workers."""
    return max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))


def thread_candidates(requested: Any) -> tuple[int, ...]:
    """Thread counts training chooses among by measured speed; none when the option fixes it."""
    if requested:
        return ()
    share = cpu_share()
    return tuple(sorted({1, max(1, share // 2), share}))


def pick_threads(requested: Any) -> int:
    """CPU threads for torch: the option, else the cores this process can have to itself.

    That is the cores shared out among pytest-xdist workers, less those other processes keep busy
    (the 1-minute load average): more threads than free cores oversubscribe the CPU, and OpenMP
    threads waiting on a descheduled peer make each step several times slower. Training starts
    from this and then picks among :func:`thread_candidates` by measured speed.
    """
    if requested:
        return max(1, int(requested))
    cores = os.cpu_count() or 1
    share = cpu_share()
    try:
        free = cores - os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows)
        free = cores
    return max(1, min(share, round(free)))
