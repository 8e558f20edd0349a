"""Calibration of the report's intervals and tests, by seeded simulation (issue 41).

A study is one simulated run: cases in linked groups (a comparison case and the cases it uses share
a group effect), 1-3 variants per case sharing the case's effect, and trainings that shift every
answer (training variance) and each case apart (training x case). Answers are drawn with numpy;
every interval and test is the plugin's own (reporting/intervals.py, reporting/seeded.py,
reporting/stats.py, gate.py's Holm). The truth is the population value over cases and trainings
(a 2,000,000-draw Monte Carlo). Prints one Markdown table: coverage of each 95% interval, and the
rate at which each test fails with no true difference (alpha 0.05).

Run: python bench/bench_stats.py [--quick] [--studies N]. --quick: 300 studies (CI's check that it
runs, and tests/test_stats.py's); the full run (2,000 studies a row) takes about a minute.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from pytest_finetunebench.reporting.intervals import PairedCounts, holm
from pytest_finetunebench.reporting.seeded import difference, estimate
from pytest_finetunebench.reporting.stats import design_effect, wilson

ALPHA = 0.05


@dataclass(frozen=True)
class Design:
    """One scenario: cases, variants, and the spread (logit scale) of each effect."""

    cases: int
    variants: int  # items per case (1: a per-split row; 2-3: pooled)
    mean: float  # the logit of a typical accuracy
    group: float = 0.5  # linked groups (pairs of cases share this effect)
    case: float = 1.0
    training: float = 0.0  # one shift per training, shared by every case
    interaction: float = 0.0  # training x case


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def truth(d: Design, shift: float = 0.0, draws: int = 2_000_000) -> float:
    """The population accuracy over groups, cases, trainings (seeded: the same each run)."""
    rng = np.random.default_rng(0)
    sd = math.sqrt(d.group**2 + d.case**2 + d.training**2 + d.interaction**2)
    return float(_logistic(d.mean + shift + sd * rng.standard_normal(draws)).mean())


def groups(d: Design) -> np.ndarray:
    """Each case's linked group: pairs of cases (a comparison and what it uses), the rest alone."""
    linked = d.cases // 3
    return np.concatenate([np.repeat(np.arange(linked), 2), linked + np.arange(d.cases - 2 * linked)])


def case_effects(rng: np.random.Generator, d: Design, studies: int) -> np.ndarray:
    """Each study's case logits (studies x 1 x cases): typical accuracy plus linked group and case effects."""
    g = groups(d)
    base = d.mean + d.group * rng.standard_normal((studies, 1, g.max() + 1))[:, :, g]
    return base + d.case * rng.standard_normal((studies, 1, d.cases))


def draw(rng: np.random.Generator, d: Design, base: np.ndarray, trainings: int, shift: float = 0.0) -> np.ndarray:
    """Right (1) or wrong per study x training x case x variant, on the cases ``base`` describes; each
    training its own shift and training x case effects."""
    studies = base.shape[0]
    logit = base + shift + d.training * rng.standard_normal((studies, trainings, 1))
    logit = logit + d.interaction * rng.standard_normal((studies, trainings, d.cases))
    p = _logistic(logit)[..., None]
    return (rng.random((studies, trainings, d.cases, d.variants)) < p).astype(np.int64)


def answers(rng: np.random.Generator, d: Design, studies: int, trainings: int) -> np.ndarray:
    """One target's answers: new cases per study, ``trainings`` trainings on them."""
    return draw(rng, d, case_effects(rng, d, studies), trainings)


