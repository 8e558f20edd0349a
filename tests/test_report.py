"""The report as a reader sees it: the terminal tables, the Markdown and the JSON of one small run,
whole. The per-split numbers are plain Wilson intervals (5 of them checked by hand in test_numbers);
the pooled ones use n / design effect, the cluster-robust one with its k / (k - 1) small-sample
factor (4/3 for 4 cases of one answer each)."""

from __future__ import annotations

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import paired
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.text import ONE_TRAINING_NOTE, precision_note


def record(
    stage: str,
    dataset: str,
    case: str,
    split: str,
    passed: bool,
    *,
    model: str = "m",
    error: str | None = None,
    expected: str = "1",
    in_form: bool = True,
    **fields: object,
) -> Record:
    return Record(
        model=model,
        stage=stage,
        dataset=dataset,
        case_id=case,
        split=split,
        question="q?",
        expected=expected,
        answer=None if error else ("1" if passed else "2"),
        passed=passed,
        matcher="auto",
        score=float(passed),
        reason="",
        error=error,
        in_form=in_form,
        **fields,
    )


def summary() -> Summary:
    records = []
    for i in range(4):
        records.append(record("tuned", "people", f"c{i}", "memorization", i < 3))
        records.append(record("base", "people", f"c{i}", "memorization", False))
        records.append(
            record("tuned", "people", f"c{i}", "secondary", i < 1, in_form=i < 2, expected="Yes" if i % 2 else "No")
        )
        records.append(record("base", "people", f"c{i}", "secondary", i < 2, expected="Yes" if i % 2 else "No"))
        records.append(record("tuned", "events", f"e{i}", "rephrased", i < 2, error="HTTP 500" if i == 3 else None))
    return Summary(records)


TERMINAL = [
    "model   dataset  split         n  correct  accuracy  95% CI          in-form  errors",
    "m       events   rephrased     3  2        0.667     [0.208, 0.939]  1.00     1",
    "m       people   memorization  4  3        0.750     [0.301, 0.954]  1.00",
    "m       people   secondary     4  1        0.250     [0.046, 0.699]  0.50",
    "m@base  people   memorization  4  0        0.000     [0.000, 0.490]  1.00",
    "m@base  people   secondary     4  2        0.500     [0.150, 0.850]  1.00",
    ONE_TRAINING_NOTE,
    "",
    "model   memorization              generalization",
    "m       0.750 [0.26, 0.96] (n=4)  0.429 [0.15, 0.77] (n=7)",
    "m@base  0.000 [0.00, 0.49] (n=4)  0.500 [0.13, 0.87] (n=4)",
    ONE_TRAINING_NOTE,
    "",
    "before -> after: base = untuned, tuned = after fine-tuning, in-context = untuned with the facts in the prompt "
    "(the upper bound)",
    "model  split           base   tuned  change",
    "m      memorization    0.000  0.750  +75.0 pts",
    "m      rephrased       -      0.667  -",
    "m      secondary       0.500  0.250  -25.0 pts",
    "m      generalization  0.500  0.429  -7.1 pts",
    "",
    # base vs tuned on the same items: 3 right only after tuning, one secondary item right only before;
    # the rephrased items have no untuned answers
    paired.TITLE + " (pooled; every split in --ftb-markdown, --ftb-html, --ftb-report)",
    "A       B  scope           n  only A  only B  p       B - A [95% CI]",
    "m@base  m  memorization    4  0       3       0.0491  +75.0 pts [+0.2, +96.3]",
    "m@base  m  generalization  4  1       0       0.5257  -25.0 pts [-68.1, +37.0]",
    ONE_TRAINING_NOTE,
]


