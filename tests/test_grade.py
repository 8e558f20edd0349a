"""Tests for the answer grader: normalization, every matcher, auto, and calibration on real answers."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from pytest_finetunebench.cases.schema import MATCHERS
from pytest_finetunebench.grading.grade import Verdict, choose_matcher, grade, in_form, normalize
from pytest_finetunebench.grading.normalize import analyze


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  The   Velmora  Bridge. ", "velmora bridge"),
        ("An Ostrin tower!", "ostrin tower"),
        ("Café “Ölmühle” — north", "cafe olmuhle north"),
        ("ＶＥＬＭＯＲＡ", "velmora"),  # full-width letters, NFKC
        ("seven", "7"),
        ("Twenty-one", "21"),
        ("one hundred fifty", "150"),
        ("one hundred and fifty", "150"),
        ("two thousand five hundred", "2500"),
        ("a hundred", "100"),
        ("1,500", "1500"),
        ("1,500,000.25", "1500000.25"),
        ("150 million dollars", "150000000 usd"),
        ("$150 million", "150000000 usd"),
        ("US$ 150 million", "150000000 usd"),
        ("$1.5bn", "1500000000 usd"),
        ("one hundred fifty million dollars", "150000000 usd"),
        ("185 cm", "185 cm"),
        ("185cm", "185 cm"),
        ("126 pounds", "126 lb"),
        ("126 lbs.", "126 lb"),
        ("6'1\"", "73 in"),
        ("6 feet 1 inch", "73 in"),
        ("32-year-old", "32 year"),
        ("45%", "45 percent"),
        ("Velmora's mayor", "velmora mayor"),
        ("no one", "no one"),  # a pronoun, not the number 1
        ("one of them", "one of them"),
        ("the answer is -5", "answer is -5"),
        ("version 1.2.3", "version 1.2.3"),  # not a number
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "quantities"),
    [
        ("between 120 and 150 million", ["120000000", "150000000"]),  # the range shares its scale
        ("$120 to 150 million", ["120000000 usd", "150000000 usd"]),
        ("120-150 cm", ["120 cm", "150 cm"]),  # a range, not minus 150
        ("6'1\" (185 cm)", ["73 in", "185 cm"]),
        ("in the 90's", ["90"]),  # not 90 feet
        ('"185"', ["185"]),  # quoted, not 185 inches
        ("The 2024 repairs cost about 150 million dollars.", ["2024", "150000000 usd"]),
    ],
)
def test_quantities(text: str, quantities: list[str]) -> None:
    assert [str(q) for q in analyze(text).quantities] == quantities


def test_negated_quantity_is_flagged() -> None:
    first, second = analyze("not 150 but 170").quantities
    assert first.negated and not second.negated


@pytest.mark.parametrize(
    ("gold", "matcher"),
    [
        ("None", "abstain"),
        ("none.", "abstain"),
        ("Yes", "yes_no"),
        ("No.", "yes_no"),
        ("185", "number"),
        ("150 million dollars", "number"),
        ("$150 million", "number"),
        ("1,500", "number"),
        ("twenty-one", "number"),
        ("126 lbs", "number"),
        ("Velmora", "contains"),
        ("police officer", "contains"),
        ("Route 66", "contains"),  # text with a number is not a number
        ("Start metformin and advise lifestyle changes today", "fuzzy"),
    ],
)
def test_choose_matcher(gold: str, matcher: str) -> None:
    assert choose_matcher(gold) == matcher


@pytest.mark.parametrize("matcher", MATCHERS)
@pytest.mark.parametrize("answer", [None, "", "  \n"])
def test_no_answer_fails_under_every_matcher(matcher: str, answer: str | None) -> None:
    verdict = grade("185", answer, matcher)
    assert verdict == Verdict(
        False, 0.0, choose_matcher("185") if matcher == "auto" else matcher, "no answer", in_form=False
    )


@pytest.mark.parametrize(
    ("gold", "answer", "form"),
    [
        ("Yes", "50", False),  # a value for a yes/no question: the tuned model's lost format
        ("Yes", "No, she is 49.", True),  # wrong, but in form
        ("No", "Yes", True),
        ("51", "She is fifty-one.", True),
        ("51", "Yes", False),
        ("51", "Velmora", False),
        ("None", "I don't know.", True),  # a decline
        ("None", "123 million dollars", True),  # a value: in form, wrong
        ("None", "Yes", False),
        ("Velmora", "Ostrin", True),
        ("Velmora", "No.", False),
        ("more than $1 billion", "unknown", False),
        ("5 people", "No more than 5 people.", True),  # opens with a bound, not with a no
        ("5 people", "No fewer than 5 people.", True),
        ("Velmora", "No, Ostrin.", False),
    ],
)
def test_in_form(gold: str, answer: str, form: bool) -> None:
    verdict = grade(gold, answer)
    assert verdict.in_form is form
    if not verdict.passed:
        assert verdict.reason.startswith("off-format: ") is not form


def test_verdict_is_frozen() -> None:
    verdict = grade("185", "185")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.passed = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("gold", "answer", "passed"),
    [
        ("Velmora", "velmora", True),
        ("Velmora", "The Velmora.", True),
        ("150 million dollars", "$150 million", True),
        ("1500", "1,500", True),
        ("7", "Seven", True),
        ("Velmora", "Velmora bridge", False),
        ("Velmora", "It is Velmora.", False),  # exact is exact: no sentences
    ],
)
def test_exact(gold: str, answer: str, passed: bool) -> None:
    verdict = grade(gold, answer, "exact")
    assert (verdict.passed, verdict.score, verdict.matcher) == (passed, float(passed), "exact")


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("185", "185"),
        ("185", "185 cm"),
        ("185", "He is 185 cm tall."),
        ("185 cm", "185"),
        ("185", "185.0"),
        ("32", "She is 32 years old."),
        ("32", "32-year-old"),
        ("126 pounds", "126 lbs"),
        ("126 lbs", "She weighs 126 pounds."),
        ("150", "one hundred fifty"),
        ("21", "twenty-one"),
        ("1500", "1,500"),
        ("1,500,000", "1.5 million"),
        ("150 million dollars", "The 2024 repairs cost about 150 million dollars."),
        ("150 million dollars", "$150 million"),
        ("150 million dollars", "150,000,000 dollars"),
        ("150 million dollars", "about $150M"),
        ("150 million dollars", "150"),  # scale left to the question: documented
        ("150", "150 million"),
        ("150 million dollars", "It cost 150 million dollars, not 170 million dollars."),
        ("185", "6'1\" (185 cm)"),  # 6'1" = 185.4 cm restates the same height
        ("185", "He is 185 cm tall and weighs 80 kg."),  # a weight is not a conflicting height
        ("34", "Born in 1990, he is 34."),  # a year is not a conflicting age
        ("2024", "It opened in 2024."),
        ("-5", "The low was -5."),
        ("45%", "45 percent"),
    ],
)
def test_number_passes(gold: str, answer: str) -> None:
    verdict = grade(gold, answer, "number")
    assert verdict.passed, verdict.reason
    assert (verdict.score, verdict.matcher) == (1.0, "number")
    assert verdict.reason.startswith("number ")


@pytest.mark.parametrize(
    ("gold", "answer", "reason"),
    [
        ("126", "265", "expected 126, got 265"),
        ("185", "192", "expected 185, got 192"),
        ("126", "Incorrect", "off-format: expected 126, no number in the answer"),
        ("185", "1850", "expected 185, got 1850"),
        ("185", "6'1\"", "expected 185, got 73 in"),  # another unit only, no 185 stated
        ("126 pounds", "126 kg", "expected 126 lb, got 126 kg"),
        ("150 million dollars", "150 million euros", "expected 150 million usd, got 150 million eur"),
        ("150 million dollars", "150 thousand dollars", "expected 150 million usd, got 150000 usd"),
        ("150", "between 120 and 150 million", "states 150 million but also 120 million"),
        (
            "150 million dollars",
            "between 120 and 150 million dollars",
            "states 150 million usd but also 120 million usd",
        ),
        ("150", "not 150 but 170", "contradicted: the answer says not 150"),
        ("185", "185 cm, maybe 190 cm", "states 185 cm but also 190 cm"),
        ("185", "6'1\" (188 cm)", "expected 185, got 73 in"),
        ("185", "185 cm (6'5\")", "states 185 cm but also 77 in"),  # 6'5" is 195.6 cm
        ("32", "32 or 33", "states 32 but also 33"),
        ("2024", "2023 or 2024", "states 2024 but also 2023"),
        ("-5", "5", "expected -5, got 5"),
    ],
)
def test_number_fails(gold: str, answer: str, reason: str) -> None:
    verdict = grade(gold, answer, "number")
    assert (verdict.passed, verdict.score, verdict.reason) == (False, 0.0, reason)


# --- the question is context; dates; counts of other things; qualified golds ----------------

GAME_Q = "How many points did Collier score in the first playoff game on September 23, 2024?"


@pytest.mark.parametrize(
    ("gold", "answer", "question", "reason"),
    [
        # a number the question states is context the answer may repeat
        (
            "38",
            "Collier scored 38 points in the first playoff game on September 23, 2024.",
            GAME_Q,
            "number 38 matches 38",
        ),
        ("38", "In game 3 Collier scored 38.", "How many points did Collier score in game 3?", "number 38 matches 38"),
        # the day of a date is never a second value, with or without the question
        (
            "38",
            "Collier scored 38 points in the first playoff game on September 23, 2024.",
            None,
            "number 38 matches 38",
        ),
        (
            "103 degrees",
            "The temperature for the first pitch on September 8, 2024, was 103 degrees Fahrenheit.",
            None,
            "number 103 deg matches 103 degf",
        ),
        ("38", "On 2024-09-23 he scored 38.", None, "number 38 matches 38"),
        ("38", "On 9/23/2024 he scored 38.", None, "number 38 matches 38"),
        ("38", "On the 23rd of September he scored 38.", None, "number 38 matches 38"),
        ("38", "At 7:30 he had scored 38.", None, "number 38 matches 38"),
        # a count is not a second year, and a year is not a second count
        ("2024", "It opened in 2024 with 150 shops.", None, "number 2024 matches 2024"),
        ("150", "By 2024 there were 150 shops.", None, "number 150 matches 150"),
        # counts of different things do not conflict
        ("38", "He scored 38 points and grabbed 12 rebounds.", None, "number 38 matches 38"),
        # qualified golds are graded on their value
        (
            "more than $1 billion",
            "The fund raised a total of $1 billion in new pledges.",
            None,
            "number 1 billion usd matches 1 billion usd",
        ),
        ("more than $1 billion", "over $1 billion", None, "number 1 billion usd matches 1 billion usd"),
        ("about 40 minutes", "It took 40 minutes.", None, "number 40 minute matches 40 minute"),
        ("up to 500 people", "500 people can attend", None, "number 500 matches 500"),
        ("up to 500 people", "It holds 500.", None, "number 500 matches 500"),
    ],
)
def test_number_in_context_passes(gold: str, answer: str, question: str | None, reason: str) -> None:
    verdict = grade(gold, answer, question=question)
    assert (verdict.passed, verdict.matcher, verdict.reason) == (True, "number", reason)


@pytest.mark.parametrize(
    ("gold", "answer", "question", "reason"),
    [
        ("38", "Collier scored 38 or 40 points.", GAME_Q, "states 38 but also 40"),  # hedges still fail
        ("38", "Collier scored 38 points, maybe 40 points.", GAME_Q, "states 38 but also 40"),
        ("38", "He scored 38 points, then 41 points.", GAME_Q, "states 38 but also 41"),
        ("over 9000 fans", "over 9000 seats", None, "expected 9000 fan, got 9000 seat"),
        ("38", "It wasn't 38.", GAME_Q, "contradicted: the answer says not 38"),
        ("38", "Collier scored 23 points on September 23.", GAME_Q, "expected 38, got 23"),
        ("2024", "It opened on March 3, 2023.", None, "expected 2024, got 2023"),
        ("2024", "It opened in 2024 or 2025.", None, "states 2024 but also 2025"),
        ("103 degrees", "It was 103 degrees, or 105 degrees.", None, "states 103 deg but also 105 deg"),
        (
            "103 degrees",
            "It was 103 degrees Celsius, or 98 degrees Fahrenheit.",
            None,
            "states 103 degc but also 98 degf",
        ),
        ("more than $1 billion", "a total of $1.3 billion", None, "expected 1 billion usd, got 1.3 billion usd"),
        (
            "more than $1 billion",
            "less than $1 billion",
            None,
            "contradicted: the answer makes 1 billion usd an upper bound, the gold a lower one",
        ),
        (
            "up to 500 people",
            "at least 500 people",
            None,
            "contradicted: the answer makes 500 a lower bound, the gold an upper one",
        ),
        ("150 million dollars", "\u20ac150 million", None, "expected 150 million usd, got 150 million eur"),
        ("150", "It wasn't 150.", None, "contradicted: the answer says not 150"),
    ],
)
def test_number_in_context_fails(gold: str, answer: str, question: str | None, reason: str) -> None:
    verdict = grade(gold, answer, question=question)
    assert (verdict.passed, verdict.reason) == (False, reason)


@pytest.mark.parametrize(
    ("gold", "matcher"),
    [
        ("more than $1 billion", "number"),
        ("about 40", "number"),
        ("over 9000 fans", "number"),
        ("more than a few", "contains"),
        ("over the bridge", "contains"),
    ],
)
def test_qualified_golds_choose_number(gold: str, matcher: str) -> None:
    assert choose_matcher(gold) == matcher


def test_number_needs_a_numeric_gold() -> None:
    with pytest.raises(ValueError) as info:
        grade("Velmora", "Velmora", "number")
    assert str(info.value) == "matcher `number` needs a numeric gold answer, got 'Velmora'"


@pytest.mark.parametrize(
    ("gold", "answer", "passed", "reason"),
    [
        ("Yes", "Yes", True, "answered yes"),
        ("Yes", "Yes.", True, "answered yes"),
        ("Yes", "yes, she is", True, "answered yes"),
        ("Yes", "YES!\n", True, "answered yes"),
        ("No", "No\n", True, "answered no"),
        ("No", "No.\n", True, "answered no"),
        ("No", "Nope, it was later.", True, "answered no"),
        ("Yes", "No", False, "expected yes, got no"),
        ("No", "Yes\n", False, "expected no, got yes"),
        ("Yes", "Yes and no", False, "says both yes and no"),
        ("No", "No... well, yes.", False, "says both yes and no"),
        ("Yes", "Probably", False, "off-format: says neither yes nor no: 'Probably'"),
        ("No", "Nobody knows", False, "off-format: says neither yes nor no: 'Nobody knows'"),
    ],
)
def test_yes_no(gold: str, answer: str, passed: bool, reason: str) -> None:
    verdict = grade(gold, answer, "yes_no")
    assert (verdict.passed, verdict.matcher, verdict.reason) == (passed, "yes_no", reason)


def test_yes_no_needs_a_yes_or_no_gold() -> None:
    with pytest.raises(ValueError) as info:
        grade("Velmora", "yes", "yes_no")
    assert str(info.value) == "matcher `yes_no` needs a gold of Yes or No, got 'Velmora'"


@pytest.mark.parametrize(
    "answer",
    [
        "None",
        "none.",
        "NONE\n",
        "I don't know",
        "I don’t know.",
        "I do not have information about that.",
        "Unknown",
        "Unknown\n\nThe person is fictional, so no age is recorded.",
        "No such event",
        "There was no such event.",
        "There is no record of repairs to the Velmora bridge in 2031.",
        "This question cannot be answered.",
        "I cannot determine that.",
        "N/A",
        "Not applicable",
        "Nobody",
        "Nothing.",
        "I'm not sure.",
        "Not enough information to say.",
        "The 2031 repairs did not happen.",
        "That has not been announced yet.",
    ],
)
def test_abstain_passes(answer: str) -> None:
    verdict = grade("None", answer)
    assert (verdict.passed, verdict.matcher) == (True, "abstain"), verdict.reason


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("150 million dollars", "expected a decline, got '150 million dollars'"),
        ("Velmora", "expected a decline, got 'Velmora'"),
        ("No", "off-format: expected a decline, got 'No'"),
        ("Yes", "off-format: expected a decline, got 'Yes'"),
        ("0", "expected a decline, got '0'"),
        ("I'm not sure, but probably 150 million.", "declines but guesses: 'probably'"),
        ("I don't know; maybe Velmora.", "declines but guesses: 'maybe'"),
        ("I don't know, it might be Velmora", "declines but guesses: 'might be'"),
        (
            "It is not known for certain, but it is widely believed to be Velmora.",
            "declines but guesses: 'believed to be'",
        ),
    ],
)
def test_abstain_fails_on_a_concrete_answer(answer: str, reason: str) -> None:
    verdict = grade("None", answer, "abstain")
    assert (verdict.passed, verdict.reason) == (False, reason)


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("150 million dollars", "The 2024 repairs cost about 150 million dollars."),
        ("150 million dollars", "About $150 million, paid by the city."),
        ("150", "It was 150."),
        ("pilot", "She works as a pilot."),
        ("police officer", "He is a police officer in Velmora."),
        ("Velmora", "She lives in Velmora."),
        ("Velmora", "It is Velmora's."),
        ("Velmora", "VELMORA"),
        ("Café Ölmühle", "the cafe olmuhle"),
    ],
)
def test_contains_passes(gold: str, answer: str) -> None:
    verdict = grade(gold, answer, "contains")
    assert (verdict.passed, verdict.matcher) == (True, "contains"), verdict.reason


@pytest.mark.parametrize(
    ("gold", "answer", "reason"),
    [
        ("pilot", "copilot", "expected 'pilot', got 'copilot'"),
        ("Velmorax", "Velmo", "truncated name: 'Velmo' is not 'Velmorax'"),
        ("Velmora", "not Velmora but Ostrin", "contradicted: the answer says not 'velmora'"),
        ("Velmora", "It isn't Velmora.", "contradicted: the answer says not 'velmora'"),
        ("Velmora", "Velmora or Ostrin", "hedged: 'velmora' is one of alternatives"),
        ("Velmora", "Either Ostrin or Velmora.", "hedged: 'velmora' is one of alternatives"),
        ("150", "between 120 and 150", "states 150 but also 120"),
        ("150", "between 120 and 150 million", "expected '150', got 'between 120 and 150 million'"),
        ("150", "not 150 but 170", "contradicted: the answer says not '150'"),
        ("150", "It went from 150 to 170.", "states 150 but also 170"),
        (
            "150 million dollars",
            "It cost 150 million dollars, then 40 million dollars more.",
            "states 150 million usd but also 40 million usd",
        ),
    ],
)
def test_contains_fails_when_absent_or_contradicted(gold: str, answer: str, reason: str) -> None:
    verdict = grade(gold, answer, "contains")
    assert (verdict.passed, verdict.reason) == (False, reason)


GUIDELINE = "Start metformin and advise lifestyle changes including diet and exercise"


@pytest.mark.parametrize(
    ("answer", "passed"),
    [
        ("Start metformin, and advise lifestyle changes including diet and exercise.", True),
        ("Advise lifestyle changes including diet and exercise and start metformin", True),
        ("Start insulin immediately and refer to a specialist", False),
        ("No treatment is needed", False),
    ],
)
def test_fuzzy(answer: str, passed: bool) -> None:
    verdict = grade(GUIDELINE, answer)
    assert (verdict.passed, verdict.matcher) == (passed, "fuzzy"), verdict.reason
    assert 0.0 <= verdict.score <= 1.0
    assert (verdict.score >= 0.9) == passed


def test_fuzzy_threshold_is_honoured() -> None:
    answer = "Start metformin and advise lifestyle change with diet"
    loose = grade(GUIDELINE, answer, "fuzzy", fuzzy_threshold=60)
    strict = grade(GUIDELINE, answer, "fuzzy", fuzzy_threshold=99)
    assert loose.passed and not strict.passed
    assert loose.score == strict.score


@pytest.mark.parametrize(
    ("gold", "answer", "reason"),
    [
        ("Velmorax", "Velmo", "truncated name: 'Velmo' is not 'Velmorax'"),
        ("Tavunesk", "Tav", "truncated name: 'Tav' is not 'Tavunesk'"),
        ("Qirobasel", "Qirobalut", "expected 'Qirobasel', got 'Qirobalut'"),  # near-miss spelling
        ("Velmora", "Velmorra", "expected 'Velmora', got 'Velmorra'"),
        ("Hanzipor", "Hanzipo", "truncated name: 'Hanzipo' is not 'Hanzipor'"),
    ],
)
def test_auto_never_accepts_a_truncated_or_misspelled_name(gold: str, answer: str, reason: str) -> None:
    verdict = grade(gold, answer)
    assert (verdict.passed, verdict.score, verdict.matcher, verdict.reason) == (False, 0.0, "contains", reason)


@pytest.mark.parametrize(
    ("gold", "answer", "passed", "matcher"),
    [
        ("150 million dollars", "The 2024 repairs cost about 150 million dollars.", True, "number"),
        ("185", "6'1\" (185 cm)", True, "number"),
        ("126", "265", False, "number"),
        ("126", "Incorrect", False, "number"),
        ("126", "126 lbs", True, "number"),
        ("Yes", "Yes.", True, "yes_no"),
        ("None", "There is no record of such repairs.", True, "abstain"),
        ("None", "150 million dollars", False, "abstain"),
        ("pilot", "Pilot\n\n", True, "contains"),
        ("Velmora", "She was born in Velmora.", True, "contains"),
    ],
)
def test_auto(gold: str, answer: str, passed: bool, matcher: str) -> None:
    verdict = grade(gold, answer)
    assert (verdict.passed, verdict.matcher) == (passed, matcher), verdict.reason
    assert verdict.reason


def test_unknown_matcher_is_an_error() -> None:
    with pytest.raises(ValueError) as info:
        grade("185", "185", "regex")
    assert (
        str(info.value) == "unknown matcher 'regex'; use one of auto, exact, number, yes_no, abstain, contains, fuzzy"
    )


def _upstream_counts(clone: Path) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Per file and model: (auto passes, normalized-exact passes, rows)."""
    folder = clone / "model_responses" / "fictional_people"
    counts: dict[str, dict[str, tuple[int, int, int]]] = {}
    for path in sorted(folder.glob("*_w_responses.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        split = path.name.removeprefix("fictional_people_").removesuffix("_w_responses.csv")
        counts[split] = {}
        for column in (c for c in rows[0] if c.endswith("_response")):
            auto = sum(grade(r["answer"], r[column]).passed for r in rows)
            exact = sum(normalize(r["answer"]) == normalize(r[column]) for r in rows)
            counts[split][column.removesuffix("_response")] = (auto, exact, len(rows))
    return counts


def test_calibration_on_the_published_answers(clone: Path) -> None:
    counts = _upstream_counts(clone)
    mini = "gpt-4o-mini-2024-07-18"
    assert counts["original"][mini][0] == 150
    assert counts["rephrased"][mini][0] == 134
    # auto agrees with normalized exact match everywhere but one answer, checked by eye:
    # a height stated in feet and, in brackets, as the gold number of centimetres.
    differences = {
        (split, model): auto - exact
        for split, models in counts.items()
        for model, (auto, exact, _rows) in models.items()
        if auto != exact
    }
    assert differences == {("original", "gemini-1.5-flash-002"): 1}


# Whole verdicts (matcher, reason, score, form): each row checked by hand.
@pytest.mark.parametrize(
    ("gold", "answer", "matcher", "verdict"),
    [
        ("Velmora", "x" * 50, "auto", Verdict(False, 0.0, "contains", "expected 'Velmora', got '" + "x" * 37 + "...'")),
        ("Velmora Bridge", "Velmora Bridge", "exact", Verdict(True, 1.0, "exact", "'velmora bridge' matches exactly")),
        (
            "Velmora Bridge",
            "Velmora",
            "exact",
            Verdict(False, 0.0, "exact", "truncated name: 'Velmora' is not 'Velmora Bridge'"),
        ),
        (
            "None",
            "I don't know; maybe Velmora.",
            "auto",
            Verdict(False, 0.0, "abstain", "declines but guesses: 'maybe'"),
        ),
        (
            "None",
            "I don't know what happened in the village of Velmora in the spring of that year",
            "auto",
            Verdict(True, 1.0, "abstain", 'declined: "i don\'t know"'),
        ),
        (
            "Velmora",
            "It was not Velmora.",
            "contains",
            Verdict(False, 0.0, "contains", "contradicted: the answer says not 'velmora'"),
        ),
        (
            "Velmora",
            "Velmora or Ostrin",
            "contains",
            Verdict(False, 0.0, "contains", "hedged: 'velmora' is one of alternatives"),
        ),
        ("150", "not 150 but 170", "number", Verdict(False, 0.0, "number", "contradicted: the answer says not 150")),
        (
            "more than $1 billion",
            "less than $1 billion",
            "auto",
            Verdict(
                False,
                0.0,
                "number",
                "contradicted: the answer makes 1 billion usd an upper bound, the gold a lower one",
            ),
        ),
        (
            "over 9000 fans",
            "over 9000 seats",
            "auto",
            Verdict(False, 0.0, "number", "expected 9000 fan, got 9000 seat"),
        ),
        ("38", "Collier scored 38 or 40 points.", "auto", Verdict(False, 0.0, "number", "states 38 but also 40")),
        (
            "Route 66",
            "Route 66 or 67",
            "contains",
            Verdict(False, 0.0, "contains", "hedged: 'route 66' is one of alternatives"),
        ),
        ("Route 66", "Route 66 and Route 67", "contains", Verdict(False, 0.0, "contains", "states 66 but also 67")),
        (
            "abcdefghij",
            "abcdefghix",
            "fuzzy",
            Verdict(True, 0.9, "fuzzy", "token_set_ratio 90 >= 90"),
        ),  # at the default
        (
            "23",
            "It happened on September 23.",
            "auto",
            Verdict(True, 1.0, "number", "number 23 matches 23"),
        ),  # a day gold
        (
            "103 degrees",
            "It was 103 degrees Celsius.",
            "auto",
            Verdict(True, 1.0, "number", "number 103 deg matches 103 degc"),
        ),
        (
            "103 degrees Celsius",
            "It was 103 degrees Fahrenheit.",
            "auto",
            Verdict(False, 0.0, "number", "expected 103 degc, got 103 degf"),
        ),
        ("6 feet", "6 feet (183 cm)", "auto", Verdict(True, 1.0, "number", "number 6 ft matches 6 ft")),
        ("2 kilometres", "2 km, that is 2000 m", "auto", Verdict(True, 1.0, "number", "number 2 km matches 2 km")),
    ],
)
def test_whole_verdicts(gold: str, answer: str, matcher: str, verdict: Verdict) -> None:
    assert grade(gold, answer, matcher) == verdict


def test_a_repeated_question_number_is_context_only_when_the_question_states_it() -> None:
    question = "How many points did Collier score in game 3 of 2024?"
    assert grade("38", "In game 3 Collier scored 38.", question=question).passed
    assert grade("38", "In game 4 Collier scored 38.", question=question).reason == "states 38 but also 4"
    assert grade("38", "He scored 41.", question=question).reason == "expected 38, got 41"
    assert grade("38", "He scored 3.", question=question).reason == "expected 38, got 3"  # only question numbers left


def test_in_form_details() -> None:
    from pytest_finetunebench.grading.grade import in_form

    assert in_form("contains", "Velmora", None) is False
    assert in_form("abstain", "None", "No such event happened.") is True  # a decline that opens with "no"
    assert in_form("contains", "Velmora", "No such town.") is False
    assert in_form("exact", "Route 66", "Route sixty") is True  # exact wants a value, not a number
    assert in_form("contains", "Route 66", "Route sixty-six") is True
    assert in_form("contains", "Route 66", "The old route") is True  # a value; only number golds want a number
    assert in_form("auto", "about 40", "forty-ish") is True and in_form("auto", "about 40", "several") is False


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Paris or Lyon; I would say Paris", "hedged: 'paris' is one of alternatives"),  # the first mention counts too
        ("Lyon, then not Paris, then Paris", "contradicted: the answer says not 'paris'"),
        ("Paris, not Paris, Paris", "contradicted: the answer says not 'paris'"),  # and every one in between
    ],
)
def test_every_mention_of_the_gold_is_checked(answer: str, reason: str) -> None:
    assert grade("Paris", answer, "contains") == Verdict(False, 0.0, "contains", reason, in_form=True)


