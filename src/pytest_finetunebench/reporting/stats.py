"""The statistics reports stand on: a group's counts (:class:`Cell`), intervals for one proportion
clustered by case, and paired tests of two targets on the same items (exact McNemar, case bootstrap)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def design_effect(clusters: Iterable[tuple[int, int]]) -> float:
    """How much correlation within clusters widens a pooled proportion's variance (at least 1).

    ``clusters`` are (n, correct) per case: the variants of one case share its fact, so they are
    not independent answers. The clustered (cluster-robust) variance of the pooled proportion,
    ``k / (k - 1) * sum((y_c - p * n_c) ** 2) / N ** 2``, over the simple binomial one,
    ``p (1 - p) / N``. Deterministic: nothing is resampled. 1 when it cannot be estimated (fewer
    than two cases, or p is 0 or 1).
    """
    cells = [(n, y) for n, y in clusters if n]
    total, hits, k = sum(n for n, _ in cells), sum(y for _, y in cells), len(cells)
    if k < 2 or hits in (0, total):
        return 1.0
    p = hits / total
    clustered = k / (k - 1) * sum((y - p * n) ** 2 for n, y in cells) / total**2
    return max(1.0, clustered / (p * (1 - p) / total))


def wilson(correct: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of ``correct`` out of ``n`` (``(0, 1)`` when n is 0).

    Counts may be effective (fractional) ones: ``n / design_effect`` for a clustered sample.
    """
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    lo = 0.0 if correct <= 0 else max(0.0, (centre - margin) / denom)  # exact ends: no 1e-17 above 0 for 0/n
    hi = 1.0 if correct >= n else min(1.0, (centre + margin) / denom)
    return lo, hi


@dataclass(frozen=True)
class Cell:
    """Counts for one group of items."""

    target: str
    dataset: str
    split: str
    n: int
    correct: int
    errors: int = 0
    in_form: int = 0  # graded answers in the form the question asks for (see grade.in_form)
    design_effect: float = 1.0  # pooled cells: the interval uses n / design_effect (clustered by case)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson; for a pooled cell, on the effective sample size n / design effect."""
        return wilson(self.correct / self.design_effect, self.n / self.design_effect)

    @property
    def in_form_share(self) -> float | None:
        return self.in_form / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        share = self.in_form_share
        return {
            **asdict(self),
            "accuracy": round(self.accuracy, 4),
            "ci95": [round(lo, 4), round(hi, 4)],
            "in_form_share": None if share is None else round(share, 4),
        }


def mcnemar(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test at 1/2 on the discordant pairs.

    ``min(1, 2 * P(X <= min(a_only, b_only)))`` for ``X ~ Binomial(a_only + b_only, 1/2)``; 1 when
    there is no discordant pair (callers report a pair with no shared items apart, never as p = 1).
    """
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_interval(
    clusters: Sequence[tuple[int, int, int]], seed: str, reps: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the paired difference in accuracy, B minus A, resampling cases.

    ``clusters`` are (items, right in A, right in B) per case: the variants of one case share its
    fact, so whole cases are drawn with replacement. ``seed`` names the comparison, so the same
    data gives the same interval on every machine.
    """
    rng = random.Random(seed)
    k = len(clusters)
    diffs = []
    for _ in range(reps):
        drawn = [clusters[i] for i in rng.choices(range(k), k=k)]
        n = sum(c[0] for c in drawn)
        diffs.append((sum(c[2] for c in drawn) - sum(c[1] for c in drawn)) / n)
    diffs.sort()
    tail = (1 - level) / 2
    return diffs[int(tail * reps)], diffs[min(reps - 1, int((1 - tail) * reps))]