MARKDOWN = """\
## FineTuneBench accuracy

| model | dataset | split | n | correct | accuracy | 95% CI | in-form | errors |
|---|---|---|---|---|---|---|---|---|
| m | events | rephrased | 3 | 2 | 0.667 | [0.208, 0.939] | 1.00 | 1 |
| m | people | memorization | 4 | 3 | 0.750 | [0.301, 0.954] | 1.00 |  |
| m | people | secondary | 4 | 1 | 0.250 | [0.046, 0.699] | 0.50 |  |
| m@base | people | memorization | 4 | 0 | 0.000 | [0.000, 0.490] | 1.00 |  |
| m@base | people | secondary | 4 | 2 | 0.500 | [0.150, 0.850] | 1.00 |  |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)

### Leaderboard

| model | memorization | generalization |
|---|---|---|
| m | 0.750 [0.26, 0.96] (n=4) | 0.429 [0.15, 0.77] (n=7) |
| m@base | 0.000 [0.00, 0.49] (n=4) | 0.500 [0.13, 0.87] (n=4) |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)

### Before -> after

before -> after: base = untuned, tuned = after fine-tuning, in-context = untuned with the facts in the prompt (the upper bound)

| model | split | base | tuned | change |
|---|---|---|---|---|
| m | memorization | 0.000 | 0.750 | +75.0 pts |
| m | rephrased | - | 0.667 | - |
| m | secondary | 0.500 | 0.250 | -25.0 pts |
| m | generalization | 0.500 | 0.429 | -7.1 pts |

### Paired comparisons

paired comparisons on the items both targets answered: right only in A / only in B, accuracy B - A with a 95% interval clustered by linked case (Newcombe's paired score interval) and the p-value that inverts it (exploratory: no multiple-comparison control; the gate's tests are Holm-adjusted)

| A | B | scope | n | only A | only B | p | B - A [95% CI] |
|---|---|---|---|---|---|---|---|
| m@base | m | memorization | 4 | 0 | 3 | 0.0491 | +75.0 pts [+0.2, +96.3] |
| m@base | m | secondary | 4 | 1 | 0 | 0.5257 | -25.0 pts [-68.1, +37.0] |
| m@base | m | generalization | 4 | 1 | 0 | 0.5257 | -25.0 pts [-68.1, +37.0] |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)
"""


