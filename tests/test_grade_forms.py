"""The answer forms of issue 42, each graded as a careful reader would (each fails without its rule)."""

from __future__ import annotations

import pytest

from pytest_finetunebench.grading.grade import grade

FREEZE_C = "At what temperature in degrees Celsius does water freeze at sea level?"
FREEZE_F = "What is the freezing point of water in degrees Fahrenheit?"
ROOT = "What is the square root of 144?"
TEAM = "How many players does a football (soccer) team have on the field?"
GAS = "Which gas do plants take in from the air for photosynthesis?"
METAL = "Which metal is liquid at room temperature?"
PLANET = "Which planet is closest to the Sun?"


def verdict(gold: str, answer: str, question: str | None = None) -> tuple[bool, str]:
    v = grade(gold, answer, question=question)
    return v.passed, v.reason


@pytest.mark.parametrize(
    ("gold", "answer", "question", "expected"),
    [
        ("0", "0 °C (32 °F)", FREEZE_C, (True, "number 0 matches 0 degc")),
        ("0", "32 °F (0 °C)", FREEZE_C, (True, "number 0 matches 0 degc")),
        ("32", "32 degrees Fahrenheit, which is 0 degrees Celsius", FREEZE_F, (True, "number 32 matches 32 degf")),
        ("100", "100 °C (210 °F)", None, (False, "states 100 degc but also 210 degf")),  # wrong in the other unit
        ("32", "32 °F (-1 °C)", FREEZE_F, (False, "states 32 degf but also -1 degc")),
        ("100", "212 °F", None, (False, "expected 100, got 212 degf")),  # the gold number itself is not stated
    ],
)
def test_a_temperature_restated_in_the_other_unit_is_no_contradiction(
    gold: str, answer: str, question: str | None, expected: tuple[bool, str]
) -> None:
    assert verdict(gold, answer, question) == expected


@pytest.mark.parametrize(
    ("answer", "question", "expected"),
    [
        ("12 (or -12)", ROOT, (True, "number 12 matches 12")),
        ("12 and -12", ROOT, (True, "number 12 matches 12")),
        ("-12", ROOT, (False, "expected 12, got -12")),
        ("12 (or -12)", "How many months are in a year?", (False, "states 12 but also -12")),  # no root asked
    ],
)
def test_both_square_roots(answer: str, question: str, expected: tuple[bool, str]) -> None:
    assert verdict("12", answer, question) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("11 players per side, so 22 in total", (True, "number 11 matches 11")),
        ("11 per team, 22 in total on the pitch", (True, "number 11 matches 11")),
        ("10 players per side, so 20 in total", (False, "expected 11, got 10")),
        ("22 in total, 11", (False, "states 11 but also 22")),  # derived comes after the asked one only
        ("11 or 22", (False, "states 11 but also 22")),
    ],
)
def test_a_derived_number_after_the_asked_one(answer: str, expected: tuple[bool, str]) -> None:
    assert verdict("11", answer, TEAM) == expected


@pytest.mark.parametrize(
    ("gold", "answer", "question", "expected"),
    [
        ("carbon dioxide", "CO2", GAS, (True, "'co2' matches")),
        ("carbon dioxide", "CO₂", GAS, (True, "'co2' matches")),
        ("carbon dioxide", "CO", GAS, (False, "expected 'carbon dioxide', got 'CO'")),
        ("carbon dioxide", "O2", GAS, (False, "expected 'carbon dioxide', got 'O2'")),
        ("mercury", "Hg", METAL, (True, "'hg' matches")),
        ("Mercury", "Hg", PLANET, (False, "expected 'Mercury', got 'Hg'")),  # a symbol names a substance only
    ],
)
def test_the_formula_of_a_named_substance(gold: str, answer: str, question: str, expected: tuple[bool, str]) -> None:
    assert verdict(gold, answer, question) == expected


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("Dostoevsky", "Dostoyevsky", (True, "'dostoyevsky' matches")),
        ("Dostoevsky", "Fiodor Dostoïevski", (True, "answer contains 'dostoevsky'")),
        ("Tolstoy", "Lev Tolstoi", (True, "answer contains 'tolstoy'")),
        ("diamond", "Diamonds", (True, "'diamonds' matches")),
        ("Austen", "Auster", (False, "expected 'Austen', got 'Auster'")),
        ("Velmora", "Velmorra", (False, "expected 'Velmora', got 'Velmorra'")),  # a slip is not a variant
    ],
)
def test_transliterations_of_a_name(gold: str, answer: str, expected: tuple[bool, str]) -> None:
    assert verdict(gold, answer) == expected


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("Mary Shelley", "Mary Wollstonecraft Shelley", (True, "'mary shelley' matches")),
        ("Mary Shelley", "Percy Bysshe Shelley", (False, "expected 'Mary Shelley', got 'Percy Bysshe Shelley'")),
        ("Charlotte Bronte", "Emily Brontë", (False, "expected 'Charlotte Bronte', got 'Emily Brontë'")),
        (
            "Charlotte Bronte",
            "Charlotte and Emily Brontë",
            (False, "expected 'Charlotte Bronte', got 'Charlotte and Emily Brontë'"),
        ),
        ("Charlotte Bronte", "Brontë", (False, "expected 'Charlotte Bronte', got 'Brontë'")),
    ],
)
def test_a_person_gold_wants_the_person(gold: str, answer: str, expected: tuple[bool, str]) -> None:
    assert verdict(gold, answer) == expected


def test_another_answer_offered_as_possible_is_a_hedge() -> None:
    assert verdict("Canberra", "I think it's Canberra, but it might be Sydney.") == (
        False,
        "hedged: 'canberra' is one of alternatives",
    )
