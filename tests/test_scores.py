"""One definition of each pooled score: the leaderboard, the paired table, --ftb-fail-under and
--ftb-compare-fail count the same items for generalization and retention on one run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_finetunebench.cases.schema import linked_groups
from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import gate, paired
from pytest_finetunebench.reporting.gate import Threshold
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.runs import Comparison, SavedRun


def rec(stage: str, split: str, i: int, passed: bool, expected: str = "1") -> Record:
    return Record(
        model="m",
        stage=stage,
        dataset="people",
        case_id=f"c{i}",
        split=split,
        question=f"{split} q{i}?",
        expected=expected,
        answer=expected if passed else "2",
        passed=passed,
        matcher="auto",
        score=float(passed),
        reason="",
    )


def run(tuned_rephrased: int, kept: int) -> list[Record]:
    """20 cases. Rephrased: base 2 right, tuned ``tuned_rephrased``. Secondary: in context none right
    (not measurable: left out of generalization), tuned all 20. Retention: base right on c0-c9, tuned
    keeps c0..c(kept-1) and gains c10-c14 (its raw accuracy says little about what it kept)."""
    out = []
    for i in range(20):
        out += [
            rec("base", "rephrased", i, i < 2),
            rec("tuned", "rephrased", i, i < tuned_rephrased),
            rec("in_context", "rephrased", i, True),
            rec("base", "secondary", i, False),
            rec("tuned", "secondary", i, True),
            rec("in_context", "secondary", i, False),
            rec("base", "retention", i, i < 10),
            rec("tuned", "retention", i, i < kept or 10 <= i < 15),
            rec("tuned", "memorization", i, True),
        ]
    return out


def test_every_table_and_gate_counts_the_same_generalization_and_retention(tmp_path: Path) -> None:
    summary = Summary(run(tuned_rephrased=12, kept=5))
    assert summary.not_measurable() == {"m": {"secondary": "in context 0.000 [0.000, 0.161] is not above chance 0.00"}}
    # the leaderboard: generalization is rephrased alone (secondary is not measurable)
    board = {m.target: g for m, g in summary.leaderboard()}
    gen, base_gen = board["m"], board["m@base"]
    assert (gen.n, gen.correct, base_gen.n, base_gen.correct) == (20, 12, 20, 2)
    # the paired table: the same items, so B - A is the leaderboard's difference
    found = {(p.a, p.b, p.scope): p for p in summary.comparisons()}
    g = found["m@base", "m", "generalization"]
    assert (g.n, g.a_only, g.b_only, g.difference) == (20, 0, 10, gen.accuracy - base_gen.accuracy)
    # retention: the retained share everywhere (5 of the base's 10), never the split's accuracy (10/20)
    kept = summary.aggregate("m", "retention")
    assert (kept.n, kept.correct) == (10, 5)
    r = found["m@base", "m", "retention"]
    assert (r.n, r.a_only, r.b_only, r.difference) == (10, 5, 0, kept.accuracy - 1.0)
    # --ftb-fail-under
    assert gate.check(summary, [Threshold("generalization", 0.7), Threshold("retention", 0.6)], ["m"]) == [
        "m: generalization 0.600 (12/20) is under 0.700",
        "m: retention 0.500 (5/10) is under 0.600",
    ]
    # --ftb-compare-fail against a run that lost 4 rephrased answers and 3 kept retention answers
    now = Summary(run(tuned_rephrased=8, kept=2))
    comparison = Comparison(SavedRun(tmp_path / "0001.json", {**summary.to_json(), "number": 1}), now.to_json())
    assert comparison.check([Threshold("generalization", 0.1), Threshold("retention", 0.2)], ["m"]) == [
        "m: generalization dropped 20.0 points (0.600 (12/20) -> 0.400 (8/20)), more than the 10.0 allowed",
        "m: retention dropped 30.0 points (0.500 (5/10) -> 0.200 (2/10)), more than the 20.0 allowed",
    ]
    then_now = {p.scope: p for p in comparison.paired() if p.b == "m"}
    assert [(s, then_now[s].n, then_now[s].a_only, then_now[s].b_only) for s in ("generalization", "retention")] == [
        ("generalization", 20, 4, 0),
        ("retention", 10, 3, 0),
    ]


def test_a_linked_group_is_a_case_the_cases_it_uses_and_every_case_using_them() -> None:
    groups = linked_groups({"a": (), "b": (), "cmp": ("a", "b"), "d": ("b",), "e": (), "f": ("missing",)})
    assert groups == {"a": "a+b+cmp+d", "b": "a+b+cmp+d", "cmp": "a+b+cmp+d", "d": "a+b+cmp+d", "e": "e", "f": "f"}


def test_linked_cases_are_one_cluster_of_the_paired_interval() -> None:
    """B is right where A is wrong on three linked cases and nowhere else: clustered as one group,
    the three flips are one draw, so the interval is wider than with three independent cases. By hand
    (n 12, B - A 0.25, simple variance (3/12 - 0.25**2) / 12 = 0.015625): alone, 12 clusters,
    12/11 * (3 * 0.75**2 + 9 * 0.25**2) / 144 = 0.017045 (design effect 12/11); linked, 10 clusters,
    10/9 * ((3 - 0.75)**2 + 9 * 0.25**2) / 144 = 0.043403 (design effect 2.7778)."""

    def records(stage: str, group: str | None) -> list[Record]:
        out = [rec(stage, "comparison", i, stage == "tuned" and i < 3) for i in range(12)]
        return [r if int(r.case_id[1:]) >= 3 else dataclasses.replace(r, group=group) for r in out]

    alone = paired.compare("m@base", "m", "comparison", records("base", None), records("tuned", None))
    linked = paired.compare("m@base", "m", "comparison", records("base", "c0+c1+c2"), records("tuned", "c0+c1+c2"))
    assert alone.counts is not None and linked.counts is not None
    assert (alone.counts.design_effect, round(linked.counts.design_effect, 4)) == (pytest.approx(12 / 11), 2.7778)
    assert linked.ci[0] < alone.ci[0] and linked.p_value > alone.p_value  # type: ignore[index, operator]


def test_a_record_names_its_linked_group_only_when_its_case_links_to_others() -> None:
    from types import SimpleNamespace

    from pytest_finetunebench.grading.outcome import _group

    cases = [SimpleNamespace(id=i, uses=u) for i, u in (("a", ()), ("b", ()), ("cmp", ("a", "b")), ("e", ()))]
    dataset = SimpleNamespace(cases=cases)
    assert [_group(SimpleNamespace(dataset=dataset, case=c)) for c in cases] == ["a+b+cmp", "a+b+cmp", "a+b+cmp", None]
    assert rec("tuned", "comparison", 0, True).cluster == ("people", "c0")
    assert dataclasses.replace(rec("tuned", "comparison", 0, True), group="a+b+cmp").cluster == ("people", "a+b+cmp")


def test_an_errored_item_is_attributed_to_its_training_and_linked_group() -> None:
    """An item whose answer or matcher failed is recorded (the errors column) with the seed of the
    training that was asked and its case's linked group, as a graded one is: under --ftb-seeds it
    counts against its own training, and intervals resample it with its group."""
    from types import SimpleNamespace

    from pytest_finetunebench.grading.outcome import failed

    cases = [SimpleNamespace(id=i, uses=u) for i, u in (("a", ()), ("b", ()), ("cmp", ("a", "b")))]
    variant = SimpleNamespace(split="comparison", question="Who is older?", answer="A", matcher="exact")
    item = SimpleNamespace(
        dataset=SimpleNamespace(name="people", cases=cases),
        case=cases[2],
        variant=variant,
        target=SimpleNamespace(model="m", stage="tuned", seed=6),
        user_properties=[],
    )
    err = failed(item, "matcher `exact` raised ValueError: bad", ValueError("bad"), "B")
    assert str(err) == "matcher `exact` raised ValueError: bad"
    record = Record.from_properties(item.user_properties)
    assert (record.seed, record.group, record.reason, record.error, record.cluster) == (
        6,
        "a+b+cmp",
        "error",
        "matcher `exact` raised ValueError: bad",
        ("people", "a+b+cmp"),
    )