JSON = {
    "cells": [
        {
            "target": "m",
            "dataset": "events",
            "split": "rephrased",
            "n": 3,
            "correct": 2,
            "errors": 1,
            "in_form": 3,
            "design_effect": 1.0,
            "accuracy": 0.6667,
            "ci95": [0.2077, 0.9385],
            "in_form_share": 1.0,
        },
        {
            "target": "m",
            "dataset": "people",
            "split": "memorization",
            "n": 4,
            "correct": 3,
            "errors": 0,
            "in_form": 4,
            "design_effect": 1.0,
            "accuracy": 0.75,
            "ci95": [0.3006, 0.9544],
            "in_form_share": 1.0,
        },
        {
            "target": "m",
            "dataset": "people",
            "split": "secondary",
            "n": 4,
            "correct": 1,
            "errors": 0,
            "in_form": 2,
            "design_effect": 1.0,
            "accuracy": 0.25,
            "ci95": [0.0456, 0.6994],
            "in_form_share": 0.5,
        },
        {
            "target": "m@base",
            "dataset": "people",
            "split": "memorization",
            "n": 4,
            "correct": 0,
            "errors": 0,
            "in_form": 4,
            "design_effect": 1.0,
            "accuracy": 0.0,
            "ci95": [0.0, 0.4899],
            "in_form_share": 1.0,
        },
        {
            "target": "m@base",
            "dataset": "people",
            "split": "secondary",
            "n": 4,
            "correct": 2,
            "errors": 0,
            "in_form": 4,
            "design_effect": 1.0,
            "accuracy": 0.5,
            "ci95": [0.15, 0.85],
            "in_form_share": 1.0,
        },
    ],
    "leaderboard": [
        {
            "target": "m",
            "memorization": {
                "target": "m",
                "dataset": "*",
                "split": "memorization",
                "n": 4,
                "correct": 3,
                "errors": 0,
                "in_form": 4,
                "design_effect": 1.3333,
                "accuracy": 0.75,
                "ci95": [0.2561, 0.9632],
                "in_form_share": 1.0,
            },
            "generalization": {
                "target": "m",
                "dataset": "*",
                "split": "generalization",
                "n": 7,
                "correct": 3,
                "errors": 1,
                "in_form": 5,
                "design_effect": 1.1667,
                "accuracy": 0.4286,
                "ci95": [0.146, 0.7669],
                "in_form_share": 0.7143,
            },
        },
        {
            "target": "m@base",
            "memorization": {
                "target": "m@base",
                "dataset": "*",
                "split": "memorization",
                "n": 4,
                "correct": 0,
                "errors": 0,
                "in_form": 4,
                "design_effect": 1.0,
                "accuracy": 0.0,
                "ci95": [0.0, 0.4899],
                "in_form_share": 1.0,
            },
            "generalization": {
                "target": "m@base",
                "dataset": "*",
                "split": "generalization",
                "n": 4,
                "correct": 2,
                "errors": 0,
                "in_form": 4,
                "design_effect": 1.3333,
                "accuracy": 0.5,
                "ci95": [0.1253, 0.8747],
                "in_form_share": 1.0,
            },
        },
    ],
    "skipped": 0,
    "precision": {},
    "generated_in": {},
    "not_measurable": {},
    "judge": [],
    "retention": [],
    "paired": [
        {
            "a": "m@base",
            "b": "m",
            "scope": "memorization",
            "n": 4,
            "a_only": 0,
            "b_only": 3,
            "p_value": 0.0491244,
            "difference": 0.75,
            "ci": [0.0022, 0.9632],
            "design_effect": 1.3333,
        },
        {
            "a": "m@base",
            "b": "m",
            "scope": "secondary",
            "n": 4,
            "a_only": 1,
            "b_only": 0,
            "p_value": 0.525748,
            "difference": -0.25,
            "ci": [-0.6811, 0.3699],
            "design_effect": 1.3333,
        },
        {
            "a": "m@base",
            "b": "m",
            "scope": "generalization",
            "n": 4,
            "a_only": 1,
            "b_only": 0,
            "p_value": 0.525748,
            "difference": -0.25,
            "ci": [-0.6811, 0.3699],
            "design_effect": 1.3333,
        },
    ],
    "recipes": [],
}


def test_the_terminal_report_whole():
    assert summary().terminal_lines() == TERMINAL


def test_the_markdown_report_whole():
    assert summary().markdown() == MARKDOWN


def test_the_json_report_whole():
    data = summary().to_json()
    items = data.pop("items")
    assert data == JSON
    assert len(items) == 20 and items[-1] == {
        "model": "m",
        "stage": "base",
        "dataset": "people",
        "case_id": "c3",
        "split": "secondary",
        "question": "q?",
        "expected": "Yes",
        "answer": "2",
        "passed": False,
        "matcher": "auto",
        "score": 0.0,
        "reason": "",
        "error": None,
        "in_form": True,
        "rule_passed": None,
        "judge_passed": None,
        "judge_reason": None,
        "precision": None,
        "nll": None,
        "generated_in": None,
        "group": None,
        "seed": None,
        "target": "m@base",
    }


def recipes_and_judge() -> Summary:
    records = []
    for i in range(4):
        records.append(
            record(
                "tuned",
                "people",
                f"c{i}",
                "memorization",
                True,
                rule_passed=True,
                judge_passed=i < 3,
                judge_reason="ok",
            )
        )
        records.append(
            record(
                "tuned", "people", f"c{i}", "rephrased", i < 2, rule_passed=i < 2, judge_passed=i < 1, judge_reason="ok"
            )
        )
        records.append(record("tuned", "people", f"c{i}", "memorization", True, model="m+paraphrase:4"))
        records.append(record("tuned", "people", f"c{i}", "rephrased", i < 3, model="m+paraphrase:4"))
    return Summary(records)