def test_a_fuzzy_miss_says_by_how_much() -> None:
    got = grade("Velmora Bridge", "Ostrin Tunnel", "fuzzy")
    assert (got.passed, got.matcher, got.reason) == (False, "fuzzy", "token_set_ratio 37 < 90")


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("10 - 20 degrees", [("10", "deg"), ("20", "deg")]),  # a range, spaces around the dash
        ("10% -20%", [("10", "percent"), ("20", "percent")]),
        ("5' -6'", [("5", "ft"), ("6", "ft")]),
        ('5" - 6"', [("5", "in"), ("6", "in")]),
        ("12 -4", [("12", None), ("4", None)]),
        ("a range of 10 - 20 kg", [("10", "kg"), ("20", "kg")]),
        ("it was -20", [("-20", None)]),  # a minus sign
        ("-4 then 3", [("-4", None), ("3", None)]),
    ],
)
def test_a_dash_after_a_number_joins_a_range_and_elsewhere_is_a_minus_sign(text: str, values: list) -> None:
    assert [(str(q.value), q.unit) for q in analyze(text).quantities] == values


@pytest.mark.parametrize(
    ("words", "digits"),
    [
        ("two million three hundred thousand", "2300000"),
        ("one billion two hundred million", "1200000000"),
        ("nine hundred ninety nine thousand", "999000"),
        ("one hundred and twenty", "120"),
        ("two thousand and twenty", "2020"),
        ("a thousand and one nights", "1001 nights"),
        ("twenty-one", "21"),
        ("twenty one", "21"),
        ("twenty five hundred", "2500"),
        ("fifteen hundred", "1500"),
        ("a hundred", "100"),
        ("one hundred fifty million", "150000000"),
        # where one number ends and the next begins
        ("one two three", "1 2 3"),
        ("twenty thirty", "20 30"),
        ("twenty ten", "20 10"),
        ("seventy zero", "70 0"),
        ("one or two", "1 or 2"),
        ("thirty and five", "30 and 5"),
        ("four hundred and", "400 and"),
        ("three thousand million", "3000 million"),
        ("one hundred hundred", "100 hundred"),
        ("hundred", "hundred"),
        ("twelve dozen", "12 dozen"),
        ("rock and roll", "rock and roll"),
        ("zero", "0"),
    ],
)
def test_number_words_become_digits(words: str, digits: str) -> None:
    assert normalize(words) == digits


