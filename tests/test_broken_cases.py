"""A broken case file costs one line, never the run: no tracebacks, no hangs, every other file graded.

Each broken file below sits next to a valid one; the run must show exactly the expected one
line for it (the whole failure section's body, at every ``--tb`` style), grade the valid file's
items, and fail. The hostile files (alias bombs, deep nesting) would hang or crash the session
without the loader's limits: the subprocess run has a timeout so a hang fails the test instead
of stalling the suite.
"""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import pytest

from pytest_finetunebench.cases.yamltree import MAX_DEPTH, MAX_VALUES

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

VALID = 'dataset: good\ncases:\n  - id: a\n    question: "How tall is Velmora Tower?"\n    answer: "185"\n'
FIX_NEST = f"values nested deeper than {MAX_DEPTH} levels; fix: flatten the structure"
FIX_BOMB = f"aliases expand to more than {MAX_VALUES:,} values; fix: write the data out without nested aliases"


def _bomb(where: str) -> str:
    """A billion laughs: nine levels of nine aliases each (10**9 strings once expanded)."""
    levels = ['x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    anchors = "\n".join(levels)
    if where == "top":
        return f"dataset: bomb_top\n{anchors}\ncases: []\n"
    if where == "fact":
        indented = "\n".join("    " + line for line in levels)
        return f"dataset: bomb_fact\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    fact:\n{indented}\n"
    return "dataset: bomb_splits\nsplits:\n" + "\n".join("  - " + line for line in levels) + "\ncases: []\n"


# file name -> (content, the one line expected for it)
BROKEN: dict[str, tuple[str | bytes, str]] = {
    "empty.yaml": ("", "empty.yaml:1: the file is empty; fix: start it with `dataset: <name>` and a `cases:` list"),
    "case_string.yaml": (
        "dataset: s\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n  - just a string\n",
        "case_string.yaml:6: each case must be a mapping; fix: start it with `- id: ...`",
    ),
    "variant_string.yaml": (
        "dataset: v\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants:\n"
        "      - split: rephrased\n        question: r?\n        answer: '1'\n      - plain text\n",
        "variant_string.yaml:10: case `a`: each variant must be a mapping; fix: `- split: ...`",
    ),
    "latin1.yaml": (
        b"dataset: l\ncases:\n  - id: a\n    question: q?\n    answer: 'caf\xe9'\n",
        "latin1.yaml:5: byte 0xe9 is not UTF-8; fix: save the file as UTF-8 text",
    ),
    "bomb_top.yaml": (_bomb("top"), f"bomb_top.yaml:8: {FIX_BOMB}"),
    "bomb_fact.yaml": (_bomb("fact"), f"bomb_fact.yaml:13: {FIX_BOMB}"),
    "bomb_splits.yaml": (_bomb("splits"), f"bomb_splits.yaml:9: {FIX_BOMB}"),
    "deep.yaml": (
        "dataset: d\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    fact: " + "[" * 600 + "]" * 600 + "\n",
        f"deep.yaml:6: {FIX_NEST}",
    ),
    "deeper.yaml": (
        "dataset: d2\ncases:\n  - id: a\n    fact: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
        f"deeper.yaml:4: {FIX_NEST}",
    ),
    "long_id.yaml": (
        'dataset: i\ncases:\n  - id: "a\\nb' + "x" * 500 + "\"\n    question: q?\n    answer: '1'\n",
        "long_id.yaml:3: case id `a b" + "x" * 54 + "...` cannot name a test; fix: leave out `::`, `[`, `]`,"
        " control characters and outer spaces",
    ),
    "bad_split_list.yaml": (
        "dataset: b\nsplits:\n  - [a, b]\ncases: []\n",
        "bad_split_list.yaml:3: split name `a list` is not a lowercase identifier; fix: use letters, digits and _",
    ),
}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    cases = pytester.path / "cases"
    cases.mkdir()
    (cases / "good.yaml").write_text(VALID)
    for name, (content, _line) in BROKEN.items():
        path = cases / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (pytester.path / "responses").mkdir()
    (pytester.path / "responses" / "good_w_responses.csv").write_text(
        "id,prompt,answer,m_response\nx,How tall is Velmora Tower?,,185 cm\n"
    )
    return pytester


def expected_lines() -> list[str]:
    return sorted(f"cases/{line}" for _content, line in BROKEN.values())


def failure_bodies(lines: list[str]) -> dict[str, list[str]]:
    """The FAILURES section: each failure's heading -> the lines under it."""
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ FAILURES =+", line))
    bodies: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines[start + 1 :]:
        if re.fullmatch(r"=+ .* =+", line):
            break
        if re.fullmatch(r"_+ .* _+", line):
            current = bodies.setdefault(f"{line}#{len(bodies)}", [])
        else:
            current.append(line)
    return bodies


ARGS = ("cases", "--ftb-model=m", "--ftb-responses=responses", "-p", "no:cacheprovider")


@pytest.mark.parametrize("tb", ["auto", "short", "long", "native"])
def test_each_broken_file_is_exactly_one_line_and_the_valid_file_is_graded(project: pytest.Pytester, tb: str) -> None:
    result = project.runpytest(*ARGS, "-p", "no:xdist", f"--tb={tb}")
    result.assert_outcomes(passed=1, failed=len(BROKEN))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    bodies = failure_bodies(result.outlines)
    assert all(len(body) == 1 for body in bodies.values()), bodies
    assert sorted(body[0] for body in bodies.values()) == expected_lines()
    assert {re.sub(r"^_+ | _+#\d+$", "", heading) for heading in bodies} == {"invalid case file"}
    assert "Traceback" not in result.stdout.str()


def test_tb_line_shows_each_broken_file_once(project: pytest.Pytester) -> None:
    result = project.runpytest(*ARGS, "-p", "no:xdist", "--tb=line")
    start = result.outlines.index(next(line for line in result.outlines if re.fullmatch(r"=+ FAILURES =+", line)))
    shown = [line for line in result.outlines[start + 1 :] if line.startswith("cases/")]
    assert sorted(shown) == expected_lines()


def test_reports_carry_the_same_lines(project: pytest.Pytester) -> None:
    result = project.runpytest(
        *ARGS, "-p", "no:xdist", "--tb=no", "--junitxml=j.xml", "--ftb-report=r.json", "--ftb-markdown=r.md"
    )
    result.assert_outcomes(passed=1, failed=len(BROKEN))
    report = json.loads((project.path / "r.json").read_text())
    assert sorted(report["invalid_case_files"]) == expected_lines()
    assert [i["case_id"] for i in report["items"]] == ["a"] and report["items"][0]["passed"]
    failures = [f for f in ElementTree.parse(project.path / "j.xml").iter("failure")]
    assert sorted(f.text for f in failures) == expected_lines()
    assert all("\n" not in (f.get("message") or "") for f in failures)
    markdown = (project.path / "r.md").read_text()
    assert all(f"- `` {line} ``" in markdown.splitlines() for line in expected_lines())


def test_each_broken_file_is_located_at_its_line(project: pytest.Pytester) -> None:
    project.runpytest(*ARGS, "-p", "no:xdist", "--tb=no", "--junitxml=j.xml", "-o", "junit_family=xunit1")
    cases = [c for c in ElementTree.parse(project.path / "j.xml").iter("testcase") if c.find("failure") is not None]
    # xunit1's file and line are pytest's location: the line is 0-based, one less than the message's
    assert sorted(f"{c.get('file')}:{int(c.get('line')) + 1}" for c in cases) == sorted(
        f"cases/{line.split(':')[0]}:{line.split(':')[1]}" for _content, line in BROKEN.values()
    )


def test_under_xdist_in_bounded_time(project: pytest.Pytester) -> None:
    # a hang (an alias bomb expanded in a repr) fails here by the timeout instead of stalling the suite
    result = project.runpytest_subprocess(*ARGS, "-n", "2", "--tb=short", timeout=120)
    result.assert_outcomes(passed=1, failed=len(BROKEN))
    bodies = failure_bodies(result.outlines)
    # xdist prefixes each failure with the worker's platform line ("[gw0] linux -- Python ...")
    lines = sorted(line for body in bodies.values() for line in body if not line.startswith("[gw"))
    assert lines == expected_lines()


def test_a_symlink_loop_is_collected_once(project: pytest.Pytester) -> None:
    (project.path / "cases" / "sub").mkdir()
    (project.path / "cases" / "sub" / "loop").symlink_to("..", target_is_directory=True)
    (project.path / "cases" / "again.yaml").symlink_to("good.yaml")
    result = project.runpytest(*ARGS, "-p", "no:xdist", "--tb=line")
    result.assert_outcomes(passed=1, failed=len(BROKEN))
    assert "is also the name of" not in result.stdout.str()


def test_a_case_file_that_cannot_be_read_is_one_line_not_left_out(project: pytest.Pytester) -> None:
    """A symlink to itself, a dangling symlink, a link to its own folder and a folder, each named like
    a case file: pytest's walk would pass over them in silence."""
    cases = project.path / "cases"
    (cases / "self.yaml").symlink_to("self.yaml")
    (cases / "dangling.yaml").symlink_to("missing.yaml")
    (cases / "loop.yaml").symlink_to(".")
    (cases / "folder.yaml").mkdir()
    result = project.runpytest(*ARGS, "-p", "no:xdist", "--tb=short")
    result.assert_outcomes(passed=1, failed=len(BROKEN) + 4)
    fix = "fix: make it a readable file, or move it out of the case folders"
    unreadable = [body for body in failure_bodies(result.outlines).values() if "cannot read" in body[0]]
    assert sorted(unreadable) == [
        [f"cases/dangling.yaml:1: cannot read the file (a symlink to missing.yaml, which does not exist); {fix}"],
        [f"cases/folder.yaml:1: cannot read the file (it is a folder); {fix}"],
        [f"cases/loop.yaml:1: cannot read the file (it is a folder); {fix}"],
        [f"cases/self.yaml:1: cannot read the file (a symlink to self.yaml, which loops); {fix}"],
    ]