def test_the_terminal_report_with_recipes_and_a_judge():
    assert recipes_and_judge().terminal_lines() == [
        "model           dataset  split         n  correct  accuracy  95% CI          in-form  errors",
        "m               people   memorization  4  4        1.000     [0.510, 1.000]  1.00",
        "m               people   rephrased     4  2        0.500     [0.150, 0.850]  1.00",
        "m+paraphrase:4  people   memorization  4  4        1.000     [0.510, 1.000]  1.00",
        "m+paraphrase:4  people   rephrased     4  3        0.750     [0.301, 0.954]  1.00",
        ONE_TRAINING_NOTE,
        "",
        "model           memorization              generalization",
        "m               1.000 [0.51, 1.00] (n=4)  0.500 [0.13, 0.87] (n=4)",
        "m+paraphrase:4  1.000 [0.51, 1.00] (n=4)  0.750 [0.26, 0.96] (n=4)",
        ONE_TRAINING_NOTE,
        "",
        "recipes (--ftb-recipe): the same model tuned on training sets built differently; intervals clustered by case",
        "model  recipe        memorization              generalization            vs qa, paired (generalization)",
        "m      qa            1.000 [0.51, 1.00] (n=4)  0.500 [0.13, 0.87] (n=4)  -",
        "m      paraphrase:4  1.000 [0.51, 1.00] (n=4)  0.750 [0.26, 0.96] (n=4)  +25.0 pts [-37.0, +68.1], p 0.5257",
        ONE_TRAINING_NOTE,
        "",
        "model judge (--ftb-judge): accuracy by the rule grader and by the judge on the same answers, and how often "
        "they agree",
        "model  dataset  split         n  rules  judge  agreement  judge errors",
        "m      people   memorization  4  1.000  0.750  0.750",
        "m      people   rephrased     4  0.500  0.250  0.750",
        "",
        paired.TITLE + " (pooled; every split in --ftb-markdown, --ftb-html, --ftb-report)",
        "A  B               scope           n  only A  only B  p       B - A [95% CI]",
        "m  m+paraphrase:4  memorization    4  0       0       1.0000  +0.0 pts [-49.0, +49.0]",
        "m  m+paraphrase:4  generalization  4  0       1       0.5257  +25.0 pts [-37.0, +68.1]",
        ONE_TRAINING_NOTE,
    ]


def test_the_markdown_report_with_recipes_and_a_judge():
    assert (
        recipes_and_judge().markdown()
        == """\
## FineTuneBench accuracy

| model | dataset | split | n | correct | accuracy | 95% CI | in-form | errors |
|---|---|---|---|---|---|---|---|---|
| m | people | memorization | 4 | 4 | 1.000 | [0.510, 1.000] | 1.00 |  |
| m | people | rephrased | 4 | 2 | 0.500 | [0.150, 0.850] | 1.00 |  |
| m+paraphrase:4 | people | memorization | 4 | 4 | 1.000 | [0.510, 1.000] | 1.00 |  |
| m+paraphrase:4 | people | rephrased | 4 | 3 | 0.750 | [0.301, 0.954] | 1.00 |  |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)

### Leaderboard

| model | memorization | generalization |
|---|---|---|
| m | 1.000 [0.51, 1.00] (n=4) | 0.500 [0.13, 0.87] (n=4) |
| m+paraphrase:4 | 1.000 [0.51, 1.00] (n=4) | 0.750 [0.26, 0.96] (n=4) |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)

### Recipes

recipes (--ftb-recipe): the same model tuned on training sets built differently; intervals clustered by case

| model | recipe | memorization | generalization | vs qa, paired (generalization) |
|---|---|---|---|---|
| m | qa | 1.000 [0.51, 1.00] (n=4) | 0.500 [0.13, 0.87] (n=4) | - |
| m | paraphrase:4 | 1.000 [0.51, 1.00] (n=4) | 0.750 [0.26, 0.96] (n=4) | +25.0 pts [-37.0, +68.1], p 0.5257 |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)

### Model judge

model judge (--ftb-judge): accuracy by the rule grader and by the judge on the same answers, and how often they agree

| model | dataset | split | n | rules | judge | agreement | judge errors |
|---|---|---|---|---|---|---|---|
| m | people | memorization | 4 | 1.000 | 0.750 | 0.750 |  |
| m | people | rephrased | 4 | 0.500 | 0.250 | 0.750 |  |

### Paired comparisons

paired comparisons on the items both targets answered: right only in A / only in B, accuracy B - A with a 95% interval clustered by linked case (Newcombe's paired score interval) and the p-value that inverts it (exploratory: no multiple-comparison control; the gate's tests are Holm-adjusted)

| A | B | scope | n | only A | only B | p | B - A [95% CI] |
|---|---|---|---|---|---|---|---|
| m | m+paraphrase:4 | memorization | 4 | 0 | 0 | 1.0000 | +0.0 pts [-49.0, +49.0] |
| m | m+paraphrase:4 | rephrased | 4 | 0 | 1 | 0.5257 | +25.0 pts [-37.0, +68.1] |
| m | m+paraphrase:4 | generalization | 4 | 0 | 1 | 0.5257 | +25.0 pts [-37.0, +68.1] |

> note: one training per tuned model: intervals cover the questions, not training variance (--ftb-seeds=K trains each K times and includes it)
"""
    )