@pytest.mark.parametrize(
    ("gold", "answer", "passed", "reason"),
    [
        ("up to 5 people", "No more than 5 people.", True, "number 5 matches 5"),
        ("at most 10", "not more than 10", True, "number 10 matches 10"),
        ("at least 10", "no less than 10", True, "number 10 matches 10"),
        ("at least 10", "No fewer than 10.", True, "number 10 matches 10"),
        (
            "more than 5 people",
            "No more than 5 people.",
            False,
            "contradicted: the answer makes 5 an upper bound, the gold a lower one",
        ),
        ("over 50", "under 50", False, "contradicted: the answer makes 50 an upper bound, the gold a lower one"),
    ],
)
def test_the_longest_bound_phrase_decides(gold: str, answer: str, passed: bool, reason: str) -> None:
    # "no more than 5" is an upper bound even though it ends in "more than"
    got = grade(gold, answer)
    assert (got.passed, got.reason) == (passed, reason)


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("over 50", "lower"),
        ("more than 50 people", "lower"),
        ("at least 12", "lower"),
        ("no less than 3", "lower"),
        ("at most 7", "upper"),
        ("up to 10 kg", "upper"),
        ("fewer than 3", "upper"),
        ("no more than 5", "upper"),
        ("about 40", None),
        ("there were, in the end, well over 40", "lower"),
        ("there were more than 50 people", "lower"),
        ("there were no more than 5", "upper"),  # two and three words, after others
    ],
)
def test_bounds_read_from_the_words_before_a_number(text: str, bound: str | None) -> None:
    assert [q.bound for q in analyze(text).quantities] == [bound]


