"""A team's own provider, registered from its conftest.py through the plugin's hook, runs end to
end with the built-in guarantees: tuned once under pytest-xdist and across reruns, reported. The
conftest.py files are docs/extending.md's examples, run exactly as printed there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

# docs/extending.md: its two complete files, exactly as printed (a provider; a matcher and a recipe)
EXTENDING = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text(encoding="utf-8")
CONFTEST, EXTENSIONS = re.findall(r"^```python\n(.*?)^```$", EXTENDING, re.S | re.M)

CASES = """dataset: towns
cases:
""" + "".join(
    f"""  - id: t{i}
    question: What is the river of town {i}?
    answer: River{i}
    variants:
      - split: rephrased
        question: Which river runs through town {i}?
        answer: River{i}
"""
    for i in range(6)
)


@pytest.fixture
def team(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST)
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(CASES)
    return pytester


def test_a_provider_from_conftest_runs_end_to_end_and_tunes_once(team: pytest.Pytester) -> None:
    args = ("cases", "--ftb-model=memorizer:town-model", "--ftb-baseline", "--ftb-report=out.json", "-p", "no:randomly")
    first = team.runpytest_subprocess(*args, "-n", "2")
    # the memorized answers pass; the rephrasings (6) and the untuned model's 12 answers fail
    first.assert_outcomes(passed=6, failed=6 + 12)
    again = team.runpytest_subprocess(*args)
    again.assert_outcomes(passed=6, failed=18)
    jobs = (team.path / ".ftb" / "memorizer" / "jobs.log").read_text().split()
    assert len(jobs) == 1  # two xdist workers and a rerun: one tuning job
    report = json.loads((team.path / "out.json").read_text())
    assert {c["target"]: None for c in report["cells"]}.keys() == {"memorizer:town-model", "memorizer:town-model@base"}
    assert [(c["split"], c["correct"], c["n"]) for c in report["cells"] if c["target"] == "memorizer:town-model"] == [
        ("memorization", 6, 6),
        ("rephrased", 0, 6),
    ]


DECLINES = CASES.replace("      - split: rephrased\n", "      - split: rephrased\n        matcher: declines\n")


def test_the_readme_examples_are_complete_files() -> None:
    """Each example imports what it uses from the package's public face, nothing from inside it."""
    for example in (CONFTEST, EXTENSIONS):
        assert "from pytest_finetunebench import " in example
        assert "pytest_finetunebench." not in example
        compile(example, "conftest.py", "exec")


def test_a_matcher_from_conftest_grades_the_variants_that_name_it(team: pytest.Pytester) -> None:
    team.makeconftest(CONFTEST + "\n\n" + EXTENSIONS)
    (team.path / "cases" / "towns.yaml").write_text(DECLINES)
    result = team.runpytest_subprocess("cases", "--ftb-model=memorizer:m", "--ftb-report=out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=12)  # the built-in matcher would fail the 6 declines
    records = json.loads((team.path / "out.json").read_text())["items"]
    rephrased = [(r["matcher"], r["reason"], r["passed"]) for r in records if r["split"] == "rephrased"]
    assert rephrased == [("declines", "declined", True)] * 6


def test_a_case_file_naming_a_matcher_no_hook_adds_is_one_line(team: pytest.Pytester) -> None:
    (team.path / "cases" / "towns.yaml").write_text(DECLINES)
    result = team.runpytest_subprocess("cases", "--ftb-model=memorizer:m", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    assert (
        "cases/towns.yaml:8: case `t0` variant `rephrased`: unknown matcher `declines`; fix: use one of auto, exact,"
        " number, yes_no, abstain, contains, fuzzy"
    ) in result.stdout.lines


def test_check_accepts_the_matchers_a_team_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ftb check` runs outside pytest, so it is told the names a conftest.py adds (--matcher)."""
    from pytest_finetunebench.check import main as check_main

    path = tmp_path / "towns.yaml"
    path.write_text(DECLINES)
    assert check_main([str(path), "--no-model"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:8: case `t0` variant `rephrased`: unknown matcher `declines`; fix: use one of auto, exact, number,"
        " yes_no, abstain, contains, fuzzy"
    ]
    assert check_main([str(path), "--no-model", "--matcher", "shouting,declines"]) == 0
    assert capsys.readouterr() == ("", "check: 1 file(s), no problems\n")


def test_a_recipe_from_conftest_builds_its_own_training_set_tuned_once(team: pytest.Pytester) -> None:
    team.makeconftest(CONFTEST + "\n\n" + EXTENSIONS)
    args = ("cases", "--ftb-model=memorizer:m", "--ftb-recipe=shouted", "--ftb-report=out.json", "-p", "no:randomly")
    team.runpytest_subprocess(*args, "-n", "2").assert_outcomes(passed=6, failed=6)
    team.runpytest_subprocess(*args).assert_outcomes(passed=6, failed=6)
    jobs = (team.path / ".ftb" / "memorizer" / "jobs.log").read_text().split()
    assert len(jobs) == 1  # two xdist workers and a rerun: one tuning job
    pairs = json.loads((team.path / ".ftb" / "memorizer" / jobs[0]).read_text())
    questions = [f"What is the river of town {i}?" for i in range(6)]
    assert pairs == {
        **{q: f"River{i}" for i, q in enumerate(questions)},
        **{q.upper(): f"River{i}" for i, q in enumerate(questions)},
        "Team?": "Blue",
    }
    report = json.loads((team.path / "out.json").read_text())
    assert {c["target"] for c in report["cells"]} == {"memorizer:m+shouted"}


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (
            "pytest_ftb_matchers(config):\n    return {'exact': lambda g, a, q: True}",
            "ERROR: matcher `exact` from pytest_ftb_matchers: a matcher's name is a lowercase identifier and not a "
            "built-in"
            " matcher's or another hook's; fix: rename it",
        ),
        (
            "pytest_ftb_recipes(config):\n    from pytest_finetunebench.run.recipes import Recipe\n    return "
            "[Recipe('qa+replay')]",
            "ERROR: recipe `qa+replay` from pytest_ftb_recipes: a recipe's name is a lowercase identifier (letters, "
            "digits,"
            " _ and -) and not a built-in one; fix: rename it",
        ),
    ],
)
def test_a_hook_that_takes_a_built_in_name_is_a_usage_error(team: pytest.Pytester, hook: str, message: str) -> None:
    team.makeconftest(CONFTEST + f"\n\n@pytest.hookimpl(optionalhook=True)\ndef {hook}\n")
    result = team.runpytest_subprocess("cases", "--ftb-model=memorizer:m", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [message]  # one line, nothing else


def test_the_package_face_has_every_name_an_extension_needs() -> None:
    import pytest_finetunebench
    from pytest_finetunebench import api

    assert sorted(pytest_finetunebench.__all__) == sorted([*api.__all__, "__version__"])
    for name in api.__all__:
        value = getattr(pytest_finetunebench, name)
        assert value is getattr(api, name)
        if callable(value) and name != "Matcher":  # a type alias has no docstring of its own
            assert (value.__doc__ or "").strip(), name
    assert (pytest_finetunebench.BASE, pytest_finetunebench.TUNED, pytest_finetunebench.epoch_stage(3)) == (
        "base",
        "tuned",
        "epoch:3",
    )
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        pytest_finetunebench.Nothing  # noqa: B018
