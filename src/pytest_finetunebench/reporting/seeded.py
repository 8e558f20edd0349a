"""Estimates over several trainings (``--ftb-seeds=K``): the mean over seeds, the seed-to-seed SD, and
intervals and tests whose variance includes both the trainings and the questions.

Every training answers the same cases, so seeds and clusters (linked cases) are crossed, not nested:
the per-cluster, per-seed scores form a C x K table, and the variance of their mean is estimated by
the two-way random-effects ANOVA, ``(MS_cases + MS_seeds - MS_interaction) / (C K)`` (unbiased for
``var_case / C + var_seed / K + var_interaction / (C K)``), with Satterthwaite's degrees of freedom
and Student's t: for a difference's test, over the three mean squares, with the variance never under
a main term's (its false-failure rate stays at or under alpha); for an accuracy's interval, over the
three variance components (closer to 95%; the mean squares' df over-cover there).
This was chosen over a two-stage bootstrap (seeds, then clusters within seed):
with K = 3 a bootstrap over seeds has 10 distinct draws and shrinks the seed variance by (K-1)/K,
so it under-covers exactly where training varies most; the t with few degrees of freedom widens
instead. A single proportion's interval is Wilson's on the effective sample size
``mean (1 - mean) / variance`` with t's quantile, so it stays inside [0, 1] and never has zero
width. A difference smaller than the seed-to-seed noise cannot be significant: that noise is in
the variance. ``bench/bench_stats.py`` measures coverage and false-failure rates by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from .stats import SeedEstimate, wilson

LEVEL = 0.95
NORMAL = NormalDist()


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (a regularized incomplete beta)."""
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2))
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (Newton's method on :func:`t_cdf`, bisection if it strays)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    t = NORMAL.inv_cdf(p)
    for _ in range(50):
        step = (t_cdf(t, df) - p) / math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))
        t -= step
        if abs(step) < 1e-12 * max(1.0, abs(t)):
            return t
    lo, hi = -1e4, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b) (continued fraction, Numerical Recipes' betacf)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    if x > (a + 1) / (a + b + 2):
        return 1 - _betainc(b, a, 1 - x)
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, 300):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + num * d
            d = 1 / (d if abs(d) > 1e-300 else 1e-300)
            c = 1 + num / c
            c = c if abs(c) > 1e-300 else 1e-300
            h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return front * h / a


@dataclass(frozen=True)
class Crossed:
    """The mean of a C x K table (clusters x seeds) and its crossed-design variance and degrees of freedom."""

    mean: float
    variance: float
    df: float

    @classmethod
    def of(cls, table: Sequence[Sequence[float]], components: bool = False) -> Crossed:
        """``table[c][s]``: cluster c's contribution under seed s, scaled so the mean over the table is the
        estimate. ``components``: degrees of freedom from the variance components (an accuracy's interval)
        rather than from the mean squares (a difference's test, which they keep at or under alpha)."""
        c, k = len(table), len(table[0])
        grand = sum(map(sum, table)) / (c * k)
        if c < 2 or k < 2:
            return cls(grand, 0.0, 1.0)
        rows = [sum(r) / k for r in table]
        cols = [sum(table[i][s] for i in range(c)) / c for s in range(k)]
        ms_c = k * sum((r - grand) ** 2 for r in rows) / (c - 1)
        ms_s = c * sum((x - grand) ** 2 for x in cols) / (k - 1)
        resid = sum((table[i][s] - rows[i] - cols[s] + grand) ** 2 for i in range(c) for s in range(k))
        ms_e = resid / ((c - 1) * (k - 1))
        if components:  # var_case, var_seed (each at least 0) and the interaction, each with its own df
            terms = [(max(ms_c - ms_e, 0.0), c - 1), (max(ms_s - ms_e, 0.0), k - 1), (ms_e, (c - 1) * (k - 1))]
            combined = sum(m for m, _ in terms)
        else:  # never under a main term's mean square; Satterthwaite's df over all three mean squares
            terms = [(ms_c, c - 1), (ms_s, k - 1), (ms_e, (c - 1) * (k - 1))]
            combined = max(ms_c + ms_s - ms_e, ms_c, ms_s)
        denom = sum(m * m / d for m, d in terms)
        df = combined * combined / denom if denom > 0 else float("inf")
        return cls(grand, combined / (c * k), max(1.0, df))

    def t(self, level: float = LEVEL) -> float:
        return t_quantile(1 - (1 - level) / 2, self.df)