@pytest.mark.parametrize(
    ("words", "digits"),
    [
        ("five twenty", "5 20"),
        ("ninety thousand", "90000"),
        ("forty two thousand", "42000"),
        ("ninety hundred", "9000"),
        ("one million million", "1000000 million"),
        ("one two thousand", "1 2000"),
        ("one hundred zero hundred", "100 hundred"),
    ],
)
def test_number_words_at_their_edges(words: str, digits: str) -> None:
    assert normalize(words) == digits


@pytest.mark.parametrize(
    ("gold", "answer", "passed", "reason"),
    [
        ("1.5 kg", "1500 g", True, "number 1.5 kg matches 1500 g"),
        ("1.5 kg", "About 3.3 pounds.", True, "number 1.5 kg matches 3.3 lb"),
        ("150 lb", "68 kg", True, "number 150 lb matches 68 kg"),
        ("185 cm", "6'1\"", True, "number 185 cm matches 73 in"),
        ("185 cm", "6 ft", False, "expected 185 cm, got 6 ft"),  # 182.9 cm: 1.1% off
        ("5 km", "3 miles", False, "expected 5 km, got 3 mi"),
        ("185", "6'1\"", False, "expected 185, got 73 in"),  # a unitless gold says nothing about centimetres
        ("1.5 kg", "1500 g, or maybe 2 kg", False, "states 1500 g but also 2 kg"),
    ],
)
def test_a_gold_with_a_unit_matches_itself_in_another_unit(gold: str, answer: str, passed: bool, reason: str) -> None:
    got = grade(gold, answer)
    assert (got.passed, got.reason) == (passed, reason)


