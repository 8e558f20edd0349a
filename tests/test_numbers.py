"""The numbers a user reads: intervals, aggregates, gates and comparisons, against hand-computed values.

Each test pins one number or verdict that a plausible slip in the code would change (a wrong
variance, a gate on the wrong scope, errors counted as wrong answers, a comparison that pools a
dataset only one run has); the expected values are computed by hand or by an independent method,
never by the function under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting.gate import Threshold, check, parse_thresholds, unknown_scopes
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.runs import Comparison, SavedRun
from pytest_finetunebench.reporting.stats import design_effect, wilson
from pytest_finetunebench.run.collect import Selection, Target


# 95% Wilson intervals, found independently by solving (p_hat - p)^2 = z^2 p (1 - p) / n for p
@pytest.mark.parametrize(
    ("correct", "n", "lo", "hi"),
    [
        (5, 10, 0.2366, 0.7634),
        (81, 100, 0.7222, 0.8749),
        (134, 150, 0.8338, 0.9333),
        (1, 2, 0.0945, 0.9055),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (0, 24, 0.0, 0.138),
        (24, 24, 0.862, 1.0),
        # at the ends the bounds are z^2 / (n + z^2) and n / (n + z^2); for 0/11 and 12/12 the general
        # formula lands a hair inside them (1e-17 above 0, 1e-16 below 1)
        (0, 11, 0.0, 0.2588),
        (12, 12, 0.7575, 1.0),
    ],
)
def test_wilson_matches_hand_computed_intervals(correct: int, n: int, lo: float, hi: float) -> None:
    assert tuple(round(x, 4) for x in wilson(correct, n)) == (lo, hi)
    if correct == 0:
        assert wilson(correct, n)[0] == 0.0  # exactly: a bound a hair above the accuracy broke error bars
    if correct == n:
        assert wilson(correct, n)[1] == 1.0


def test_wilson_of_nothing_is_the_whole_range() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("clusters", "effect"),
    [
        ([(2, 2), (2, 0)], 4.0),  # two cases, all or nothing: k/(k-1) * (1 + 1) / 16 over 0.25 / 4
        ([(2, 1), (2, 1)], 1.0),  # no variance between cases: never below 1
        ([(3, 1)], 1.0),  # one case: cannot be estimated
        ([(2, 2), (2, 2), (0, 0)], 1.0),  # all right (an empty case does not count)
    ],
)
def test_design_effect_by_hand(clusters: list[tuple[int, int]], effect: float) -> None:
    assert design_effect(clusters) == effect


def rec(
    split: str,
    passed: bool,
    *,
    case: str = "c",
    dataset: str = "d",
    error: str | None = None,
    stage: str = "tuned",
    model: str = "m",
) -> Record:
    return Record(
        model=model,
        stage=stage,
        dataset=dataset,
        case_id=case,
        split=split,
        question="q?",
        expected="1",
        answer=None if error else ("1" if passed else "2"),
        passed=passed,
        matcher="auto",
        score=float(passed),
        reason="",
        error=error,
    )


def test_error_items_are_not_counted_as_wrong_answers() -> None:
    summary = Summary(
        [
            rec("memorization", True),
            rec("memorization", False),
            rec("memorization", False, error="API 500"),
            rec("rephrased", True),
            rec("rephrased", False, error="timeout"),
        ]
    )
    (cell_mem, cell_reph) = summary.cells()
    assert (cell_mem.n, cell_mem.correct, cell_mem.errors, cell_mem.accuracy) == (2, 1, 1, 0.5)
    assert (cell_reph.n, cell_reph.correct, cell_reph.errors, cell_reph.accuracy) == (1, 1, 1, 1.0)
    gen = summary.aggregate("m", "generalization")
    assert (gen.n, gen.correct, gen.errors) == (1, 1, 1)


def test_generalization_pools_every_split_but_memorization() -> None:
    summary = Summary(
        [rec("memorization", True)] * 4
        + [rec("rephrased", True), rec("secondary", False), rec("comparison", False), rec("date_changed", False)]
    )
    mem, gen = summary.leaderboard()[0]
    assert (mem.n, mem.correct) == (4, 4)
    assert (gen.n, gen.correct) == (4, 1)


def test_the_gate_checks_the_scope_it_is_given() -> None:
    summary = Summary(
        [rec("memorization", True)] * 9
        + [rec("memorization", False)]
        + [rec("rephrased", True)]
        + [rec("rephrased", False)] * 3
    )
    assert check(summary, parse_thresholds("memorization:0.9"), ["m"]) == []
    assert check(summary, parse_thresholds("generalization:0.3"), ["m"]) == [
        "m: generalization 0.250 (1/4) is under 0.300"
    ]
    assert check(summary, parse_thresholds("rephrased:25%"), ["m"]) == []
    assert check(summary, parse_thresholds("secondary:0.1"), ["m"]) == ["m: no graded items for `secondary`"]


def _run(cells: list[tuple[str, str, str, int, int]]) -> dict:
    return {
        "cells": [{"target": t, "dataset": d, "split": s, "n": n, "correct": c} for t, d, s, n, c in cells],
        "datasets": {d: {"sha256": "x"} for _, d, _, _, _ in cells},
    }


def test_compare_fail_fails_when_nothing_in_scope_was_graded() -> None:
    then = SavedRun(Path("then.json"), _run([("m", "d", "memorization", 10, 9), ("m", "d", "rephrased", 10, 5)]))
    now = _run([("m", "d", "memorization", 10, 9)])
    failures = Comparison(then, now).check(parse_thresholds("generalization:5%", "--ftb-compare-fail"), ["m"])
    assert failures == ["m: no graded `generalization` items in both runs to compare"]


def test_a_dataset_in_only_one_run_stays_out_of_the_compared_aggregate() -> None:
    then = SavedRun(Path("then.json"), _run([("m", "a", "rephrased", 10, 8)]))
    now = _run([("m", "a", "rephrased", 10, 8), ("m", "b", "rephrased", 10, 0)])
    comparison = Comparison(then, now)
    delta = comparison.aggregate("m", "generalization")
    assert (delta.then, delta.now) == ((10, 8), (10, 8))
    assert comparison.check(parse_thresholds("generalization:1%", "--ftb-compare-fail"), ["m"]) == []


def test_compare_fail_measures_the_drop_in_points() -> None:
    then = SavedRun(Path("then.json"), _run([("m", "d", "rephrased", 10, 8)]))
    now = _run([("m", "d", "rephrased", 10, 7)])
    spec = parse_thresholds("generalization:10%", "--ftb-compare-fail")
    assert Comparison(then, now).check(spec, ["m"]) == []  # exactly 10 points is allowed
    now = _run([("m", "d", "rephrased", 10, 6)])
    assert Comparison(then, now).check(spec, ["m"]) == [
        "m: generalization dropped 20.0 points (0.800 (8/10) -> 0.600 (6/10)), more than the 10.0 allowed"
    ]


def test_limit_counts_cases_that_have_a_selected_split(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "dataset: x\ncases:\n"
        "  - {id: a, question: qa?, answer: '1'}\n"  # no rephrased variant: not counted
        "  - {id: b, question: qb?, answer: '1', variants: [{split: rephrased, question: rb?, answer: '1'}]}\n"
        "  - {id: c, question: qc?, answer: '1', variants: [{split: rephrased, question: rc?, answer: '1'}]}\n"
        "  - {id: d, question: qd?, answer: '1', variants: [{split: rephrased, question: rd?, answer: '1'}]}\n"
    )
    selection = Selection(targets=(Target("m"),), splits=frozenset({"rephrased"}), limit=2)
    assert [case.id for case, _ in selection.cases(load_dataset(path))] == ["b", "c"]


def test_pooled_intervals_are_clustered_by_case() -> None:
    # four cases of two variants each: two cases all right, two all wrong -> perfectly correlated
    correlated = Summary(
        [
            rec(s, passed, case=c)
            for c, passed in (("a", True), ("b", False), ("c", True), ("d", False))
            for s in ("rephrased", "secondary")
        ]
    )
    gen = correlated.aggregate("m", "generalization")
    # by hand: p = 0.5, N = 8, k = 4; clustered var = 4/3 * 4 / 64, binomial var = 0.25 / 8 -> 2.6667
    assert (gen.n, gen.correct, gen.design_effect) == (8, 4, 2.6667)
    assert tuple(round(x, 4) for x in gen.interval) == (0.1253, 0.8747)  # Wilson on 1.5 of 3
    # one right and one wrong variant in every case: no correlation, the plain Wilson interval
    mixed = Summary([rec(s, s == "rephrased", case=c) for c in "abcd" for s in ("rephrased", "secondary")])
    gen = mixed.aggregate("m", "generalization")
    assert gen.design_effect == 1.0 and tuple(round(x, 4) for x in gen.interval) == (0.2152, 0.7848)
    # per-split cells stay plain Wilson
    (cell,) = [c for c in correlated.cells() if c.split == "rephrased"]
    assert cell.design_effect == 1.0 and cell.interval == wilson(2, 4)


def test_a_split_the_upper_bound_cannot_show_is_left_out_of_generalization() -> None:
    golds = ["Yes", "No"] * 4
    records = []
    for i, gold in enumerate(golds):  # in context: 5 of 8 yes/no right -> [0.306, 0.863], not above 0.5
        records.append(
            Record(
                model="m",
                stage="in_context",
                dataset="d",
                case_id=f"c{i}",
                split="secondary",
                question="q?",
                expected=gold,
                answer="x",
                passed=i < 5,
                matcher="yes_no",
                score=0.0,
                reason="",
            )
        )
        records.append(rec("rephrased", True, case=f"c{i}", stage="in_context"))  # 8/8: measurable
        records.append(rec("secondary", False, case=f"c{i}"))
        records.append(rec("rephrased", i < 6, case=f"c{i}"))
    summary = Summary(records)
    assert summary.not_measurable() == {"m": {"secondary": "in context 0.625 [0.306, 0.863] is not above chance 0.50"}}
    gen = summary.aggregate("m", "generalization")
    assert (gen.n, gen.correct) == (8, 6)  # rephrased only
    assert summary.measurability_notes() == [
        "m: generalization leaves out what this model cannot show even with the facts in the prompt: "
        "secondary (in context 0.625 [0.306, 0.863] is not above chance 0.50)"
    ]
    note = summary.measurability_notes()[0]
    assert summary.markdown().split("\n").count(f"> {note}") == 1
    assert f"\n\n> {note}\n" in summary.markdown()  # a quoted paragraph of its own
    rows = summary.before_after_table()
    assert rows[0][-1] == "note"
    assert [r[-1] for r in rows[1:]] == ["", "not measurable on this model", "without secondary"]
    assert summary.to_json()["cells"][-1]["split"] == "secondary"  # nothing hidden: the raw cell stays


def test_without_in_context_the_untuned_likelihood_scores_decide_measurability() -> None:
    records = [
        Record(
            model="m",
            stage="base+likelihood",
            dataset="d",
            case_id=f"c{i}",
            split="comparison",
            question="q?",
            expected=("Yes", "No")[i % 2],
            answer="Yes",
            passed=i % 2 == 0,
            matcher="yes_no",
            score=0.0,
            reason="",
        )
        for i in range(8)
    ]  # always "Yes": 4 of 8, exactly chance
    records += [rec("comparison", False, case=f"c{i}") for i in range(8)] + [rec("rephrased", True)]
    summary = Summary(records)
    assert summary.not_measurable() == {
        "m": {"comparison": "untuned by likelihood 0.500 [0.215, 0.785] is not above chance 0.50"}
    }
    gen = summary.aggregate("m", "generalization")
    assert (gen.n, gen.correct) == (1, 1)


def yes_no(stage: str, split: str, golds: list[str], right: int) -> list[Record]:
    """Records of ``stage`` on ``split``, the first ``right`` of them answered correctly."""
    return [
        Record(
            model="m",
            stage=stage,
            dataset="d",
            case_id=f"c{i}",
            split=split,
            question="q?",
            expected=gold,
            answer="x",
            passed=i < right,
            matcher="yes_no",
            score=0.0,
            reason="",
        )
        for i, gold in enumerate(golds)
    ]


@pytest.mark.parametrize(
    "golds",
    [["Yes.", " yes", "YES", "Yes", "Yes", "Yes", "No.", "no"], ["No", "no.", "NO", " No", "No", "no", "Yes", "yes."]],
)
def test_chance_on_unbalanced_yes_no_golds_is_the_commoner_answer(golds):
    # 8 of 8 right in context: [0.676, 1.0], not above chance when 6 of the 8 golds are one answer
    summary = Summary(yes_no("in_context", "secondary", golds, 8) + yes_no("tuned", "secondary", golds, 4))
    assert summary.not_measurable() == {"m": {"secondary": "in context 1.000 [0.676, 1.000] is not above chance 0.75"}}


def test_chance_on_values_is_zero_even_when_some_golds_are_yes_or_no():
    golds = ["Yes", "1911"]  # 1 of 2 right in context: [0.095, 0.905], above 0 -> measurable
    summary = Summary(yes_no("in_context", "comparison", golds, 1) + yes_no("tuned", "comparison", golds, 0))
    assert summary.not_measurable() == {}


def test_the_before_after_table_shows_a_dash_where_a_stage_graded_nothing():
    records = [
        rec("memorization", True, stage="base"),
        rec("memorization", True),
        rec("memorization", False, case="c2"),
    ]
    records += [rec("rephrased", False, stage="base", error="HTTP 500"), rec("rephrased", True)]
    assert Summary(records).before_after_table() == [
        ["model", "split", "base", "tuned", "change"],
        ["m", "memorization", "1.000", "0.500", "-50.0 pts"],
        ["m", "rephrased", "-", "1.000", "-"],  # the base model's one answer was a run error: nothing graded
    ]


def test_thresholds_parse_fractions_and_percentages_and_skip_empty_parts() -> None:
    assert parse_thresholds(" , memorization:0.9,, generalization:30% ,rephrased:1") == [
        Threshold("memorization", 0.9),
        Threshold("generalization", 0.3),
        Threshold("rephrased", 1.0),
    ]


@pytest.mark.parametrize("part", ["memorization=0.9", ":0.5", "memorization:abc", "a:b:0.5", "memorization:"])
def test_a_bad_threshold_is_one_usage_line(part: str) -> None:
    with pytest.raises(pytest.UsageError) as err:
        parse_thresholds(f"generalization:0.3,{part}", "--ftb-compare-fail")
    assert (
        str(err.value)
        == f"--ftb-compare-fail: `{part}` is not scope:value; fix: e.g. memorization:0.9,generalization:30%"
    )


@pytest.mark.parametrize("part", ["memorization:1.5", "memorization:-0.1", "generalization:101%", "rephrased:nan"])
def test_a_threshold_outside_0_to_1_says_so(part: str) -> None:
    with pytest.raises(pytest.UsageError) as err:
        parse_thresholds(part)
    assert str(err.value) == (
        f"--ftb-fail-under: `{part}`: the value must lie between 0 and 1 (or 0% and 100%); "
        "fix: e.g. memorization:0.9 or generalization:30%"
    )


def test_a_scope_that_names_no_split_is_listed_with_the_known_ones() -> None:
    thresholds = parse_thresholds("memorization:0.9,generalisation:30%,retention:0.5")
    fix = "fix: use one of generalization, memorization"
    assert unknown_scopes(thresholds, {"memorization", "rephrased"}, "--ftb-fail-under") == [
        f"--ftb-fail-under: `generalisation` names no split here; {fix}, rephrased",
        f"--ftb-fail-under: `retention` names no split here; {fix}, rephrased",
    ]
    assert unknown_scopes(thresholds, {"memorization", "retention"}, "--ftb-fail-under") == [
        f"--ftb-fail-under: `generalisation` names no split here; {fix}, retention"
    ]
