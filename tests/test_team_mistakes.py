"""A team's mistakes, made in its own conftest.py beside this repository's memorizer provider.

Each mistake (a matcher that raises or returns a string, a provider that raises or returns the
wrong thing, a hook returning the wrong value, a misspelt hook) must cost one line that names the
item or the hook, the team's own file:line and the fix, and must never change a number silently:
an item whose grading failed stays in every output as an error, and the run fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text(encoding="utf-8")

CASES = "dataset: towns\ncases:\n" + "".join(
    f"""  - id: t{i}
    question: What is the river of town {i}?
    answer: River{i}
    variants:
      - split: rephrased
        matcher: mine
        question: Which river runs through town {i}?
        answer: River{i}
"""
    for i in range(6)
)

MATCHER = """

def mine(gold, answer, question):
    if "town 2" in question or "town 4" in question:
        raise ValueError("cannot grade " + question[-7:-1])
    return answer.strip() == "I do not know"


@pytest.hookimpl(optionalhook=True)
def pytest_ftb_matchers(config):
    return {"mine": mine}
"""


def failures(lines: list[str]) -> list[list[str]]:
    """Each failure's lines under its heading, in the FAILURES section."""
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ FAILURES =+", line))
    found: list[list[str]] = []
    for line in lines[start + 1 :]:
        if re.fullmatch(r"[-=]+ .* [-=]+", line):
            break
        if re.fullmatch(r"_+ .* _+", line):
            found.append([])
        else:
            found[-1].append(line)
    return found