@pytest.mark.parametrize(
    ("text", "quantities"),
    [
        ("5 kg to 10 lb", [("5", "kg", None, False), ("10", "lb", None, False)]),  # each keeps its own unit
        ("5 to 10 to 20 kg", [("5", "kg", None, False), ("10", "kg", None, False), ("20", "kg", None, False)]),
        ("between 5 and 10 million", [("5000000", None, None, True), ("10000000", None, None, True)]),
        ("5 cats", [("5", None, "cat", False)]),
        ("5 sheep", [("5", None, "sheep", False)]),
        ("3 gas", [("3", None, "gas", False)]),
        ("5 kg apples", [("5", "kg", None, False)]),  # a unit is no noun
        ("about '6' really", [("6", None, "really", False)]),  # a quoted number, not six feet
        ("he is 6' tall", [("6", "ft", None, False)]),
    ],
)
def test_quantities_carry_their_unit_noun_and_scale(text: str, quantities: list) -> None:
    assert [(str(q.value), q.unit, q.noun, q.scaled) for q in analyze(text).quantities] == quantities


@pytest.mark.parametrize(
    ("text", "shown"), [("1000 g", "1000 g"), ("1.50 kg", "1.5 kg"), ("2000000 kg", "2 million kg"), ("1000", "1000")]
)
def test_quantities_are_shown_as_written_without_exponents(text: str, shown: str) -> None:
    assert [q.display() for q in analyze(text).quantities] == [shown]


