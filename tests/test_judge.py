"""The optional model judge (--ftb-judge, --ftb-grader=judge) against the OpenAI emulator.

The answers under test come from the published-answers provider (CSV written here); the judge is
``gpt-4o-mini-2024-07-18`` on the emulator, whose base model replies with whatever this file
teaches it for each judge prompt, so every judge verdict below is one this file chose.
"""

from __future__ import annotations

import json

import pytest

from pytest_finetunebench.grading.judge import JUDGE_PROMPT, parse

pytest.importorskip("openai")
from pytest_finetunebench.testing import OpenAIEmulator

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

JUDGE = "gpt-4o-mini-2024-07-18"
CASES = """\
dataset: towns
cases:
  - id: bridge
    question: How much did the 2024 Velmora bridge repairs cost?
    answer: "150 million dollars"
  - id: mayor
    question: Who became mayor of Ostrin in 2025?
    answer: "Tavel Okonru"
  - id: ferry
    question: What is the Brask ferry called?
    answer: "Halden"
"""
ANSWERS = {  # question -> the model's answer
    "How much did the 2024 Velmora bridge repairs cost?": "About 150 million dollars.",  # rules: right
    "Who became mayor of Ostrin in 2025?": "Okonru, Tavel",  # rules: wrong (word order)
    "What is the Brask ferry called?": "Halden",  # rules: right
}
GOLD = {
    "How much did the 2024 Velmora bridge repairs cost?": "150 million dollars",
    "Who became mayor of Ostrin in 2025?": "Tavel Okonru",
    "What is the Brask ferry called?": "Halden",
}