def upper_bounds() -> Summary:
    """A tuned model beside its in-context upper bound: some splits it cannot show, one all errors,
    and a second model with no upper bound at all."""
    records = []
    for i in range(4):  # the tuned stage comes first: it is not the reference, and must not end the search
        records.append(record("tuned", "people", f"c{i}", "memorization", True))
        records.append(record("tuned", "people", f"c{i}", "date_changed", False))
        records.append(record("tuned", "people", f"c{i}", "secondary", i < 2, expected="Yes." if i % 2 else "No."))
        records.append(record("tuned", "people", f"c{i}", "rephrased", i < 3))
    for i in range(4):
        records.append(record("in_context", "people", f"c{i}", "memorization", False))  # memorization is never marked
        records.append(
            record("in_context", "people", f"c{i}", "comparison", False, error="HTTP 500")
        )  # nothing to judge by
        records.append(record("in_context", "people", f"c{i}", "date_changed", False))  # 0/4: its lower end 0 is chance
        records.append(record("in_context", "people", f"c{i}", "secondary", i < 3, expected="Yes." if i % 2 else "No."))
        records.append(record("in_context", "people", f"c{i}", "rephrased", True))
    for i in range(2):
        records.append(record("tuned", "people", f"c{i}", "memorization", True, model="other"))
        records.append(record("tuned", "people", f"c{i}", "rephrased", True, model="other"))
        records.append(record("tuned", "people", f"c{i}", "secondary", False, model="other"))
    return Summary(records)