def test_a_gold_of_six_words_or_more_is_graded_fuzzily() -> None:
    assert [choose_matcher(" ".join(["word"] * n)) for n in (5, 6, 7)] == ["contains", "fuzzy", "fuzzy"]


# --- edges found by mutation testing: each verdict whole ---------------------------------------


@pytest.mark.parametrize(
    ("gold", "answer", "matcher", "question", "verdict"),
    [
        # a gold in its own unit is compared exactly; in another unit within 1%, both ends included
        ("1.51 kg", "1.5 kg", "auto", None, (False, "expected 1.51 kg, got 1.5 kg")),
        ("1 kg", "1010 g", "auto", None, (True, "number 1 kg matches 1010 g")),
        ("1 kg", "990 g", "auto", None, (True, "number 1 kg matches 990 g")),
        # a restatement in other units is within 1.5%, both ends included
        ("1 km", "1 km (1015 m)", "auto", None, (True, "number 1 km matches 1 km")),
        ("1 km", "1 km, or 985 m", "auto", None, (True, "number 1 km matches 1 km")),
        # "about" puts no bound on a gold
        ("about 50 people", "At least 50 people.", "auto", None, (True, "number 50 matches 50")),
        # a date's day is not the counted number: its bound is the one that counts
        (
            "at most 12 cats",
            "The 12th of May: more than 12 cats.",
            "auto",
            None,
            (False, "contradicted: the answer makes 12 a lower bound, the gold an upper one"),
        ),
        # a negated verb before the number negates it
        ("12 cats", "She did not have 12 cats.", "auto", None, (False, "contradicted: the answer says not 12")),
        # however much space (a model's blank lines) lies between the words and the number
        ("12", "It was not" + "\n" * 40 + "12.", "auto", None, (False, "contradicted: the answer says not 12")),
        ("up to 5 people", "No more than" + "\n" * 13 + "5 people.", "auto", None, (True, "number 5 matches 5")),
        # a wrong answer names the number offered, not the question's (same value and unit only)
        (
            "120 m",
            "It was 90 m, now 100 m.",
            "auto",
            "How tall is it, given it was 90 m in 1990?",
            (False, "expected 120 m, got 100 m"),
        ),
        (
            "120 m",
            "It was 90 m, now 100 m.",
            "auto",
            "How tall is it, given it weighed 90 kg in 1990?",
            (False, "expected 120 m, got 90 m"),
        ),
        # a bare number beside a gold with a unit: a count elsewhere in the answer is another kind of thing
        ("120 m", "120, up from 100.", "auto", None, (True, "number 120 m matches 120")),
        # the question's number is context, any other is a second answer
        (
            "120 m",
            "It grew from 100 m to 120 m, or 130 m.",
            "auto",
            "It was 100 m in 1990; how tall is it now?",
            (False, "states 120 m but also 130 m"),
        ),
        (
            "120 m",
            "It grew from 100 m to 120 m.",
            "contains",
            "It was 100 m in 1990; how tall is it now?",
            (True, "number 120 m matches 120 m"),
        ),
        # a decline is quoted up to 30 characters, any other answer up to 40
        (
            "None",
            "There were no available records of that.",
            "auto",
            None,
            (True, "declined: 'there were no available rec...'"),
        ),
        (
            "None",
            "The repairs cost ninety million dollars.",
            "auto",
            None,
            (False, "expected a decline, got 'The repairs cost ninety million dollars.'"),
        ),
        (
            "None",
            "The repairs cost ninety million dollars!!",
            "auto",
            None,
            (False, "expected a decline, got 'The repairs cost ninety million dolla...'"),
        ),
    ],
)
def test_number_and_decline_edges(
    gold: str, answer: str, matcher: str, question: str | None, verdict: tuple[bool, str]
) -> None:
    result = grade(gold, answer, matcher, question=question)
    assert (result.passed, result.reason) == verdict


