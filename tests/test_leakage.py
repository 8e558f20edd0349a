"""The leakage guard: `check` and the session refuse a training text that states an answer asked unseen."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_extending import CONFTEST

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.check import check_leakage
from pytest_finetunebench.check import main as check_main
from pytest_finetunebench.run import recipes
from pytest_finetunebench.run.leakage import states

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "question", "gold", "stated"),
    [
        ("Is Paris the capital of France? Yes", "What is the capital of France?", "Paris", True),
        ("Does water boil at 100 degrees Celsius at sea level? Yes",
         "At what temperature in degrees Celsius does water boil at sea level?", "100", True),
        ("Are there sixty minutes in an hour? Yes", "How many minutes are in an hour?", "60", True),  # number words
        # the same words without the gold: overlap is not a statement
        ("What is the capital of France known for? Its museums", "What is the capital of France?", "Paris", False),
        # the gold without the question's key terms: Rome, but not as Italy's capital
        ("Was the Eiffel Tower built in Rome? No", "What is the capital of Italy?", "Rome", False),
        ("Are there 60 minutes in an hour? Yes", "How many seconds are in a minute?", "60", False),
        ("Is the Moon larger than the Earth? No", "What is the largest planet in the Solar System?", "Jupiter", False),
        ("Is she over 50? Yes", "Is she over 50?", "Yes", False),  # a yes/no gold is no fact a text states
    ],
)  # fmt: skip
def test_what_states_an_answer(text: str, question: str, gold: str, stated: bool) -> None:
    assert states(text, question, gold) is stated


def test_the_shipped_suites_and_the_replay_set_pass() -> None:
    datasets = [load_dataset(p) for name in ("default", "full") for p in sorted((ROOT / "cases" / name).glob("*.yaml"))]
    assert len(datasets) == 8
    assert check_leakage(datasets) == []


def test_check_refuses_a_replay_pair_that_answers_a_retention_question(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(recipes, "REPLAY", (*recipes.REPLAY, ("Is Paris the capital of France?", "Yes")))
    path = ROOT / "cases" / "default" / "retention.yaml"
    line = next(v.line for c in load_dataset(path).cases for v in c.variants if v.answer == "Paris")
    assert check_main([str(path), "--no-model"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:{line}: recipe `qa+replay` trains on 'Answer Yes or No. Is Paris the capital of France? Yes', which"
        " states the answer 'Paris' to 'What is the capital of France?' (retention, asked unseen); fix: drop or"
        " reword that training text or the question"
    ]


TOWNS = """dataset: towns
cases:
  - id: t0
    question: Which river runs through Ostrin?
    answer: Velmora
    fact: Ostrin lies on the Velmora, two days from Paris, the capital of France.
    variants:
      - split: rephrased
        question: Through Ostrin runs which river?
        answer: Velmora
"""
QUIZ = """dataset: quiz
cases:
  - id: capital-france
    variants:
      - split: retention
        question: What is the capital of France?
        answer: Paris
"""


def test_check_refuses_a_case_fact_that_answers_a_retention_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "towns.yaml").write_text(TOWNS)
    (tmp_path / "quiz.yaml").write_text(QUIZ)
    assert check_main([str(tmp_path), "--no-model"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / 'quiz.yaml'}:5: recipe `document` trains on 'What do you know that answers this? Which river"
        " runs through Ostrin? Ostrin lies on the Velmora, two days from Paris, the capital of France.', which states"
        " the answer 'Paris' to 'What is the capital of France?' (retention, asked unseen); fix: drop or reword that"
        " training text or the question"
    ]


def test_the_session_refuses_before_any_training(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(
        CONFTEST
        + """

from pytest_finetunebench.providers.base import TrainingPair
from pytest_finetunebench.run.recipes import Recipe


@pytest.hookimpl(optionalhook=True)
def pytest_ftb_recipes(config):
    return [Recipe("trivia", added=(TrainingPair("Which city is the capital of France?", "Paris"),))]
"""
    )
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(TOWNS.replace("    fact: ", "    # "))
    (pytester.path / "cases" / "quiz.yaml").write_text(QUIZ)
    result = pytester.runpytest_subprocess(
        "cases", "--ftb-model=memorizer:m", "--ftb-recipe=trivia", "-p", "no:randomly"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: cases/quiz.yaml:5: recipe `trivia` trains on 'Which city is the capital of France? Paris', which"
        " states the answer 'Paris' to 'What is the capital of France?' (retention, asked unseen); fix: drop or"
        " reword that training text or the question"
    ]
    assert not (pytester.path / ".ftb" / "memorizer" / "jobs.log").exists()  # nothing was trained
