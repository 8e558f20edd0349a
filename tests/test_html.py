"""The HTML run page: self-contained, escaped, filterable; checked in a real headless Chromium.

The browser tests skip where no Chromium is installed; ``.ci/run`` installs Debian's ``chromium``,
so they run in CI. Chromium's ``--dump-dom`` prints the DOM after the page's own script ran.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import html
from pytest_finetunebench.reporting.report import Summary

EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


def rec(stage: str, split: str, case: str, passed: bool, answer: str = "42") -> Record:
    return Record(
        model="m",
        stage=stage,
        dataset="towns",
        case_id=case,
        split=split,
        question=f"What about {case}?",
        expected="42",
        answer=answer,
        passed=passed,
        matcher="number",
        score=float(passed),
        reason="number 42 matches 42" if passed else "expected 42, got 7",
        in_form=True,
    )


def run_json(records: list[Record], number: int) -> dict:
    return {
        "number": number,
        "created": "2026-12-01T20:00:00+00:00",
        "plugin_version": "0.1.0",
        "models": ["m"],
        "providers": {"m": "published"},
        "datasets": {"towns": {"path": "cases/towns.yaml", "sha256": "ab" * 32}},
        "hyperparameters": {"epochs": 10},
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "gate": {"fail_under": "memorization:0.9", "failures": [], "compare_fail": None, "compare_failures": None},
        **Summary(records).to_json(),
    }


BEFORE = run_json(
    [
        rec("tuned", "memorization", "a", True),
        rec("tuned", "rephrased", "a", True),
        rec("tuned", "memorization", "b", True),
        rec("tuned", "rephrased", "b", False),
    ],
    1,
)
NOW = run_json(
    [
        rec("tuned", "memorization", "a", True),
        rec("tuned", "rephrased", "a", False, answer=EVIL),
        rec("tuned", "memorization", "b", True),
        rec("tuned", "rephrased", "b", True),
        rec("base", "rephrased", "a", False),
    ],
    2,
)


def test_flipped_items_are_found_and_listed_first() -> None:
    flips = html.flipped(html.records(BEFORE), html.records(NOW))
    assert [(r.case_id, r.split, change) for r, change in flips] == [
        ("a", "rephrased", "pass -> fail"),
        ("b", "rephrased", "fail -> pass"),
    ]
    page = html.render(NOW, BEFORE, plots=False)
    first_rows = re.findall(r'<tr data-target="m" data-split="(\w+)" data-verdict="(\w+)">', page)[:2]
    assert first_rows == [("rephrased", "fail"), ("rephrased", "pass")]
    assert "2 item(s) changed verdict" in page


def test_untrusted_text_is_escaped_and_nothing_is_fetched() -> None:
    page = html.render(NOW, BEFORE, plots=False)
    assert EVIL not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)  # no network: no external resource
    assert page.count("<script>") == 1  # only the page's own


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium installed (CI installs Debian's chromium)")


def dom(page: Path, fragment: str = "") -> str:
    out = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def visible_rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-target="([^"]+)" data-split="(\w+)" data-verdict="(?:\w+)">', html)


def test_in_a_real_browser(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    path.write_text(html.render(NOW, BEFORE, plots=False), encoding="utf-8")
    rendered = dom(path)
    assert "<title>FineTuneBench run 0002</title>" in rendered  # the answer's script did not run
    assert "<img" not in rendered and "&lt;img src=x onerror=" in rendered  # shown as text, not an element
    assert "Leaderboard</h2>" in rendered and "Accuracy per model x dataset x split</h2>" in rendered
    assert len(re.findall(r"<tr data-target=", rendered)) == 5 and "5 of 5 items shown" in rendered
    failures = dom(path, "#verdict=fail&split=rephrased")
    hidden = re.findall(r'<tr data-target="[^"]+" data-split="(\w+)" data-verdict="(\w+)"( hidden="")?>', failures)
    assert sorted((split, verdict) for split, verdict, h in hidden if not h) == [
        ("rephrased", "fail"),
        ("rephrased", "fail"),
    ]
    assert "2 of 5 items shown" in failures
    searched = dom(path, "#q=What%20about%20b")
    assert "2 of 5 items shown" in searched


def one_answer_project(pytester: pytest.Pytester, answer: str, *args: str) -> pytest.RunResult:
    """Run a one-question project (gold 42) whose recorded answer is ``answer``."""
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(
        "dataset: towns\ncases:\n  - id: a\n    question: How old is Velmora?\n    answer: '42'\n"
    )
    (pytester.path / "responses").mkdir()
    (pytester.path / "responses" / "towns_w_responses.csv").write_text(
        f'id,prompt,answer,m_response\nx,How old is Velmora?,,"{answer}"\n'
    )
    return pytester.runpytest(
        "cases", "--ftb-model=m", "--ftb-responses=responses", *args, "-p", "no:xdist", "-p", "no:randomly"
    )


def test_the_plugin_writes_the_page_and_names_it(pytester: pytest.Pytester) -> None:
    result = one_answer_project(pytester, "<b>42</b>", "--ftb-html=out/run.html")
    result.assert_outcomes(passed=1)
    page = (pytester.path / "out" / "run.html").read_text()
    assert "&lt;b&gt;42&lt;/b&gt;" in page and "<b>42</b>" not in page
    assert (
        result.outlines[-2] == f"finetunebench: HTML report {(pytester.path / 'out' / 'run.html').resolve().as_uri()}"
    )


def test_the_command_builds_the_page_from_a_saved_run(tmp_path: Path) -> None:
    (tmp_path / "now.json").write_text(json.dumps(NOW))
    (tmp_path / "before.json").write_text(json.dumps(BEFORE))
    assert (
        html.main(
            [str(tmp_path / "now.json"), "--out", str(tmp_path / "p.html"), "--compare", str(tmp_path / "before.json")]
        )
        == 0
    )
    assert (tmp_path / "p.html").read_text() == html.render(NOW, BEFORE)


def test_plots_of_all_wrong_and_all_right_cells_are_embedded() -> None:
    pytest.importorskip("matplotlib")
    records = [rec("tuned", "memorization", c, True) for c in "abc"] + [
        rec("tuned", "rephrased", c, False) for c in "abc"
    ]
    page = html.render(run_json(records, 3), plots=True)
    assert page.count('<div class="svg"><svg') == 1 and "<metadata>" not in page
    assert page == html.render(run_json(records, 3), plots=True)  # the same run, the same page


def test_pytest_html_gets_the_tables_and_each_items_details(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_html")
    result = one_answer_project(pytester, "<i>41</i>", "--html=ph.html", "--self-contained-html")
    result.assert_outcomes(failed=1)
    page = (pytester.path / "ph.html").read_text()
    assert "<h2>FineTuneBench accuracy per model x dataset x split</h2>" in page
    assert "<td>towns</td><td>memorization</td>" in page
    # row details are JSON-encoded inside the page's data blob: the answer stays escaped text
    assert "How old is Velmora?" in page and "&amp;lt;i&amp;gt;41&amp;lt;/i&amp;gt;" in page.replace("\\u0026", "&")
