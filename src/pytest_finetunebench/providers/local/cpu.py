"""Training on a CPU at the machine's speed: the thread count by measured speed, freed memory kept
for reuse, and eager attention. Each is measured in BENCHMARKS.md; none changes the numbers beyond
float rounding."""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Sequence
from typing import Any

import torch


class ThreadTuner:
    """Picks the CPU thread count from measured seconds per token at the start of a training, then keeps it.

    On an idle 2-core machine two threads are ~1.5x faster than one; when other processes keep
    the cores busy, a thread waiting for a descheduled peer makes two slower than one. So the first
    steps follow a fixed schedule (a warm-up step at the most threads, untimed; then each candidate
    timed ``TIMINGS`` times, in turn) and the fastest count is kept for the rest of the training.
    It is not switched later: the thread count changes float rounding, and a count that followed
    the machine's load step by step made two runs of the same training end with different numbers
    (measured: final losses 0.157 and 0.126, 203 and 198 items passed, in two ``make bench`` runs
    that used 1 thread for 19 and 36 of 90 steps). The schedule does not depend on any timing.
    """

    TIMINGS = 2

    def __init__(self, candidates: Sequence[int]) -> None:
        self.candidates = list(candidates)
        self.cost: dict[int, list[float]] = {}
        self.steps = 0
        self.current = torch.get_num_threads()
        self.kept: int | None = None

    def choose(self) -> int:
        if not self.candidates:
            return self.current
        timed = self.TIMINGS * len(self.candidates)
        if self.steps == 0:  # the first step is a warm-up (allocations, kernel selection): not timed
            n = max(self.candidates)
        elif self.steps <= timed:
            n = self.candidates[(self.steps - 1) % len(self.candidates)]
        else:
            self.kept = n = self.kept or self.best()
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n
        return n

    def best(self) -> int:
        """The count with the least mean seconds per token so far."""
        return min(self.cost, key=lambda n: sum(self.cost[n]) / len(self.cost[n]))

    def fastest(self) -> int | None:
        """The count to keep after training (answers run with it), ``None`` before two were timed."""
        return self.kept or (self.best() if len(self.cost) > 1 else None)

    def record(self, seconds: float, tokens: int) -> None:
        if self.steps > 0 and tokens > 0 and self.kept is None:
            self.cost.setdefault(self.current, []).append(seconds / tokens)
        self.steps += 1


# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


@contextlib.contextmanager
def reuse_freed_memory():
    """Keep freed memory in the heap while training on the CPU (glibc only), then hand it back.

    glibc serves large blocks (every bf16 weight copy autocast makes, every gradient) with fresh
    ``mmap`` pages and unmaps them on free, so each step page-faults in ~400 MB again: ~100k
    minor faults a step, a quarter of SmolLM2's step time on 2 cores. With ``mmap`` off and no
    trimming, a step reuses the previous step's blocks (~3k faults). Afterwards the thresholds are
    set to what glibc's own dynamic scheme settles at (32 MB mmap, 64 MB trim) and the heap trimmed.
    """
    libc = None
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:  # musl and others: no libc.so.6
            libc = None
        if libc is not None and not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
            libc = None
    if libc is None or not libc.mallopt(_M_MMAP_MAX, 0):
        yield
        return
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 40)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_MAX, 65536)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
        libc.malloc_trim(0)


@contextlib.contextmanager
def cpu_attention(model: Any, device: torch.device):
    """Eager attention while training on the CPU: torch's CPU flash-attention backward costs
    ~8 ms per layer on SmolLM2's 8 x 40-token batches, the eager matmul + softmax a fraction of
    that (+14% tokens/s). The implementation is not saved with the weights; restored afterwards."""
    before = getattr(getattr(model, "config", None), "_attn_implementation", None)
    switch = device.type == "cpu" and before == "sdpa" and hasattr(model, "set_attn_implementation")
    if switch:
        try:
            model.set_attn_implementation("eager")
        except Exception:  # models that cannot switch keep theirs
            switch = False
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(before)