def line_of(text: str, needle: str) -> int:
    """The 1-based line of ``text`` that holds ``needle`` (once)."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


@pytest.fixture
def team(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(CASES)
    return pytester


def run(team: pytest.Pytester, conftest: str, *args: str) -> pytest.RunResult:
    team.makeconftest(conftest)
    return team.runpytest_subprocess("cases", "--ftb-model=memorizer:m", "-p", "no:randomly", "-p", "no:xdist", *args)


def test_an_item_whose_matcher_raised_stays_in_every_output(team: pytest.Pytester) -> None:
    conftest = CONFTEST + MATCHER
    at = f"conftest.py:{line_of(conftest, 'raise ValueError')}"
    outputs = ("--ftb-report=out.json", "--ftb-markdown=out.md", "--ftb-html=out.html", "--junitxml=junit.xml")
    result = run(team, conftest, "--ftb-fail-under=memorization:0", *outputs)
    result.assert_outcomes(passed=10, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the gate passes, the errors fail the run
    errors = [f"matcher `mine` raised ValueError: cannot grade town {i} ({at})" for i in (2, 4)]
    assert failures(result.outlines) == [[f"run error: {e}"] for e in errors]
    row = "memorizer:m  towns    rephrased     4  4        1.000     [0.510, 1.000]  1.00     2"
    assert row in result.outlines
    assert (
        "  but 2 run error(s) (failed jobs, API errors, invalid case files): the exit status stays failed"
        in result.outlines
    )
    markdown = (team.path / "out.md").read_text().splitlines()
    assert "| memorizer:m | towns | rephrased | 4 | 4 | 1.000 | [0.510, 1.000] | 1.00 | 2 |" in markdown
    report = json.loads((team.path / "out.json").read_text())
    assert len(report["items"]) == 12
    assert [(i["case_id"], i["answer"], i["passed"], i["error"]) for i in report["items"] if i["error"]] == [
        ("t2", "I do not know", False, errors[0]),
        ("t4", "I do not know", False, errors[1]),
    ]
    assert [(c["split"], c["n"], c["errors"]) for c in report["cells"]] == [("memorization", 6, 0), ("rephrased", 4, 2)]
    html = (team.path / "out.html").read_text()
    assert (
        '<tr><td>memorizer:m</td><td>towns</td><td>rephrased</td><td class="num">4</td><td class="num">4</td>'
        '<td class="num">1.000</td><td class="num">[0.510, 1.000]</td><td class="num">1.00</td>'
        '<td class="num">2</td></tr>'
    ) in html
    junit = ElementTree.parse(team.path / "junit.xml")
    assert [f.get("message") for f in junit.iter("failure")] == [f"run error: {e}" for e in errors]
    assert len(list(junit.iter("testcase"))) == 12


def test_the_traceback_of_a_teams_error_is_its_own_frames_under_verbose(team: pytest.Pytester) -> None:
    conftest = CONFTEST + MATCHER
    at = line_of(conftest, "raise ValueError")
    result = run(team, conftest, "-v")
    result.assert_outcomes(passed=10, failed=2)
    first = failures(result.outlines)[0]
    assert first[-4:] == [
        '>           raise ValueError("cannot grade " + question[-7:-1])',
        "E           ValueError: cannot grade town 2",
        "",
        f"conftest.py:{at}: ValueError",
    ]
    assert not any("pytest_finetunebench" in line or "def judge(" in line for line in first)


@pytest.mark.parametrize("returned", ['"no"', '"False"', "None", "0"])
def test_a_matcher_returning_no_bool_is_an_error_never_a_pass(team: pytest.Pytester, returned: str) -> None:
    conftest = CONFTEST + MATCHER.replace('"town 2" in question or "town 4" in question', "False").replace(
        'return answer.strip() == "I do not know"', f"return {returned}"
    )
    at = f"conftest.py:{line_of(conftest, 'def mine(')}"
    result = run(team, conftest, "--ftb-report=out.json")
    result.assert_outcomes(passed=6, failed=6)
    shown = "None" if returned == "None" else f"{type(eval(returned)).__name__} {eval(returned)!r}"
    line = (
        f"run error: matcher `mine` returned {shown}, not a bool or a Verdict ({at}); fix: return True, False or"
        " a Verdict"
    )
    assert failures(result.outlines) == [[line]] * 6
    report = json.loads((team.path / "out.json").read_text())
    assert [(c["split"], c["n"], c["errors"]) for c in report["cells"]] == [("memorization", 6, 0), ("rephrased", 0, 6)]


def test_three_random_orders_give_identical_reports(pytester: pytest.Pytester) -> None:
    """The memorizer reference on the shipped suite, in three random test orders (pytest-randomly),
    the last under pytest-xdist: the same terminal tables, Markdown, JSON report and saved run (apart
    from its time)."""
    pytest.importorskip("pytest_randomly")
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(CONFTEST)
    outputs = []
    for seed in (1, 2, 3):
        result = pytester.runpytest_subprocess(
            "--ftb-suite=default",
            "--ftb-model=memorizer:lookup",
            "-p",
            "randomly",
            f"--randomly-seed={seed}",
            *(["-n", "2"] if seed == 3 else ["-p", "no:xdist"]),  # the last also split between two workers
            "--tb=no",
            f"--ftb-markdown={seed}.md",
            f"--ftb-report={seed}.json",
            f"--ftb-store=store{seed}",
        )
        result.assert_outcomes(passed=64, failed=310)
        assert f"Using --randomly-seed={seed}" in result.outlines
        start = next(i for i, line in enumerate(result.outlines) if "finetunebench: accuracy per model" in line)
        end = next(i for i, line in enumerate(result.outlines) if "short test summary info" in line)
        tables = [line for line in result.outlines[start + 1 : end] if not line.startswith("finetunebench: run saved")]
        (saved,) = (pytester.path / f"store{seed}" / "runs").glob("*.json")
        run = {k: v for k, v in json.loads(saved.read_text()).items() if k != "created"}
        outputs.append(
            (tables, (pytester.path / f"{seed}.md").read_bytes(), (pytester.path / f"{seed}.json").read_bytes(), run)
        )
    assert outputs[0][0][0].startswith("model ") and len(outputs[0][0]) > 20
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]


PLAIN = CASES.replace("        matcher: mine\n", "")
ENDPOINTS_FIX = "; fix: return {stage: Endpoint(request.model, stage, handle)} for every stage asked"

# a mistake in the team's provider (one method replaced), the line the message points at (the
# `raise`, the method's `def`, or none) and the line every one of its items fails with
PROVIDER_MISTAKES = {
    "answer_raises": (
        "def answer(self, endpoint, prompts):\n    raise ConnectionError('the tuning service is down')",
        "raise ",
        "ConnectionError: the tuning service is down ({at})",
    ),
    "endpoints_raises": (
        "def endpoints(self, request, stages):\n    raise ValueError('no GPU free')",
        "raise ",
        "ValueError: no GPU free ({at})",
    ),
    "answer_returns_strings": (
        "def answer(self, endpoint, prompts):\n    return ['I do not know' for p in prompts]",
        "def ",
        "memorizer:m: the memorizer provider's answer() returned str 'I do not know', not an Answer ({at}); fix:"
        " return [Answer(text), ...], one per prompt",
    ),
    "answer_returns_too_few": (
        "def answer(self, endpoint, prompts):\n    return [Answer('x')]",
        None,
        "memorizer:m: the memorizer provider returned 1 answers for 12 prompts; fix: return one Answer per prompt,"
        " in order",
    ),
    "endpoints_returns_nothing": (
        "def endpoints(self, request, stages):\n    return {}",
        "def ",
        "memorizer:m: the memorizer provider's endpoints() returned dict {}, without the stage(s) tuned ({at})"
        + ENDPOINTS_FIX,
    ),
    "endpoints_returns_handles": (
        "def endpoints(self, request, stages):\n    return {s: 'model-7' for s in stages}",
        "def ",
        "memorizer:m: the memorizer provider's endpoints() returned str 'model-7', not an Endpoint ({at})"
        + ENDPOINTS_FIX,
    ),
    "a_path_as_handle": (
        "def endpoints(self, request, stages):\n    return {s: Endpoint(request.model, s, Path('m.json')) for s in"
        " stages}",
        "def ",
        "memorizer:m: the memorizer provider's tuned endpoint has the handle a PosixPath, not a JSON value"
        " (the job store keeps it) ({at}); fix: a str, a number or a list of them, such as str(path)",
    ),
}


@pytest.mark.parametrize("mistake", PROVIDER_MISTAKES)
def test_a_provider_mistake_is_one_line_per_item_and_every_item_stays_counted(
    team: pytest.Pytester, mistake: str
) -> None:
    code, pointed, message = PROVIDER_MISTAKES[mistake]
    method = code.split("(")[0].removeprefix("def ")
    conftest = CONFTEST + "\n\n" + code.replace("def ", "def broken_") + f"\n\n\nMemorizer.{method} = broken_{method}\n"
    (team.path / "cases" / "towns.yaml").write_text(PLAIN)
    where = {"raise ": "    raise ", "def ": "def broken_"}.get(pointed or "", "")
    at = f"conftest.py:{line_of(conftest, where)}" if pointed else ""
    result = run(team, conftest, "--ftb-report=out.json")
    result.assert_outcomes(failed=12)
    assert failures(result.outlines) == [[f"run error: {message.replace('{at}', at)}"]] * 12
    assert "Traceback" not in result.stdout.str()
    # every item errored: the table still shows them, as errors
    assert "memorizer:m  towns    memorization  0  0        0.000     [0.000, 1.000]  -        6" in result.outlines
    report = json.loads((team.path / "out.json").read_text())
    assert [(c["split"], c["n"], c["errors"]) for c in report["cells"]] == [("memorization", 0, 6), ("rephrased", 0, 6)]


HOOK = "\n\n@pytest.hookimpl(optionalhook=True)\ndef {}\n"
PROVIDERS_EXPECTED = (
    "expected a list of ProviderSpec (from pytest_finetunebench import ProviderSpec); fix: return [ProviderSpec(...)]"
)
RECIPES_EXPECTED = (
    "expected a list of Recipe (from pytest_finetunebench import Recipe); fix: return [Recipe('name', build=...)]"
)
SPEC = "ProviderSpec('team', lambda name, ctx: name.startswith('team:'), Memorizer, ('team:<name>',))"

# a hook the team wrote wrongly (added to its conftest.py) -> the one line that says so ({at}: the line marked #here)
HOOK_MISTAKES = {
    "one_spec_not_a_list": (
        f"pytest_ftb_providers(config):\n    return {SPEC}",
        f"pytest_ftb_providers in conftest.py returned a ProviderSpec; {PROVIDERS_EXPECTED}",
    ),
    "a_dict_of_specs": (
        f"pytest_ftb_providers(config):\n    return {{'team': {SPEC}}}",
        f"pytest_ftb_providers in conftest.py returned a dict; {PROVIDERS_EXPECTED}",
    ),
    "a_class_in_the_list": (
        "pytest_ftb_providers(config):\n    return [Memorizer]",
        f"pytest_ftb_providers in conftest.py returned a list holding the class Memorizer; {PROVIDERS_EXPECTED}",
    ),
    "matches_of_one_argument": (
        "pytest_ftb_providers(config):\n    return [ProviderSpec('team', lambda name: True, Memorizer, ('t',))]  #here",
        "pytest_ftb_providers in conftest.py: provider `team`: its `matches` (a function ({at})) cannot be called with"
        " (model name, context); fix: lambda name, ctx: name.startswith('mine:')",
    ),
    "matchers_as_a_list": (
        "pytest_ftb_matchers(config):\n    return [lambda gold, answer, question: True]",
        "pytest_ftb_matchers in conftest.py returned a list; expected a dict of name -> matcher; fix: return"
        " {'name': function}",
    ),
    "a_matcher_of_two_arguments": (
        "pytest_ftb_matchers(config):\n    return {'mine': lambda gold, answer: True}  #here",
        "pytest_ftb_matchers in conftest.py: matcher `mine` (a function ({at})) cannot be called with (gold, answer,"
        " question); fix: def mine(gold, answer, question) returning a bool or a Verdict",
    ),
    "one_recipe_not_a_list": (
        "pytest_ftb_recipes(config):\n    from pytest_finetunebench.run.recipes import Recipe\n    return"
        " Recipe('shouted')",
        f"pytest_ftb_recipes in conftest.py returned a Recipe; {RECIPES_EXPECTED}",
    ),
    "a_hook_that_raises": (
        "pytest_ftb_matchers(config):\n    raise KeyError('TEAM_GRADER_URL')  #here",
        "pytest_ftb_matchers in conftest.py raised KeyError: 'TEAM_GRADER_URL' ({at})",
    ),
}


@pytest.mark.parametrize("mistake", HOOK_MISTAKES)
def test_a_hook_returning_the_wrong_thing_is_one_line_at_registration(team: pytest.Pytester, mistake: str) -> None:
    hook, message = HOOK_MISTAKES[mistake]
    conftest = CONFTEST + HOOK.format(hook)
    at = f"conftest.py:{line_of(conftest, '#here')}" if "#here" in conftest else ""
    result = run(team, conftest)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == ["ERROR: " + message.replace("{at}", at)]


def test_a_misspelt_hook_names_the_closest_one(team: pytest.Pytester) -> None:
    result = run(team, CONFTEST.replace("def pytest_ftb_providers(", "def pytest_ftb_provider("))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: conftest.py: pytest_ftb_provider is not a hook of pytest-finetunebench, so nothing calls it; fix:"
        " rename it pytest_ftb_providers"
    ]


def test_a_team_factory_that_cannot_be_imported_names_its_spec_not_a_reinstall(team: pytest.Pytester) -> None:
    conftest = CONFTEST.replace("            Memorizer,\n", "            'team_tuning:create',\n")
    (team.path / "cases" / "towns.yaml").write_text(PLAIN)
    result = run(team, conftest)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: model `memorizer:m`: the memorizer provider's factory `team_tuning:create` cannot be imported"
        " (team_tuning is missing); fix: correct the module in its ProviderSpec, or install what it needs"
    ]


SHOUTED = """

