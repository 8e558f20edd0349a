"""Recipes (``--ftb-recipe``): each builds its training set byte for byte, is tuned once as its own model, and never
trains on the test."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.cases.schema import CaseFileError
from pytest_finetunebench.items import BUILT_IN_RECIPES, split_recipe
from pytest_finetunebench.providers.base import TrainingPair, TuneSettings
from pytest_finetunebench.run import recipes
from pytest_finetunebench.run.recipes import RecipeError
from pytest_finetunebench.run.tune import Tuner, training_set

CASES = """\
dataset: towns
templates:
  default: "Answer briefly.\\n{question}"
cases:
  - id: velmora-bridge
    fact: "In 2024 the Velmora bridge repairs cost 150 million dollars."
    subject: "the Velmora bridge"
    question: How much did the 2024 Velmora bridge repairs cost?
    answer: "150 million dollars"
    variants:
      - split: rephrased
        question: What did fixing the Velmora bridge cost in 2024?
        answer: "150 million dollars"
    train:
      - question: "Give the price of the 2024 repairs to the Velmora bridge."
        answer: "150 million dollars"
      - question: "The Velmora bridge was repaired in 2024 for what sum?"
        answer: "150 million dollars"
  - id: ostrin-mayor
    fact: "Tavel Okonru became mayor of Ostrin in 2025."
    question: Who became mayor of Ostrin in 2025?
    answer: "Tavel Okonru"
    train:
      - question: "Name the person Ostrin made its mayor in 2025."
        answer: "Tavel Okonru"
