"""The statistics reports stand on: a group's counts (:class:`Cell`) and intervals for one proportion
clustered by linked case (Wilson on the effective sample size). Paired differences: :mod:`.intervals`."""

from __future__ import annotations

import math
from collections.abc import Iterable
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
class SeedEstimate:
    """An accuracy over K >= 2 trainings (:mod:`.seeded`): the mean over seeds, their SD, the seed-aware
    95% interval, and each seed's (seed, n, correct)."""

    mean: float
    sd: float
    interval: tuple[float, float]
    per_seed: tuple[tuple[int, int, int], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": round(self.mean, 4),
            "seed_sd": round(self.sd, 4),
            "ci95": [round(self.interval[0], 4), round(self.interval[1], 4)],
            "seeds": [{"seed": s, "n": n, "correct": c} for s, n, c in self.per_seed],
        }


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
    seeds: SeedEstimate | None = None  # with K >= 2 trainings: n and correct are totals over them

    @property
    def accuracy(self) -> float:
        """The share right (over several trainings: the mean of their accuracies)."""
        if self.seeds is not None:
            return self.seeds.mean
        return self.correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95% Wilson; for a pooled cell, on the effective sample size n / design effect; over several
        trainings, the seed-aware interval (:mod:`.seeded`)."""
        if self.seeds is not None:
            return self.seeds.interval
        return wilson(self.correct / self.design_effect, self.n / self.design_effect)

    @property
    def in_form_share(self) -> float | None:
        return self.in_form / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        share = self.in_form_share
        fields = asdict(self)
        del fields["seeds"]  # several trainings: each one's numbers, else nothing
        return {
            **fields,
            **({"seeds": self.seeds.as_dict()} if self.seeds else {}),
            "accuracy": round(self.accuracy, 4),
            "ci95": [round(lo, 4), round(hi, 4)],
            "in_form_share": None if share is None else round(share, 4),
        }
