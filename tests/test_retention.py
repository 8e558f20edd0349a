"""The retention split: what tuning kept of what the untuned model knew, its gate, and Δ NLL."""

from __future__ import annotations

import pytest

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import gate, retention
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.text import ONE_TRAINING_NOTE


def record(
    model: str,
    stage: str,
    case: str,
    passed: bool,
    split: str = "retention",
    nll: float | None = None,
    error: str | None = None,
) -> Record:
    return Record(
        model=model,
        stage=stage,
        dataset="general_knowledge",
        case_id=case,
        split=split,
        question=f"{case}?",
        expected="Paris",
        answer="Paris" if passed else "Lyon",
        passed=passed,
        matcher="contains",
        score=float(passed),
        reason="",
        error=error,
        nll=nll,
    )


def run() -> Summary:
    """The untuned model knows q0-q3 (not q4); tuned, it still knows q0 and q1 and learned q4.
    The replay recipe keeps q0-q2. q5 errored for the untuned model: left out of both."""
    records = [record("m", "base", f"q{i}", i < 4, nll=2.5) for i in range(5)]
    records += [record("m", "base", "q5", False, error="HTTP 500")]
    records += [record("m", "tuned", f"q{i}", i in (0, 1, 4), nll=2.75) for i in range(6)]
    records += [record("m+qa+replay", "tuned", f"q{i}", i < 3, nll=2.625) for i in range(6)]
    records += [record("m", "tuned", "f0", True, split="memorization")]
    return Summary(records)


def test_retention_counts_what_the_untuned_model_knew() -> None:
    s = run()
    kept = retention.cell(s.records, "m")
    assert (kept.n, kept.correct) == (4, 2)  # of q0-q3: q0, q1 kept; q4 learned does not count
    assert [t.case_id for _, t in retention.forgotten(s.records, "m")] == ["q2", "q3"]
    assert retention.rows(s.records)[1].as_dict() == {
        "target": "m+qa+replay",
        "base": {
            "target": "m@base",
            "dataset": "*",
            "split": "retention",
            "n": 5,
            "correct": 4,
            "errors": 0,
            "in_form": 0,
            "design_effect": 1.0,
            "accuracy": 0.8,
            "ci95": [0.3755, 0.9638],
            "in_form_share": 0.0,
        },
        "tuned": {
            "target": "m+qa+replay",
            "dataset": "*",
            "split": "retention",
            "n": 5,
            "correct": 3,
            "errors": 0,
            "in_form": 0,
            "design_effect": 1.0,
            "accuracy": 0.6,
            "ci95": [0.2307, 0.8824],
            "in_form_share": 0.0,
        },
        "retained": {
            "target": "m+qa+replay",
            "dataset": "*",
            "split": "retention",
            "n": 4,
            "correct": 3,
            "errors": 0,
            "in_form": 0,
            "design_effect": 1.0,
            "accuracy": 0.75,
            "ci95": [0.3006, 0.9544],
            "in_form_share": 0.0,
        },
        "nll_base": 2.5,
        "nll_tuned": 2.625,
        "delta_nll": 0.125,
    }


def test_the_retention_table_whole() -> None:
    lines = run().terminal_lines()
    at = lines.index(retention.TITLE)
    assert lines[at : at + 5] == [
        retention.TITLE,
        "model        n  base   tuned  retained     95% CI          forgotten  NLL base -> tuned  Δ NLL",
        "m            5  0.800  0.600  0.500 (2/4)  [0.150, 0.850]  2          2.500 -> 2.750     +0.250",
        "m+qa+replay  5  0.800  0.600  0.750 (3/4)  [0.301, 0.954]  1          2.500 -> 2.625     +0.125",
        ONE_TRAINING_NOTE,
    ]


def test_retention_is_not_generalization() -> None:
    s = run()
    assert s.aggregate("m", "generalization").n == 0  # the retention split is never pooled into it
    assert s.aggregate("m", "retention").accuracy == pytest.approx(3 / 6)  # the split's own accuracy: q0, q1, q4


def test_the_gate_reads_the_share_kept() -> None:
    s = run()
    thresholds = gate.parse_thresholds("retention:0.95")
    assert gate.check(s, thresholds, ["m", "m+qa+replay"]) == [
        "m: retention 0.500 (2/4) is under 0.950",
        "m+qa+replay: retention 0.750 (3/4) is under 0.950",
    ]
    assert gate.check(s, gate.parse_thresholds("retention:50%"), ["m"]) == []


def test_without_untuned_answers_retention_says_it_was_not_measured() -> None:
    records = [record("published-model", "tuned", f"q{i}", True) for i in range(3)]
    assert retention.notes(records) == [
        "published-model: retention not measured: no untuned answers to count it against"
        " (its provider has no untuned model, e.g. published answers)"
    ]
    assert gate.check(Summary(records), gate.parse_thresholds("retention:0.9"), ["published-model"]) == [
        "published-model: no graded items for `retention`"
    ]
