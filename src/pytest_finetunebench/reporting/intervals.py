"""Paired differences of two accuracies on the same items, clustered: interval, two-sided and one-sided test.

The interval is Newcombe's hybrid score interval for paired proportions (method 10 of Newcombe,
Stat. Med. 1998, with his correction of the correlation phi): Wilson intervals for each side's
accuracy, combined through the correlation between the two sides. It is chosen over the case
bootstrap's percentile interval because it keeps near-nominal coverage at the suite's sizes
(12-24 cases a split; bench/bench_stats.py: 0.95-0.97) and never collapses to zero width (no
discordant item, or every flip one way). Clustering enters as a design effect: every
count is divided by the cluster-robust variance of B - A over its simple paired variance (at least
1), clusters being linked groups (a case and the cases it ``uses``). The tests invert the same
interval, so a p under alpha means exactly that the matching interval leaves out the null value.
``bench/bench_stats.py`` measures coverage and false-failure rates by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from .stats import wilson

NORMAL = NormalDist()
Z95 = NORMAL.inv_cdf(0.975)


def newcombe(both: float, b_only: float, a_only: float, neither: float, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) of B's accuracy minus A's from the 2x2 paired counts
    (fractional effective counts are fine); ``(-1, 1)`` with no items."""
    n = both + b_only + a_only + neither
    if n <= 0:
        return -1.0, 1.0
    p1, p2 = (both + b_only) / n, (both + a_only) / n
    l1, u1 = wilson(both + b_only, n, z)
    l2, u2 = wilson(both + a_only, n, z)
    margins = (both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither)
    association = both * neither - b_only * a_only
    if association > 0:  # Newcombe's correction of phi (without it: 0.93 coverage at 12 cases x 1 item)
        association = max(association - n / 2, 0.0)
    phi = association / math.sqrt(margins) if margins > 0 else 0.0
    low = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, p1 - p2 - low), min(1.0, p1 - p2 + high)


@dataclass(frozen=True)
class PairedCounts:
    """A paired comparison's counts, pooled over clusters, and the design effect of B - A."""

    both: int
    b_only: int
    a_only: int
    neither: int
    design_effect: float = 1.0

    @classmethod
    def of(cls, clusters: Sequence[tuple[int, int, int, int]]) -> PairedCounts:
        """From (items, right in A, right in B, right in both) per cluster."""
        n = sum(c[0] for c in clusters)
        a, b, both = (sum(c[i] for c in clusters) for i in (1, 2, 3))
        return cls(both, b - both, a - both, n - a - b + both, paired_design_effect(clusters))

    @property
    def n(self) -> int:
        return self.both + self.b_only + self.a_only + self.neither

    @property
    def difference(self) -> float:
        return (self.b_only - self.a_only) / self.n if self.n else 0.0

    def interval(self, z: float = Z95) -> tuple[float, float]:
        """The clustered Newcombe interval of B - A (two-sided at ``z``)."""
        d = self.design_effect
        return newcombe(self.both / d, self.b_only / d, self.a_only / d, self.neither / d, z)

    def p_value(self) -> float:
        """Two-sided p of "no difference": the level at which :meth:`interval` first reaches 0."""
        if self.difference == 0:
            return 1.0
        z = _crossing(lambda z: self.interval(z)[0 if self.difference > 0 else 1], 0.0, self.difference > 0)
        return min(1.0, 2 * _tail(z))

    def p_drop(self, allowed: float) -> float:
        """One-sided p of "B is at most ``allowed`` below A" (the true B - A is >= -allowed): small when
        the upper bound of B - A lies below -allowed even at a high confidence. 1 when the observed drop
        is within the allowance."""
        if self.difference >= -allowed:
            return 1.0
        return _tail(_crossing(lambda z: self.interval(z)[1], -allowed, False))


def paired_design_effect(clusters: Sequence[tuple[int, int, int, int]]) -> float:
    """The cluster-robust variance of B - A over its simple paired variance (at least 1; 1 when it
    cannot be estimated: under two clusters or no discordant item). ``clusters``: (items, right in A,
    right in B, right in both) per cluster."""
    n = sum(c[0] for c in clusters)
    k = len(clusters)
    if k < 2 or not n:
        return 1.0
    d = [c[2] - c[1] for c in clusters]
    theta = sum(d) / n
    discordant = sum(c[1] + c[2] - 2 * c[3] for c in clusters)
    simple = (discordant / n - theta**2) / n
    if simple <= 0:
        return 1.0
    robust = k / (k - 1) * sum((x - theta * c[0]) ** 2 for x, c in zip(d, clusters)) / n**2
    return max(1.0, robust / simple)


def _tail(z: float) -> float:
    """P(Z > z) for a standard normal Z, accurate far into the tail (erfc, not 1 - cdf)."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def _crossing(bound, target: float, lower: bool) -> float:  # type: ignore[no-untyped-def]
    """The z at which ``bound(z)`` reaches ``target`` (bisection: the interval widens with z)."""
    lo, hi = 0.0, 37.0  # beyond 37 the normal tail (1e-300) is not a float above 0
    if (bound(hi) > target) == lower:
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if (bound(mid) > target) == lower:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def holm(p_values: Sequence[float], alphas: Sequence[float]) -> list[bool]:
    """Holm's step-down rejections: the j-th smallest p (from 0) is rejected when it and every smaller one
    is at most its level over (m - j). Keeps the chance of any false rejection at most alpha."""
    m = len(p_values)
    rejected = [False] * m
    for j, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if p_values[i] > alphas[i] / (m - j):
            break
        rejected[i] = True
    return rejected