def pair(
    rng: np.random.Generator, d: Design, studies: int, trainings: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two targets on the same cases, each with its own trainings; B shifted by ``shift`` logits."""
    base = case_effects(rng, d, studies)
    return draw(rng, d, base, trainings), draw(rng, d, base, trainings, shift)


def cluster_counts(right: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Right answers per linked group (last axis: cases x variants summed within the group)."""
    per_case = right.sum(-1)
    return np.stack([per_case[..., g == k].sum(-1) for k in range(g.max() + 1)], -1)


def one_training_interval(right: np.ndarray, d: Design) -> list[tuple[float, float]]:
    """The report's interval of one training: Wilson on n / design effect, clustered by linked group."""
    g = groups(d)
    sizes = np.bincount(g) * d.variants
    out = []
    for study in cluster_counts(right[:, 0], g):
        deff = design_effect(zip(sizes.tolist(), study.tolist()))
        n = int(sizes.sum())
        out.append(wilson(study.sum() / deff, n / deff))
    return out


def seeded_interval(right: np.ndarray, d: Design) -> list[tuple[float, float]]:
    """The report's seed-aware interval (K trainings): crossed groups x seeds, Wilson with t."""
    g = groups(d)
    sizes = np.bincount(g) * d.variants
    n = int(sizes.sum())
    out = []
    for study in cluster_counts(right, g):  # trainings x groups
        table = (len(sizes) * study.T / n).tolist()
        per_seed = [(s, n, int(x)) for s, x in enumerate(study.sum(-1))]
        out.append(estimate(table, per_seed).interval)
    return out


def paired_counts(a: np.ndarray, b: np.ndarray, d: Design) -> list[PairedCounts]:
    """One training a side: the report's clustered paired counts per study."""
    g = groups(d)
    sizes = (np.bincount(g) * d.variants).tolist()
    a_, b_, both = (cluster_counts(x, g) for x in (a[:, 0], b[:, 0], a[:, 0] * b[:, 0]))
    return [PairedCounts.of(list(zip(sizes, x.tolist(), y.tolist(), z.tolist()))) for x, y, z in zip(a_, b_, both)]


def paired_seeded(a: np.ndarray, b: np.ndarray, d: Design) -> list:  # type: ignore[type-arg]
    """K trainings a side, seed i with seed i: the report's seed-aware difference per study."""
    g = groups(d)
    sizes = (np.bincount(g) * d.variants).tolist()
    a_, b_ = cluster_counts(a, g), cluster_counts(b, g)  # studies x K x groups
    out = []
    for x, y in zip(a_, b_):
        table = [[(sizes[c], int(x[s, c]), int(y[s, c])) for s in range(x.shape[0])] for c in range(len(sizes))]
        out.append(difference(table, (-1.0, 1.0)))
    return out


def covered(intervals: list[tuple[float, float]], value: float) -> float:
    return float(np.mean([lo <= value <= hi for lo, hi in intervals]))


def main(studies: int) -> None:
    rng = np.random.default_rng(20261207)
    rows: list[tuple[str, str, float]] = []
    start = time.perf_counter()

    # 1. one training, no training variance: the interval of a split (12-24 cases) and a pooled score (62 x 2)
    for label, d in [
        ("per split, 12 cases x 1, accuracy ~0.5", Design(12, 1, 0.0)),
        ("per split, 14 cases x 1, accuracy ~0.9", Design(14, 1, 2.6)),
        ("per split, 24 cases x 2, accuracy ~0.3", Design(24, 2, -1.0)),
        ("pooled, 62 cases x 2, accuracy ~0.6", Design(62, 2, 0.5)),
    ]:
        rows.append(
            (
                "coverage",
                f"one training: {label}",
                covered(one_training_interval(answers(rng, d, studies, 1), d), truth(d)),
            )
        )

    # 2. paired, one training a side, no training variance
    for label, d, shift in [
        ("paired, 12 cases x 2, no difference", Design(12, 2, 0.0), 0.0),
        ("paired, 14 cases x 1, 0.1 vs 0.9", Design(14, 1, -2.4, case=0.3), 4.6),
        ("paired, 24 cases x 1, +1 logit", Design(24, 1, 0.0), 1.0),
        ("paired, 62 cases x 2, no difference", Design(62, 2, 0.5), 0.0),
    ]:
        a, b = pair(rng, d, studies, 1, shift)
        found = paired_counts(a, b, d)
        rows.append(
            ("coverage", f"one training: {label}", covered([f.interval() for f in found], truth(d, shift) - truth(d)))
        )
        if shift == 0:
            rows.append(
                (
                    "false failure",
                    f"paired test, one training: {label}",
                    float(np.mean([f.p_value() < ALPHA for f in found])),
                )
            )

    # 3. training varies (logit SD 0.4 per training, 0.3 training x case): one training vs three
    d = Design(62, 2, 0.5, training=0.4, interaction=0.3)
    right = answers(rng, d, studies, 3)
    rows.append(
        (
            "coverage",
            "training varies: pooled 62 x 2, questions-only interval of one training",
            covered(one_training_interval(right[:, :1], d), truth(d)),
        )
    )
    rows.append(
        (
            "coverage",
            "training varies: pooled 62 x 2, seed-aware interval, 3 trainings",
            covered(seeded_interval(right, d), truth(d)),
        )
    )
    d = Design(18, 1, 0.0, training=0.4, interaction=0.3)
    right = answers(rng, d, studies, 3)
    rows.append(
        (
            "coverage",
            "training varies: per split 18 x 1, questions-only interval of one training",
            covered(one_training_interval(right[:, :1], d), truth(d)),
        )
    )
    rows.append(
        (
            "coverage",
            "training varies: per split 18 x 1, seed-aware interval, 3 trainings",
            covered(seeded_interval(right, d), truth(d)),
        )
    )

    # 4. two recipes that do not differ, training varies: the questions-only paired test vs the seed-aware one
    d = Design(62, 2, 0.5, training=0.4, interaction=0.3)
    a, b = pair(rng, d, studies, 3)
    one = paired_counts(a[:, :1], b[:, :1], d)
    rows.append(
        (
            "false failure",
            "training varies: paired test of one training a side",
            float(np.mean([f.p_value() < ALPHA for f in one])),
        )
    )
    several = paired_seeded(a, b, d)
    rows.append(
        (
            "false failure",
            "training varies: seed-aware paired test, 3 trainings a side",
            float(np.mean([s.p_value() < ALPHA for s in several])),
        )
    )
    rows.append(
        (
            "coverage",
            "training varies: seed-aware paired interval, 3 trainings a side",
            covered([s.interval() for s in several], 0.0),
        )
    )

    # 5. the gate: 9 tests (3 targets x 3 scopes) with no true drop, allowance 0, one-sided, Holm vs none
    d = Design(24, 2, 0.5)
    ps = []
    for _ in range(9):
        a, b = pair(rng, d, studies, 1)
        ps.append([f.p_drop(0.0) for f in paired_counts(a, b, d)])
    per_study = list(zip(*ps))
    rows.append(
        (
            "false failure",
            "gate, 9 one-sided tests each at 0.05, no adjustment",
            float(np.mean([min(p) < ALPHA for p in per_study])),
        )
    )
    rows.append(
        (
            "false failure",
            "gate, 9 one-sided tests, Holm (as shipped)",
            float(np.mean([any(holm(list(p), [ALPHA] * 9)) for p in per_study])),
        )
    )
    d = Design(24, 2, 0.5, training=0.4, interaction=0.3)
    ps = []
    for _ in range(9):
        a, b = pair(rng, d, studies, 3)
        ps.append([s.p_drop(0.0) for s in paired_seeded(a, b, d)])
    per_study = list(zip(*ps))
    rows.append(
        (
            "false failure",
            "gate, training varies, 3 trainings a side, 9 tests, Holm",
            float(np.mean([any(holm(list(p), [ALPHA] * 9)) for p in per_study])),
        )
    )

    print(f"| check | scenario | rate over {studies} studies |\n|---|---|---|")
    for kind, label, rate in rows:
        print(f"| {kind} | {label} | {rate:.3f} |")
    print(f"\n({time.perf_counter() - start:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 studies a row (CI)")
    parser.add_argument("--studies", type=int, default=2000)
    args = parser.parse_args()
    main(300 if args.quick else args.studies)