@pytest.hookimpl(optionalhook=True)
def pytest_ftb_recipes(config):
    from pytest_finetunebench.run.recipes import Recipe

    def shouted(case, dataset):
        {}  #here

    return [Recipe("shouted", build=shouted)]
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "raise ValueError('no subject')",
            "recipe `shouted`: its build raised ValueError: no subject ({at}) on case `t0`",
        ),
        (
            "return [(case.prompt.upper(), case.answer)]",
            "recipe `shouted`: its build returned tuple ('WHAT IS THE RIVER OF TOWN 0?', 'River0') for case `t0`, not"
            " a TrainingPair ({defined}); fix: return a list of TrainingPair(prompt, answer)",
        ),
    ],
)
def test_a_recipe_build_mistake_is_one_line_naming_the_case(team: pytest.Pytester, body: str, message: str) -> None:
    conftest = CONFTEST + SHOUTED.format(body)
    (team.path / "cases" / "towns.yaml").write_text(PLAIN)
    at = f"conftest.py:{line_of(conftest, '#here')}"
    defined = f"conftest.py:{line_of(conftest, 'def shouted(')}"
    result = run(team, conftest, "--ftb-recipe=shouted")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    where = team.path / "cases" / "towns.yaml"
    assert [line for line in result.stderr.lines if line] == [
        f"ERROR: {where}:3: " + message.replace("{at}", at).replace("{defined}", defined)
    ]


