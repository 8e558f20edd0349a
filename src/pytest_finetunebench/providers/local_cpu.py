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
    """Picks the CPU thread count step by step from measured seconds per token.

    On an idle 2-core machine two threads are ~1.5x faster than one; when other processes keep
    the cores busy, a thread waiting for a descheduled peer makes two slower than one. Which holds
    changes while a training runs, so each candidate is timed (an average of its recent steps),
    the fastest used, and the others re-timed every ``PROBE_EVERY`` steps. Results do not depend
    on the thread count beyond float rounding.
    """

    PROBE_EVERY = 10
    SWITCH = 0.9

    def __init__(self, candidates: Sequence[int]) -> None:
        self.candidates = list(candidates)
        self.cost: dict[int, float] = {}
        self.steps = 0
        self.current = torch.get_num_threads()
        self.leader = max(self.candidates, default=self.current)

    def choose(self) -> int:
        if len(self.candidates) < 2:
            return self.current
        untried = [n for n in self.candidates if n not in self.cost]
        if self.steps == 0:  # the first step is a warm-up (allocations, kernel selection): not timed
            n = max(self.candidates)
        elif untried:
            n = untried[0]
        else:
            best = self.best()
            others = [n for n in self.candidates if n != best]
            due = self.steps % self.PROBE_EVERY == 0
            n = others[(self.steps // self.PROBE_EVERY) % len(others)] if due else best
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n
        return n

    def best(self) -> int:
        """The fastest count; the incumbent keeps its place unless another is 10% faster (single
        steps are noisy, and each switch would otherwise cost a step at the slower count)."""
        fastest = min(self.cost, key=self.cost.__getitem__)
        if self.leader in self.cost and self.cost[fastest] > self.SWITCH * self.cost[self.leader]:
            return self.leader
        self.leader = fastest
        return fastest

    def fastest(self) -> int | None:
        """The count to keep after training (answers run with it), ``None`` before two were timed."""
        return self.best() if len(self.cost) > 1 else None

    def record(self, seconds: float, tokens: int) -> None:
        if self.steps > 0 and tokens > 0:
            cost = seconds / tokens
            prev = self.cost.get(self.current)
            self.cost[self.current] = cost if prev is None else 0.5 * prev + 0.5 * cost
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
