"""Paired comparisons: exact McNemar p-values checked against values computed by hand, the
bootstrap's coverage on simulated paired data with a known difference, and which pairs a run gets."""

from __future__ import annotations

import random
from fractions import Fraction
from math import comb

import pytest

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import paired
from pytest_finetunebench.reporting.stats import mcnemar, paired_interval


def _minlike(a_only: int, b_only: int) -> Fraction:
    """The two-sided binomial test at 1/2 by its definition: the probability of every outcome no
    likelier than the one seen (computed exactly, independently of ``mcnemar``'s doubled tail)."""
    n = a_only + b_only
    seen = comb(n, a_only)
    return sum((Fraction(comb(n, k), 2**n) for k in range(n + 1) if comb(n, k) <= seen), Fraction(0))


@pytest.mark.parametrize(
    ("a_only", "b_only", "p"),
    [
        (0, 10, 2 / 1024),  # 2 * 0.5**10
        (1, 9, 22 / 1024),  # 2 * (1 + 10) / 2**10
        (9, 1, 22 / 1024),
        (5, 5, 1.0),  # 2 * P(X <= 5) > 1: capped
        (3, 0, 0.25),  # 2 * 0.5**3
        (2, 7, 2 * (1 + 9 + 36) / 512),
    ],
)
def test_exact_mcnemar_p_values(a_only: int, b_only: int, p: float) -> None:
    assert mcnemar(a_only, b_only) == pytest.approx(p, rel=1e-12)
    assert mcnemar(a_only, b_only) == pytest.approx(float(_minlike(a_only, b_only)), rel=1e-12)


def test_no_discordant_pair_is_p_1_but_no_shared_item_is_said_so() -> None:
    assert mcnemar(0, 0) == 1.0
    nothing = paired.compare("a", "b", "memorization", [], [])
    assert (nothing.n, nothing.p_value, nothing.difference, nothing.ci) == (0, None, None, None)
    assert nothing.row() == ["a", "b", "memorization", "0", "-", "-", "no shared items", "-"]
    assert nothing.as_dict() == {
        "a": "a",
        "b": "b",
        "scope": "memorization",
        "n": 0,
        "a_only": 0,
        "b_only": 0,
        "p_value": None,
        "difference": None,
        "ci": None,
    }


def test_the_bootstrap_interval_covers_a_known_difference() -> None:
    """200 simulated studies of 60 cases x 3 items, A right with probability 0.6, B with 0.7 (a
    difference of exactly 0.10), answers correlated within a case; the 95% interval must cover 0.10
    in about 95% of them (binomial spread over 200 studies: 91% to 98% at 99% confidence)."""
    rng = random.Random(20261205)
    covered = 0
    studies = 200
    for study in range(studies):
        clusters = []
        for _ in range(60):
            ease = rng.gauss(0, 0.15)  # a case's own difficulty, shared by A and B
            a = [rng.random() < 0.6 + ease for _ in range(3)]
            b = [rng.random() < 0.7 + ease for _ in range(3)]
            clusters.append((3, sum(a), sum(b)))
        lo, hi = paired_interval(clusters, f"study {study}", reps=400)
        covered += lo <= 0.10 <= hi
    assert 0.91 <= covered / studies <= 0.98


def _r(target_model: str, stage: str, case: str, split: str, passed: bool, error: str | None = None) -> Record:
    return Record(
        model=target_model,
        stage=stage,
        dataset="d",
        case_id=case,
        split=split,
        question=f"{case} {split}?",
        expected="1",
        answer="1" if passed else "2",
        passed=passed,
        matcher="auto",
        score=float(passed),
        reason="",
        error=error,
    )


def test_a_comparison_counts_only_the_items_both_answered() -> None:
    a = [_r("m", "base", f"c{i}", "secondary", i < 6) for i in range(10)]
    b = [_r("m", "tuned", f"c{i}", "secondary", i >= 4, error="HTTP 500" if i == 9 else None) for i in range(10)]
    found = paired.compare("m@base", "m", "secondary", a, b)
    # c9 errored for B: 9 shared; only A right: c0-c3, only B right: c6-c8
    assert (found.n, found.a_only, found.b_only) == (9, 4, 3)
    assert found.p_value == pytest.approx(1.0) and found.difference == pytest.approx(-1 / 9)
    assert found.ci is not None and found.ci[0] <= -1 / 9 <= found.ci[1]
    assert paired.compare("m@base", "m", "secondary", a, b) == found  # seeded by the names: the same every time


def test_a_run_pairs_base_with_tuned_then_every_two_tuned_targets() -> None:
    records = []
    for model in ("m", "m+paraphrase:4", "n"):
        records += [_r(model, "tuned", f"c{i}", "memorization", True) for i in range(3)]
    records += [_r("m", "base", f"c{i}", "memorization", False) for i in range(3)]
    assert paired.pairs_in_run(records) == [
        ("m@base", "m"),
        ("m@base", "m+paraphrase:4"),
        ("m", "m+paraphrase:4"),
        ("m", "n"),
        ("m+paraphrase:4", "n"),
    ]
    found = paired.in_run(records, {})
    assert [(p.a, p.b, p.scope, p.a_only, p.b_only) for p in found][:2] == [
        ("m@base", "m", "memorization", 0, 3),
        ("m@base", "m+paraphrase:4", "memorization", 0, 3),
    ]


def test_a_pair_with_nothing_in_common_is_one_no_shared_items_entry() -> None:
    records = [_r("m", "tuned", "c0", "memorization", True), _r("n", "tuned", "c1", "rephrased", True)]
    assert [p.as_dict() for p in paired.in_run(records, {})] == [
        {
            "a": "m",
            "b": "n",
            "scope": "*",
            "n": 0,
            "a_only": 0,
            "b_only": 0,
            "p_value": None,
            "difference": None,
            "ci": None,
        }
    ]
    assert paired.table(paired.in_run(records, {}), pooled_only=True) == [
        ["A", "B", "scope", "n", "only A", "only B", "McNemar p", "B - A [95% CI]"],
        ["m", "n", "*", "0", "-", "-", "no shared items", "-"],
    ]