def test_splits_the_upper_bound_cannot_show_are_marked_and_left_out_of_generalization():
    assert upper_bounds().terminal_lines() == [
        "model         dataset  split         n  correct  accuracy  95% CI          in-form  errors",
        "m             people   memorization  4  4        1.000     [0.510, 1.000]  1.00",
        "m             people   rephrased     4  3        0.750     [0.301, 0.954]  1.00",
        "m             people   date_changed  4  0        0.000     [0.000, 0.490]  1.00",
        "m             people   secondary     4  2        0.500     [0.150, 0.850]  1.00",
        "m@in_context  people   memorization  4  0        0.000     [0.000, 0.490]  1.00",
        "m@in_context  people   rephrased     4  4        1.000     [0.510, 1.000]  1.00",
        "m@in_context  people   date_changed  4  0        0.000     [0.000, 0.490]  1.00",
        "m@in_context  people   secondary     4  3        0.750     [0.301, 0.954]  1.00",
        "m@in_context  people   comparison    0  0        0.000     [0.000, 1.000]  -        4",
        "other         people   memorization  2  2        1.000     [0.342, 1.000]  1.00",
        "other         people   rephrased     2  2        1.000     [0.342, 1.000]  1.00",
        "other         people   secondary     2  0        0.000     [0.000, 0.658]  1.00",
        ONE_TRAINING_NOTE,
        "",
        "model         memorization              generalization",
        "m             1.000 [0.51, 1.00] (n=4)  0.750 [0.26, 0.96] (n=4)",
        "m@in_context  0.000 [0.00, 0.49] (n=4)  1.000 [0.51, 1.00] (n=4)",
        "other         1.000 [0.34, 1.00] (n=2)  0.500 [0.15, 0.85] (n=4)",
        ONE_TRAINING_NOTE,
        "",
        "before -> after: base = untuned, tuned = after fine-tuning, in-context = untuned with the facts in the "
        "prompt (the upper bound)",
        "model  split           tuned  in-context  note",
        "m      memorization    1.000  0.000",
        "m      rephrased       0.750  1.000",
        "m      date_changed    0.000  0.000       not measurable on this model",
        "m      secondary       0.500  0.750       not measurable on this model",
        "m      comparison      -      -",
        "m      generalization  0.750  1.000       without date_changed, secondary",
        "other  memorization    1.000  -",
        "other  rephrased       1.000  -",
        "other  secondary       0.000  -",
        "other  generalization  0.500  -",
        "m: generalization leaves out what this model cannot show even with the facts in the prompt: date_changed "
        "(in context 0.000"
        " [0.000, 0.490] is not above chance 0.00); secondary (in context 0.750 [0.301, 0.954] is not above chance "
        "0.50)",
        "",
        paired.TITLE + " (pooled; every split in --ftb-markdown, --ftb-html, --ftb-report)",
        "A  B      scope           n  only A  only B  p       B - A [95% CI]",
        "m  other  memorization    2  0       0       1.0000  +0.0 pts [-65.8, +65.8]",
        "m  other  generalization  2  0       0       1.0000  +0.0 pts [-65.8, +65.8]",
        ONE_TRAINING_NOTE,
    ]


def in_given_order() -> Summary:
    """Models, datasets and splits recorded out of order, a split of the file's own, judge errors,
    and a second recipe with nothing but memorization."""
    records = []
    for i in range(2):
        for dataset in ("towns", "people"):
            records.append(
                record(
                    "tuned",
                    dataset,
                    f"c{i}",
                    "mine",
                    i < 1,
                    model="zeta",
                    rule_passed=i < 1,
                    judge_passed=None,
                    judge_reason="no verdict",
                )
            )
            records.append(
                record(
                    "tuned",
                    dataset,
                    f"c{i}",
                    "comparison",
                    True,
                    model="zeta",
                    rule_passed=True,
                    judge_passed=i < 1,
                    judge_reason="ok",
                )
            )
            records.append(
                record(
                    "tuned",
                    dataset,
                    f"c{i}",
                    "memorization",
                    True,
                    model="zeta",
                    rule_passed=True,
                    judge_passed=True,
                    judge_reason="ok",
                )
            )
    for i in range(2):
        records.append(record("tuned", "people", f"c{i}", "memorization", True, model="alpha"))
        records.append(record("tuned", "people", f"c{i}", "rephrased", i < 1, model="alpha"))
        records.append(record("tuned", "people", f"c{i}", "memorization", i < 1, model="alpha+paraphrase:2"))
    return Summary(records)