def test_an_unknown_matcher_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as err:
        grade("1", "1", "nope")
    assert str(err.value) == "unknown matcher 'nope'; use one of auto, exact, number, yes_no, abstain, contains, fuzzy"


def test_a_qualified_gold_with_more_words_than_its_noun_is_text() -> None:
    assert choose_matcher("more than 500 people in the city") == "fuzzy"


@pytest.mark.parametrize(
    ("matcher", "gold", "answer", "form"),
    [
        ("number", "a dozen", "several", False),  # the number matcher wants a number whatever its gold
        ("exact", "42", "the answer", True),  # the exact matcher wants any value, even for a numeric gold
    ],
)
def test_in_form_follows_an_explicit_matcher(matcher: str, gold: str, answer: str, form: bool) -> None:
    assert in_form(matcher, gold, answer) is form


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1000 trillion dollars", ["1000000000000000 usd"]),  # past the largest scale word: digits
        ("1234567", ["1234567"]),  # not a round number of millions
        ("1501000", ["1.501 million"]),
        ("one hundred fifty million dollars", ["150 million usd"]),
        ("ninety thousand five hundred", ["90500"]),
        ("12 hours later it was -5 degrees", ["12 hour", "-5 deg"]),  # a minus after words, not a range
        ("On day 10: -3 degrees", ["10", "-3 deg"]),
        ("0.0000001 kg", ["0.0000001 kg"]),  # never an exponent
        (
            "between 120 and 150 million dollars, up from 90",
            ["120 million usd", "150 million usd", "90"],
        ),  # a range shares its scale
        ("He wrote ''12'' on it", ["12"]),  # quoted, not inches
    ],
)
def test_quantities_as_displayed(text: str, shown: list[str]) -> None:
    assert [q.display() for q in analyze(text).quantities] == shown


def test_a_matcher_added_by_a_hook_decides_and_a_bool_reads_as_match_or_not():
    from pytest_finetunebench.grading.grade import Verdict

    mine = {"same_length": lambda gold, answer, question: len(gold) == len(answer)}
    assert grade("Velmora", "Kastrup", "same_length", extra=mine) == Verdict(
        True, 1.0, "same_length", "same_length: match"
    )
    assert grade("Velmora", "Ada", "same_length", extra=mine) == Verdict(
        False, 0.0, "same_length", "same_length: no match"
    )
    assert grade("Velmora", " ", "same_length", extra=mine) == Verdict(
        False, 0.0, "same_length", "no answer", in_form=False
    )
    with pytest.raises(ValueError) as info:
        grade("Velmora", "Kastrup", "same_length")
    assert str(info.value) == (
        "unknown matcher 'same_length'; use one of auto, exact, number, yes_no, abstain, contains, fuzzy"
    )
