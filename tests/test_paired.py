"""Paired comparisons: the clustered Newcombe interval and its design effect checked against hand
computations, the tests that invert it, Holm's adjustment, and which pairs a run gets (coverage and
false-failure rates are simulated in bench/bench_stats.py, whose quick mode tests/test_stats.py runs)."""

from __future__ import annotations

from statistics import NormalDist

import pytest

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import paired
from pytest_finetunebench.reporting.intervals import Z95, PairedCounts, holm, newcombe, paired_design_effect
from pytest_finetunebench.reporting.stats import wilson


def test_the_paired_interval_is_newcombes_hybrid_score_interval_computed_by_hand() -> None:
    """20 items: 10 right in both, 6 only in B, 2 only in A, 2 in neither. By hand: B 16/20 has the
    Wilson interval [0.583983, 0.919342], A 12/20 [0.386582, 0.781193]; Newcombe's corrected phi is
    max(10*2 - 6*2 - 20/2, 0) / sqrt(16*4*12*8) = 0; lower = 0.2 - sqrt(0.216017**2 + 0.181193**2)
    = -0.081948, upper = 0.2 + sqrt(0.119342**2 + 0.213418**2) = 0.444520."""
    assert newcombe(10, 6, 2, 2) == pytest.approx((-0.081948, 0.444520), abs=1e-6)
    counts = PairedCounts(10, 6, 2, 2)
    assert counts.interval() == pytest.approx((-0.081948, 0.444520), abs=1e-6) and counts.difference == 0.2
    # with a real association (30 both, 2 and 1 discordant, 17 neither): phi = (510 - 2 - 25) / sqrt(32 18 31 19)
    lo, hi = newcombe(30, 2, 1, 17)
    p1, p2, (l1, u1), (l2, u2) = 0.64, 0.62, wilson(32, 50, Z95), wilson(31, 50, Z95)
    phi = (30 * 17 - 2 * 1 - 25) / (32 * 18 * 31 * 19) ** 0.5
    assert lo == pytest.approx(0.02 - ((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2) ** 0.5)
    assert hi == pytest.approx(0.02 + ((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2) ** 0.5)


def test_the_interval_does_not_collapse_on_small_or_extreme_splits() -> None:
    lo, hi = PairedCounts(12, 0, 0, 0).interval()  # no discordant item: not [+0, +0]
    assert lo < -0.1 and hi > 0.1
    lo, hi = PairedCounts(0, 14, 0, 0).interval()  # every item flipped to B: not [+100, +100]
    assert lo < 0.9 and hi == 1.0


def test_the_design_effect_by_hand() -> None:
    """4 linked groups of 2 items: B - A per group 2, 2, 0, 0 (n 8, difference 0.5, 4 discordant items).
    Simple variance (4/8 - 0.25) / 8 = 0.03125; clustered 4/3 * (1 + 1 + 1 + 1) / 64 = 0.083333."""
    assert paired_design_effect([(2, 0, 2, 0), (2, 0, 2, 0), (2, 2, 2, 2), (2, 2, 2, 2)]) == pytest.approx(8 / 3)
    assert paired_design_effect([(2, 0, 2, 0)]) == 1.0  # one group: nothing to estimate it from


@pytest.mark.parametrize("counts", [(10, 6, 2, 2), (30, 1, 9, 5), (5, 3, 3, 4), (40, 0, 6, 2), (8, 9, 0, 1)])
def test_the_p_value_inverts_the_interval_printed_beside_it(counts: tuple[int, int, int, int]) -> None:
    c = PairedCounts(*counts, design_effect=1.7)
    p = c.p_value()
    lo, hi = c.interval(NormalDist().inv_cdf(1 - p / 2))
    assert (lo if c.difference > 0 else hi) == pytest.approx(0.0, abs=1e-9)
    lo, hi = c.interval()
    assert (p < 0.05) == (lo > 0 or hi < 0)


@pytest.mark.parametrize("counts", [(30, 1, 9, 5), (40, 0, 6, 2), (20, 2, 12, 6), (10, 6, 2, 2)])
def test_the_one_sided_drop_test_matches_the_one_sided_bound(counts: tuple[int, int, int, int]) -> None:
    c = PairedCounts(*counts)
    for allowed in (0.0, 0.05, 0.1):
        upper = c.interval(NormalDist().inv_cdf(0.95))[1]  # the one-sided 95% upper bound of B - A
        assert (c.p_drop(allowed) < 0.05) == (upper < -allowed)


def test_holm_steps_down_until_the_first_p_it_keeps() -> None:
    # sorted: 0.01 <= 0.05/3 rejected; 0.03 > 0.05/2 kept, so 0.04 is kept too
    assert holm([0.01, 0.04, 0.03], [0.05] * 3) == [True, False, False]
    assert holm([0.01, 0.02, 0.05], [0.05] * 3) == [True, True, True]  # 0.01, 0.02 <= 0.025, 0.05 <= 0.05
    assert holm([], []) == []


def test_no_shared_item_is_said_so() -> None:
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
        "design_effect": None,
    }


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
    assert found.p_value == pytest.approx(found.counts.p_value()) and found.p_value > 0.5  # type: ignore[union-attr]
    assert found.difference == pytest.approx(-1 / 9)
    assert found.ci is not None and found.ci[0] <= -1 / 9 <= found.ci[1]


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
            "design_effect": None,
        }
    ]
    assert paired.table(paired.in_run(records, {}), pooled_only=True) == [
        ["A", "B", "scope", "n", "only A", "only B", "p", "B - A [95% CI]"],
        ["m", "n", "*", "0", "-", "-", "no shared items", "-"],
    ]