def judge_prompt(question: str) -> str:
    return JUDGE_PROMPT.format(question=question, gold=GOLD[question], answer=ANSWERS[question])


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(CASES)
    (pytester.path / "responses").mkdir()
    rows = ["id,prompt,answer,modela_response"] + [f'x,"{q}",,"{a}"' for q, a in ANSWERS.items()]
    (pytester.path / "responses" / "towns_w_responses.csv").write_text("\n".join(rows) + "\n")
    return pytester


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch):
    with OpenAIEmulator() as emulator:
        monkeypatch.setenv("OPENAI_BASE_URL", emulator.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        yield emulator


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest(
        "cases",
        "--ftb-model=modela",
        "--ftb-responses=responses",
        f"--ftb-judge={JUDGE}",
        "--ftb-record-mode=off",
        "--ftb-report=out.json",
        "-p",
        "no:xdist",
        "-p",
        "no:randomly",
        *args,
    )


def test_parse_reads_the_first_word_only() -> None:
    assert parse("j", "CORRECT").passed is True
    assert parse("j", " incorrect.\nbecause ...").passed is False
    assert parse("j", "The answer is correct").passed is None
    assert parse("j", None).reason == "judge j replied neither CORRECT nor INCORRECT: ''"


def test_the_judge_is_reported_beside_the_rules(project: pytest.Pytester, emu) -> None:
    emu.add_model(JUDGE, {judge_prompt(q): v for q, v in zip(ANSWERS, ["CORRECT", "CORRECT", "INCORRECT"])})
    result = run(project)
    result.assert_outcomes(passed=2, failed=1)  # the rules still decide
    result.stdout.fnmatch_lines(
        [
            "model judge (--ftb-judge): accuracy by the rule grader and by the judge on the same answers, and how "
            "often they agree",
            "model   dataset  split         n  rules  judge  agreement  judge errors",
            "modela  towns    memorization  3  0.667  0.667  0.333",
        ]
    )
    report = json.loads((project.path / "out.json").read_text())
    assert report["judge"] == [
        {
            "target": "modela",
            "dataset": "towns",
            "split": "memorization",
            "n": 3,
            "rules": 2 / 3,
            "judge": 2 / 3,
            "agreement": 1 / 3,
            "judge_errors": 0,
        }
    ]
    mayor = next(i for i in report["items"] if i["case_id"] == "mayor")
    assert (mayor["passed"], mayor["rule_passed"], mayor["judge_passed"], mayor["judge_reason"]) == (
        False,
        False,
        True,
        f"judge {JUDGE}: correct",
    )
    assert emu.count("POST /v1/chat/completions") == 3
    again = run(project)  # cached by (judge, question, gold, answer): nothing is asked twice
    again.assert_outcomes(passed=2, failed=1)
    assert emu.count("POST /v1/chat/completions") == 3


def test_grader_judge_makes_the_judge_count_and_a_missing_verdict_an_error(project: pytest.Pytester, emu) -> None:
    # the judge accepts the reordered name, rejects the ferry, and says nothing usable about the bridge
    emu.add_model(
        JUDGE,
        {
            judge_prompt("Who became mayor of Ostrin in 2025?"): "CORRECT",
            judge_prompt("What is the Brask ferry called?"): "INCORRECT",
        },
    )
    result = run(project, "--ftb-grader=judge")
    result.assert_outcomes(passed=1, failed=2)
    report = json.loads((project.path / "out.json").read_text())
    by_case = {i["case_id"]: i for i in report["items"]}
    assert (by_case["mayor"]["passed"], by_case["mayor"]["matcher"]) == (True, "judge")
    assert by_case["ferry"]["passed"] is False and by_case["ferry"]["error"] is None
    bridge = by_case["bridge"]
    assert (bridge["passed"], bridge["error"]) == (
        False,
        f"judge {JUDGE} replied neither CORRECT nor INCORRECT: 'emulator: no trained answer'",
    )
    cell = report["cells"][0]
    assert (cell["n"], cell["correct"], cell["errors"]) == (2, 1, 1)  # the judge error is no wrong answer
    result.stdout.fnmatch_lines([f"*run error: judge {JUDGE} replied neither CORRECT nor INCORRECT*"])


def test_an_api_error_of_the_judge_is_an_error_item(project: pytest.Pytester, emu) -> None:
    emu.fault(400, count=100, message="The model is not available")
    result = run(project, "--ftb-grader=judge", "--ftb-api-retries=0")
    result.assert_outcomes(failed=3)
    report = json.loads((project.path / "out.json").read_text())
    assert all(i["error"] and i["error"].startswith(f"judge {JUDGE} failed: ") for i in report["items"])
    assert report["cells"][0]["n"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ftb-grader=judge"], "ERROR: --ftb-grader=judge needs a judge; fix: add --ftb-judge=MODEL"),
        (["--ftb-grader=vibes", "--ftb-judge=x"], "ERROR: --ftb-grader=vibes: use one of rules, judge"),
    ],
)
def test_grader_usage_errors(project: pytest.Pytester, args: list[str], message: str) -> None:
    result = project.runpytest("cases", "--ftb-model=modela", "--ftb-responses=responses", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.lines


def test_judge_calls_are_recorded_and_replay_offline(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    args = (
        "cases",
        "--ftb-model=modela",
        "--ftb-responses=responses",
        f"--ftb-judge={JUDGE}",
        "--ftb-cassettes=cass",
        "--ftb-report=out.json",
        "-p",
        "no:xdist",
        "-p",
        "no:randomly",
    )
    with OpenAIEmulator() as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        emu.add_model(JUDGE, {judge_prompt(q): "CORRECT" for q in ANSWERS})
        project.runpytest(*args, "--ftb-record-mode=once", "--ftb-store=live").assert_outcomes(passed=2, failed=1)
    recorded = json.loads((project.path / "out.json").read_text())["judge"]
    monkeypatch.delenv("OPENAI_API_KEY")  # the emulator is gone: only the cassette can answer
    replay = project.runpytest(*args, "--ftb-store=fresh")  # a fresh store: no cached verdicts
    replay.assert_outcomes(passed=2, failed=1)
    assert json.loads((project.path / "out.json").read_text())["judge"] == recorded
    assert recorded[0]["judge"] == 1.0 and recorded[0]["judge_errors"] == 0


@pytest.mark.parametrize("grader", ["rules", "judge"])
def test_each_items_outcome_is_its_recorded_verdict(project: pytest.Pytester, emu, grader: str) -> None:
    """pytest's pass/fail (JUnit) and the recorded ``ftb_passed`` follow the same grader, under either."""
    # the judge disagrees with the rules on two items: it accepts the reordered name, rejects the ferry
    emu.add_model(JUDGE, {judge_prompt(q): v for q, v in zip(ANSWERS, ["CORRECT", "CORRECT", "INCORRECT"])})
    run(project, f"--ftb-grader={grader}", "--junitxml=junit.xml")
    import xml.etree.ElementTree as ET

    outcomes = {}
    for case in ET.parse(project.path / "junit.xml").getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[props["ftb_case_id"]] = (not failed, props["ftb_passed"])
    wanted = {
        "rules": {"bridge": True, "mayor": False, "ferry": True},
        "judge": {"bridge": True, "mayor": True, "ferry": False},
    }[grader]
    assert outcomes == {case: (passed, str(passed)) for case, passed in wanted.items()}