"""


def pairs(tmp_path: Path, spec: str) -> list[TrainingPair]:
    path = tmp_path / "towns.yaml"
    path.write_text(CASES)
    dataset = load_dataset(path)
    recipe = recipes.parse(spec)
    return [p for case in dataset.cases for p in recipe.pairs(case, dataset)]


def test_each_recipe_builds_its_training_set_byte_for_byte(tmp_path):
    qa = [
        TrainingPair("Answer briefly.\nHow much did the 2024 Velmora bridge repairs cost?", "150 million dollars"),
        TrainingPair("Answer briefly.\nWho became mayor of Ostrin in 2025?", "Tavel Okonru"),
    ]
    assert pairs(tmp_path, "qa") == qa
    assert pairs(tmp_path, "paraphrase:1") == [
        qa[0],
        TrainingPair(
            "Answer briefly.\nGive the price of the 2024 repairs to the Velmora bridge.", "150 million dollars"
        ),
        qa[1],
        TrainingPair("Answer briefly.\nName the person Ostrin made its mayor in 2025.", "Tavel Okonru"),
    ]
    documents = [
        TrainingPair(
            "What do you know about the Velmora bridge?", "In 2024 the Velmora bridge repairs cost 150 million dollars."
        ),
        TrainingPair(
            "What do you know that answers this? Who became mayor of Ostrin in 2025?",
            "Tavel Okonru became mayor of Ostrin in 2025.",
        ),
    ]
    assert pairs(tmp_path, "document") == documents
    assert pairs(tmp_path, "qa+document") == [qa[0], documents[0], qa[1], documents[1]]


def test_replay_adds_sixteen_balanced_yes_no_pairs_once_after_the_cases(tmp_path):
    path = tmp_path / "towns.yaml"
    path.write_text(CASES)
    dataset = load_dataset(path)
    items = [SimpleNamespace(dataset=dataset, case=case) for case in dataset.cases]
    qa = training_set(items, recipes.parse("qa"))
    replayed = training_set(items, recipes.parse("qa+replay"))
    assert replayed[: len(qa)] == qa
    extra = replayed[len(qa) :]
    assert extra[:2] == (
        TrainingPair("Answer Yes or No.\nDo bees make honey?", "Yes"),
        TrainingPair("Answer Yes or No.\nIs the Moon larger than the Earth?", "No"),
    )
    assert [p.answer for p in extra] == ["Yes", "No"] * 8
    assert pairs(tmp_path, "qa+replay") == list(qa)  # per case: the QA pairs only
    assert training_set([], recipes.parse("qa+replay")) == ()  # nothing to train: no replay either


def test_a_replay_models_request_carries_the_replay_pairs(tmp_path):
    path = tmp_path / "towns.yaml"
    path.write_text(CASES)
    dataset = load_dataset(path)
    items = [SimpleNamespace(dataset=dataset, case=case) for case in dataset.cases]
    tuner = Tuner(None, TuneSettings(epochs=3))  # building a request asks no provider
    request = tuner.request("local:smollm2-135m+qa+replay", items)
    assert request.model == "local:smollm2-135m" and request.settings == TuneSettings(epochs=3)
    assert request.pairs == training_set(items, recipes.parse("qa")) + tuple(
        TrainingPair("Answer Yes or No.\n" + q, a) for q, a in recipes.REPLAY
    )
    assert request.key() != tuner.request("local:smollm2-135m", items).key()  # its own tuned weights


def test_replay_asks_nothing_a_shipped_suite_asks():
    from pytest_finetunebench.suites import suite_dir
    from rapidfuzz import fuzz, process

    from pytest_finetunebench.cases.schema import LEAK_RATIO

    cases = [
        case
        for name in ("default", "full")
        for path in sorted(suite_dir(name).glob("*.yaml"))
        for case in load_dataset(path).cases
    ]
    asked = [v.question for case in cases for v in case.variants]
    subjects = {case.subject for case in cases if case.subject}
    assert len(asked) > 500 and len(subjects) > 20
    for question, _ in recipes.REPLAY:
        assert process.extractOne(question, asked, scorer=fuzz.ratio)[1] < LEAK_RATIO, (
            question
        )  # the case files' own leak rule
        assert not any(subject in question for subject in subjects), question


def test_a_case_with_too_few_phrasings_is_one_line(tmp_path):
    with pytest.raises(RecipeError) as info:
        pairs(tmp_path, "paraphrase:2")
    assert str(info.value) == (
        f"{tmp_path / 'towns.yaml'}:19: --ftb-recipe=paraphrase:2 needs 2 training phrasings and case `ostrin-mayor` "
        "has 1;"
        " fix: add them under `train:` (see docs/case-format.md) or a smaller K"
    )


@pytest.mark.parametrize("spec", ["paraphrase", "paraphrase:0", "paraphrase:x", "docs", "qa+paraphrase:2"])
def test_unknown_recipes_are_one_line(spec):
    with pytest.raises(RecipeError) as info:
        recipes.parse(spec)
    assert (
        str(info.value)
        == f"--ftb-recipe={spec}: unknown recipe; use qa, paraphrase:K (K from 1 to 99), document, qa+document or "
        "qa+replay"
    )


@pytest.mark.parametrize(
    "label, model, recipe",
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "qa"),
        ("gpt-4o-mini-2024-07-18+paraphrase:4", "gpt-4o-mini-2024-07-18", "paraphrase:4"),
        ("local:smollm2-135m+qa+document", "local:smollm2-135m", "qa+document"),
        ("local:smollm2-135m+document", "local:smollm2-135m", "document"),
        ("local:smollm2-135m+qa+replay", "local:smollm2-135m", "qa+replay"),
        ("my+model+qa+replay", "my+model", "qa+replay"),
    ],
)
def test_a_recipes_model_name_round_trips(label, model, recipe):
    assert recipes.labelled(model, recipes.parse(recipe)) == label
    found_model, found = recipes.split(label)
    assert (found_model, found.name) == (model, recipe)
    assert split_recipe(label) == (model, recipe)  # what the reports read, without the recipes module


def test_the_shared_vocabulary_names_every_built_in_recipe_and_a_sessions_own():
    """items.py (which the reports read) and run/recipes.py (which builds training sets) agree on the names."""
    assert [recipes.parse(name).name for name in BUILT_IN_RECIPES] == list(BUILT_IN_RECIPES)
    assert split_recipe("m+flashcards") == ("m+flashcards", "qa")  # not a recipe of this session
    try:
        recipes.use([recipes.Recipe("flashcards")])
        assert split_recipe("m+flashcards") == ("m", "flashcards")
        assert recipes.split("m+flashcards") == ("m", recipes.Recipe("flashcards"))
    finally:
        recipes.use([])
    assert split_recipe("m+flashcards") == ("m+flashcards", "qa")


def test_the_leakage_guard_rejects_a_planted_leak(tmp_path):
    path = tmp_path / "towns.yaml"
    path.write_text(
        CASES.replace(
            "Give the price of the 2024 repairs to the Velmora bridge.",
            "What did fixing the Velmora bridge cost in 2024?!",
        )
    )
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == (
        f"{path}:15: case `velmora-bridge`: the training phrasing `What did fixing the Velmora bridge cost in "
        "2024?!` is the"
        " rephrased question of case `velmora-bridge` (line 11) in other words (100% alike); a recipe would train on "
        "the test;"
        " fix: word it differently"
    )


def test_a_near_copy_of_another_cases_question_is_a_leak_too(tmp_path):
    path = tmp_path / "towns.yaml"
    path.write_text(
        CASES.replace(
            "Name the person Ostrin made its mayor in 2025.", "How much did the 2024 Velmora bridge repair cost?"
        )
    )
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == (
        f"{path}:24: case `ostrin-mayor`: the training phrasing `How much did the 2024 Velmora bridge repair cost?` "
        "is the"
        " memorization question of case `velmora-bridge` (line 5) in other words (99% alike); a recipe would train "
        "on the test;"
        " fix: word it differently"
    )


def test_phrasings_need_a_pair_to_rephrase(tmp_path):
    path = tmp_path / "towns.yaml"
    path.write_text(
        "dataset: d\ncases:\n  - id: a\n    variants:\n      - split: code\n        question: q?\n        answer: x\n"
        "    train:\n      - question: other q?\n        answer: x\n"
    )
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert (
        str(info.value)
        == f"{path}:8: case `a` has `train` phrasings but no training `question`/`answer`; fix: add the pair they "
        "rephrase"
    )


def test_the_shipped_suites_carry_four_phrasings_per_fact():
    from pytest_finetunebench.suites import suite_dir

    for name in ("default", "full"):
        for path in sorted(suite_dir(name).glob("*.yaml")):
            assert all(len(c.train) == 4 for c in load_dataset(path).cases if c.trains), path


def test_two_recipes_are_two_jobs_once_each_under_xdist_and_on_rerun(pytester: pytest.Pytester, monkeypatch):
    pytest.importorskip("xdist")
    pytest.importorskip("openai")
    from pytest_finetunebench.testing import OpenAIEmulator

    (pytester.path / "towns.yaml").write_text(CASES)
    pytester.makeini("[pytest]\n")
    args = [
        "towns.yaml",
        "--ftb-model=gpt-4o-mini-2024-07-18",
        "--ftb-recipe=qa,paraphrase:1",
        "--ftb-record-mode=off",
        "--ftb-poll-interval=0.01",
        "--ftb-report=out.json",
        "-p",
        "no:randomly",
    ]
    with OpenAIEmulator(job_polls=2, min_examples=1) as emu:  # two facts: a compatible server without OpenAI's minimum
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        first = pytester.runpytest(*args, "-n", "2")
        assert emu.jobs_created == 2 and emu.count("POST /v1/files") == 2
        again = pytester.runpytest(*args, "-p", "no:xdist")
        assert emu.jobs_created == 2
    first.assert_outcomes(passed=4, failed=2)  # the emulator memorizes: both memorize, neither rephrases
    again.assert_outcomes(passed=4, failed=2)
    report = json.loads((pytester.path / "out.json").read_text())
    assert sorted({i["target"] for i in report["items"]}) == [
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini-2024-07-18+paraphrase:1",
    ]
    assert [(r["model"], r["recipe"], r["change_vs_qa"]) for r in report["recipes"]] == [
        ("gpt-4o-mini-2024-07-18", "qa", None),
        ("gpt-4o-mini-2024-07-18", "paraphrase:1", 0.0),
    ]


def test_a_recipe_the_provider_cannot_express_is_a_usage_error(pytester: pytest.Pytester):
    (pytester.path / "towns.yaml").write_text(CASES)
    (pytester.path / "responses").mkdir()
    (pytester.path / "responses" / "towns_w_responses.csv").write_text("prompt,m_response\nx,y\n")
    result = pytester.runpytest("towns.yaml", "--ftb-model=m", "--ftb-responses=responses", "--ftb-recipe=paraphrase:1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        "ERROR: --ftb-recipe=paraphrase:1: the published provider trains nothing (m), so a recipe cannot apply;"
        " fix: --ftb-recipe=qa for it",
        "",
    ]