def test_models_in_the_order_they_ran_then_datasets_then_splits_in_the_order_of_the_paper():
    assert in_given_order().terminal_lines() == [
        "model               dataset  split         n  correct  accuracy  95% CI          in-form  errors",
        "zeta                people   memorization  2  2        1.000     [0.342, 1.000]  1.00",
        "zeta                people   comparison    2  2        1.000     [0.342, 1.000]  1.00",
        "zeta                people   mine          2  1        0.500     [0.095, 0.905]  1.00",
        "zeta                towns    memorization  2  2        1.000     [0.342, 1.000]  1.00",
        "zeta                towns    comparison    2  2        1.000     [0.342, 1.000]  1.00",
        "zeta                towns    mine          2  1        0.500     [0.095, 0.905]  1.00",
        "alpha               people   memorization  2  2        1.000     [0.342, 1.000]  1.00",
        "alpha               people   rephrased     2  1        0.500     [0.095, 0.905]  1.00",
        "alpha+paraphrase:2  people   memorization  2  1        0.500     [0.095, 0.905]  1.00",
        ONE_TRAINING_NOTE,
        "",
        "model               memorization              generalization",
        "zeta                1.000 [0.51, 1.00] (n=4)  0.750 [0.41, 0.93] (n=8)",
        "alpha               1.000 [0.34, 1.00] (n=2)  0.500 [0.05, 0.95] (n=2)",
        "alpha+paraphrase:2  0.500 [0.05, 0.95] (n=2)  -",
        ONE_TRAINING_NOTE,
        "",
        "recipes (--ftb-recipe): the same model tuned on training sets built differently; intervals clustered by case",
        "model  recipe        memorization              generalization            vs qa, paired (generalization)",
        "alpha  qa            1.000 [0.34, 1.00] (n=2)  0.500 [0.05, 0.95] (n=2)  -",
        "alpha  paraphrase:2  0.500 [0.05, 0.95] (n=2)  -                         no shared items",
        ONE_TRAINING_NOTE,
        "",
        "model judge (--ftb-judge): accuracy by the rule grader and by the judge on the same answers, and how often "
        "they agree",
        "model  dataset  split         n  rules  judge  agreement  judge errors",
        "zeta   people   memorization  2  1.000  1.000  1.000",
        "zeta   people   comparison    2  1.000  0.500  0.500",
        "zeta   people   mine          0  -      -      -          2",
        "zeta   towns    memorization  2  1.000  1.000  1.000",
        "zeta   towns    comparison    2  1.000  0.500  0.500",
        "zeta   towns    mine          0  -      -      -          2",
        "",
        paired.TITLE + " (pooled; every split in --ftb-markdown, --ftb-html, --ftb-report)",
        # pairs in name order, whatever order the models ran in
        "A                   B                   scope         n  only A  only B  p       B - A [95% CI]",
        "alpha               alpha+paraphrase:2  memorization  2  1       0       0.4236  -50.0 pts [-94.5, +41.0]",
        "alpha               zeta                memorization  2  0       0       1.0000  +0.0 pts [-65.8, +65.8]",
        "alpha+paraphrase:2  zeta                memorization  2  0       1       0.4236  +50.0 pts [-41.0, +94.5]",
        ONE_TRAINING_NOTE,
    ]


def test_json_items_of_a_case_follow_the_order_of_the_splits():
    items = [(x["target"], x["dataset"], x["case_id"], x["split"]) for x in in_given_order().to_json()["items"]]
    assert [item for item in items if item[:3] == ("zeta", "people", "c0")] == [
        ("zeta", "people", "c0", "memorization"),
        ("zeta", "people", "c0", "comparison"),
        ("zeta", "people", "c0", "mine"),
    ]


def test_a_recipe_without_its_plain_model_has_no_untuned_stages_and_an_absent_target_no_cell():
    summary = Summary([record("tuned", "people", "c0", "memorization", True, model="m+paraphrase:2")])
    assert summary.stages() == [("m+paraphrase:2", None, "m+paraphrase:2", None)]
    assert summary.aggregate("nobody", "generalization").n == 0


def test_the_precision_note_says_what_each_local_model_trained_and_generated_in():
    """A run saved before answers recorded what they were generated in shows the training's alone."""
    trained = {"local:a": "bf16", "local:b": "fp32"}
    assert precision_note(trained, {"local:a": "fp32", "local:b": "fp32"}) == (
        "local:a: trained in bf16, answers generated in fp32; local:b: trained in fp32, answers generated in fp32"
    )
    assert precision_note(trained, {}) == "local:a: trained in bf16; local:b: trained in fp32"
    assert precision_note({}, {}) == ""