def proportion(cells: Sequence[tuple[int, str, bool]]) -> SeedEstimate:
    """The seed-aware estimate of an accuracy from (seed, cluster, passed) per graded answer (K >= 2 seeds)."""
    seeds = sorted({s for s, _, _ in cells})
    clusters = sorted({c for _, c, _ in cells})
    column, row = {s: i for i, s in enumerate(seeds)}, {c: i for i, c in enumerate(clusters)}
    right = [[0] * len(seeds) for _ in clusters]
    n, correct = [0] * len(seeds), [0] * len(seeds)
    for s, c, passed in cells:
        n[column[s]] += 1
        correct[column[s]] += passed
        right[row[c]][column[s]] += passed
    table = [[len(clusters) * x / n[j] if n[j] else 0.0 for j, x in enumerate(r)] for r in right]
    return estimate(table, [(s, n[j], correct[j]) for j, s in enumerate(seeds)])


def estimate(table: Sequence[Sequence[float]], per_seed: Sequence[tuple[int, int, int]]) -> SeedEstimate:
    """From the clusters x seeds table (each cell: clusters x right / items of that seed) and each seed's
    (seed, n, correct): the mean over seeds, their SD, and Wilson's interval on the effective sample size
    ``mean (1 - mean) / variance`` with Student's t (the items of one training when the variance is 0)."""
    crossed = Crossed.of(table, components=True)
    accs = [x / n for _, n, x in per_seed if n]
    mean = sum(accs) / len(accs) if accs else 0.0
    sd = math.sqrt(sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) if len(accs) > 1 else 0.0
    items = max((n for _, n, _ in per_seed), default=0)
    n_eff = mean * (1 - mean) / crossed.variance if crossed.variance > 0 and 0 < mean < 1 else items
    lo, hi = wilson(mean * n_eff, n_eff, crossed.t()) if n_eff > 0 else (0.0, 1.0)
    return SeedEstimate(mean, sd, (lo, hi), tuple(per_seed))


@dataclass(frozen=True)
class SeededDifference:
    """B - A over paired trainings: the crossed table of per-cluster differences."""

    crossed: Crossed
    fallback: tuple[float, float]  # the interval when the variance is 0 (no item differs anywhere)

    @property
    def difference(self) -> float:
        return self.crossed.mean

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        if self.crossed.variance <= 0:
            return self.fallback
        half = self.crossed.t(level) * math.sqrt(self.crossed.variance)
        return max(-1.0, self.difference - half), min(1.0, self.difference + half)

    def p_value(self) -> float:
        """Two-sided p of "no difference" (Student's t, the interval's own test)."""
        if self.crossed.variance <= 0 or self.difference == 0:
            return 1.0
        return min(1.0, 2 * t_cdf(-abs(self.difference) / math.sqrt(self.crossed.variance), self.crossed.df))

    def p_drop(self, allowed: float) -> float:
        """One-sided p of "B is at most ``allowed`` below A"."""
        if self.difference >= -allowed or self.crossed.variance <= 0:
            return 1.0
        return t_cdf((self.difference + allowed) / math.sqrt(self.crossed.variance), self.crossed.df)


def difference(table: Sequence[Sequence[tuple[int, int, int]]], fallback: tuple[float, float]) -> SeededDifference:
    """``table[c][s]``: (items, right in A, right in B) of cluster c under seed pair s."""
    k = len(table[0])
    n = [sum(row[s][0] for row in table) for s in range(k)]
    c = len(table)
    scaled = [[c * (row[s][2] - row[s][1]) / n[s] if n[s] else 0.0 for s in range(k)] for row in table]
    return SeededDifference(Crossed.of(scaled), fallback)