RECIPE = """

@pytest.hookimpl(optionalhook=True)
def pytest_ftb_recipes(config):
    from pytest_finetunebench import Recipe, TrainingPair

    return [Recipe("shouted", build=lambda case, dataset: [TrainingPair(case.prompt.upper(), case.answer)])]
"""


def test_reports_carry_the_run_header_the_recipes_table_and_the_users_umask(team: pytest.Pytester) -> None:
    import os

    from pytest_finetunebench import __version__
    from pytest_finetunebench.reporting.results import REPORT_HEADER

    (team.path / "cases" / "towns.yaml").write_text(PLAIN)
    old = os.umask(0o027)
    try:
        args = ("--ftb-recipe=qa,shouted", "--ftb-report=out.json", "--ftb-markdown=out.md", "--ftb-html=out.html")
        result = run(team, CONFTEST + RECIPE, *args)
    finally:
        os.umask(old)
    result.assert_outcomes(passed=12, failed=12)
    for name in ("out.json", "out.md", "out.html"):
        assert (team.path / name).stat().st_mode & 0o777 == 0o640, name  # the umask's, not 0600
    report = json.loads((team.path / "out.json").read_text())
    assert list(report)[: len(REPORT_HEADER)] == list(REPORT_HEADER)
    assert (report["plugin_version"], report["models"]) == (__version__, ["memorizer:m", "memorizer:m+shouted"])
    assert report["providers"] == {"memorizer:m": "memorizer", "memorizer:m+shouted": "memorizer"}
    html = (team.path / "out.html").read_text()
    assert "<h2>Recipes</h2>" in html
    assert (
        "<tr><td>memorizer:m</td><td>shouted</td><td>1.000 [0.61, 1.00] (n=6)</td><td>0.000 [0.00, 0.39] (n=6)</td>"
    ) in html


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            "def broken_init(self, ctx):\n    raise RuntimeError('no licence for the tuning service')  #here\n\n\n"
            "Memorizer.__init__ = broken_init\n",
            "memorizer:m: making its provider raised RuntimeError: no licence for the tuning service ({at})",
        ),
        (
            "def broken_matches(name, ctx):\n    raise ValueError('which model?')  #here\n\n\n"
            "_spec = pytest_ftb_providers\n"
            "pytest_ftb_providers = lambda config: [dataclasses.replace(s, matches=broken_matches)"
            " for s in _spec(config)]\n",
            "the memorizer provider's `matches` raised ValueError: which model? ({at}) on `memorizer:m`",
        ),
    ],
    ids=["factory_raises", "matches_raises"],
)
def test_a_provider_that_cannot_be_made_or_asked_is_one_usage_error(
    team: pytest.Pytester, patch: str, message: str
) -> None:
    conftest = CONFTEST + "\n\nimport dataclasses  # noqa: E402\n\n\n" + patch
    (team.path / "cases" / "towns.yaml").write_text(PLAIN)
    result = run(team, conftest)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    at = f"conftest.py:{line_of(conftest, '#here')}"
    assert [line for line in result.stderr.lines if line] == ["ERROR: " + message.replace("{at}", at)]
