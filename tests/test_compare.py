"""Comparing a run with a saved one (--ftb-compare): the warnings, every row, the aggregates over
the datasets both runs have, the allowed drops at their boundary, and how a saved run is named."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting import paired
from pytest_finetunebench.reporting.gate import Threshold, verdict_markdown
from pytest_finetunebench.reporting.report import Summary
from pytest_finetunebench.reporting.runs import (
    FORMAT,
    FORMAT_VERSION,
    Comparison,
    Delta,
    History,
    SavedRun,
    append_step_summary,
    git_info,
    relative,
    run_data,
)
from pytest_finetunebench.store.jobstore import JobStore


def cell(target: str, dataset: str, split: str, n: int, correct: int) -> dict:
    return {"target": target, "dataset": dataset, "split": split, "n": n, "correct": correct}


THEN = {
    "format": FORMAT,
    "number": 12,
    "created": "2026-11-30T10:00:00+00:00",
    "git": {"commit": "0123456789abcdef", "dirty": True},
    "datasets": {"people": {"sha256": "a" * 64}, "events": {"sha256": "e" * 64}},
    "hyperparameters": {"epochs": 3, "learning_rate": None},
    "cells": [
        cell("m", "people", "memorization", 10, 10),
        cell("m", "people", "rephrased", 10, 8),
        cell("m", "events", "memorization", 10, 5),
    ],
}
NOW = {
    "datasets": {"people": {"sha256": "b" * 64}, "api": {"sha256": "c" * 64}},
    "hyperparameters": {"epochs": 5, "batch_size": 8},
    "cells": [
        cell("m", "people", "memorization", 10, 9),
        cell("m", "people", "rephrased", 10, 6),
        cell("m", "api", "memorization", 4, 4),
        cell("new", "people", "memorization", 10, 1),
    ],
}


@pytest.fixture
def comparison(tmp_path) -> Comparison:
    return Comparison(SavedRun(tmp_path / "0012.json", THEN), NOW)


def test_warnings_name_every_dataset_and_setting_that_differs(comparison):
    assert comparison.warnings() == [
        "dataset `api` is new in this run: no deltas for it",
        "dataset `events` was in the compared run but not in this one",
        "dataset `people` changed (sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb): its deltas compare different cases",
        "hyperparameters differ: batch_size None -> 8, epochs 3 -> 5",
    ]


def test_the_table_has_every_cell_of_either_run_then_the_aggregates_over_shared_datasets(comparison):
    assert comparison.table() == [
        ["model", "dataset", "split", "then", "now", "delta (points)"],
        ["m", "people", "memorization", "1.000 (10/10)", "0.900 (9/10)", "-10.0"],
        ["m", "people", "rephrased", "0.800 (8/10)", "0.600 (6/10)", "-20.0"],
        ["m", "api", "memorization", "-", "1.000 (4/4)", "-"],
        ["new", "people", "memorization", "-", "0.100 (1/10)", "-"],
        ["m", "events", "memorization", "0.500 (5/10)", "-", "-"],
        [
            "m",
            "*",
            "memorization",
            "1.000 (10/10)",
            "0.900 (9/10)",
            "-10.0",
        ],  # people only: events and api are not in both
        ["m", "*", "generalization", "0.800 (8/10)", "0.600 (6/10)", "-20.0"],
    ]


def test_the_markdown_has_the_title_the_warnings_and_the_table(comparison):
    lines = comparison.markdown_lines()
    assert lines[:8] == [
        "### Compared with run 0012 (2026-11-30T10:00:00+00:00, commit 0123456789 (dirty))",
        "",
        "> **warning:** dataset `api` is new in this run: no deltas for it",
        "> **warning:** dataset `events` was in the compared run but not in this one",
        "> **warning:** dataset `people` changed (sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb): its deltas compare different "
        "cases",
        "> **warning:** hyperparameters differ: batch_size None -> 8, epochs 3 -> 5",
        "",
        "| model | dataset | split | then | now | delta (points) |",
    ]


def test_without_warnings_the_table_follows_the_title(tmp_path):
    same = Comparison(
        SavedRun(tmp_path / "x.json", {"format": FORMAT, "created": "2026-12-01", "cells": NOW["cells"]}),
        {"cells": NOW["cells"]},
    )
    assert same.markdown_lines()[:3] == [
        f"### Compared with {tmp_path / 'x.json'} (2026-12-01)",
        "",
        "| model | dataset | split | then | now | delta (points) |",
    ]
    assert same.terminal_lines()[0].split() == ["model", "dataset", "split", "then", "now", "delta", "(points)"]


def test_a_drop_exactly_at_the_allowed_points_passes_and_one_beyond_fails(comparison):
    assert (
        comparison.check([Threshold("memorization", 0.10)], ["new", "m"]) == []
    )  # "new" has no past: skipped, "m" still checked
    assert comparison.check([Threshold("memorization", 0.09), Threshold("generalization", 0.25)], ["new", "m"]) == [
        "m: memorization dropped 10.0 points (1.000 (10/10) -> 0.900 (9/10)), more than the 9.0 allowed"
    ]


def test_a_scope_graded_in_only_one_run_fails_the_comparison(comparison):
    assert comparison.check([Threshold("secondary", 0.5)], ["m"]) == [
        "m: no graded `secondary` items in both runs to compare"
    ]


def test_counts_show_a_dash_only_when_nothing_was_graded():
    assert Delta("m", "d", "s", (5, 0), (0, 0)).row() == ["m", "d", "s", "0.000 (0/5)", "-", "-"]
    assert Delta("m", "d", "s", None, (4, 1)).row() == ["m", "d", "s", "-", "0.250 (1/4)", "-"]


def test_a_run_without_cells_compares_as_empty(tmp_path):
    empty = Comparison(SavedRun(tmp_path / "x.json", {"format": FORMAT}), {})
    assert (empty.then, empty.now, empty.table()) == (
        {},
        {},
        [["model", "dataset", "split", "then", "now", "delta (points)"]],
    )


def saved(history: History, n: int) -> None:
    for _ in range(n):
        history.save({"format": FORMAT, "cells": []})


def test_a_run_number_that_was_never_saved_names_the_latest_five(tmp_path):
    history = History(JobStore(tmp_path / "store"))
    with pytest.raises(pytest.UsageError) as err:
        history.resolve("3", tmp_path)
    assert str(err.value) == f"--ftb-compare=3: no saved run 0003 in {history.folder} (latest: none)"
    saved(history, 7)
    with pytest.raises(pytest.UsageError) as err:
        history.resolve("0009", tmp_path)
    assert str(err.value) == f"--ftb-compare=0009: no saved run 0009 in {history.folder} (latest: 3, 4, 5, 6, 7)"
    assert history.resolve("0002", tmp_path).data["number"] == 2
    assert history.resolve("previous", tmp_path).data["number"] == 7


def test_a_saved_run_file_is_found_from_where_pytest_was_invoked(tmp_path, monkeypatch):
    (tmp_path / "invoked").mkdir()
    (tmp_path / "invoked" / "then.json").write_text(json.dumps({"format": FORMAT, "number": 4}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    history = History(JobStore(tmp_path / "store"))
    run = history.resolve("then.json", tmp_path / "invoked")
    assert (run.path, run.data["number"]) == (tmp_path / "invoked" / "then.json", 4)
    with pytest.raises(pytest.UsageError) as err:
        history.resolve("nope.json", tmp_path / "invoked")
    assert str(err.value) == "--ftb-compare=nope.json: not a run number nor a saved-run JSON file"


def test_an_unreadable_saved_run_is_one_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(pytest.UsageError) as err:
        SavedRun.read(path)
    assert (
        str(err.value)
        == f"--ftb-compare: cannot read {path} (Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1))"
    )
    path.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(pytest.UsageError) as err:
        SavedRun.read(path)
    assert str(err.value) == f'--ftb-compare: {path} is not a saved finetunebench run (no "format": "{FORMAT}")'


def test_a_saved_run_keeps_its_path(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"format": FORMAT}), encoding="utf-8")
    assert SavedRun.read(path) == SavedRun(Path(path), {"format": FORMAT})


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def test_a_run_records_the_commit_and_whether_tracked_files_differ(tmp_path):
    assert git_info(tmp_path) is None  # not a checkout
    git(tmp_path, "init", "-q")
    assert git_info(tmp_path) is None  # no commit yet
    (tmp_path / "cases.yaml").write_text("a\n", encoding="utf-8")
    git(tmp_path, "add", "cases.yaml")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "untracked.txt").write_text("x", encoding="utf-8")
    assert git_info(tmp_path) == {"commit": head, "dirty": False}  # untracked files do not count
    (tmp_path / "cases.yaml").write_text("b\n", encoding="utf-8")
    assert git_info(tmp_path) == {"commit": head, "dirty": True}


def test_a_saved_run_says_what_ran_and_where(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "people.yaml").write_text("dataset: people\n", encoding="utf-8")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one")
    records = [
        Record(
            model="m",
            stage="tuned",
            dataset=d,
            case_id="c",
            split="memorization",
            question="q?",
            expected="1",
            answer="1",
            passed=True,
            matcher="auto",
            score=1.0,
            reason="",
        )
        for d in ("people", "events")
    ]
    data = run_data(
        Summary(records),
        {"epochs": 3},
        providers={"m": "local"},
        case_files={"people": tmp_path / "cases" / "people.yaml"},
        rootdir=tmp_path,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", data["created"])  # UTC, to the second
    assert {
        k: data[k]
        for k in ("format", "format_version", "number", "python", "pytest", "git", "models", "providers", "datasets")
    } == {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "number": None,
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "git": {"commit": git(tmp_path, "rev-parse", "HEAD"), "dirty": False},
        "models": ["m"],
        "providers": {"m": "local"},
        "datasets": {
            "people": {"path": "cases/people.yaml", "sha256": hashlib.sha256(b"dataset: people\n").hexdigest()},
            "events": {"path": None, "sha256": None},
        },
    }
    assert data["hyperparameters"]["epochs"] == 3


def test_a_gate_verdict_in_markdown():
    assert verdict_markdown("gate", None, 3) == []  # no gate set: nothing
    assert verdict_markdown("regression gate", ["m: memorization dropped 10.0 points"], 2) == [
        "**regression gate: FAILED**",
        "",
        "- m: memorization dropped 10.0 points",
        "- but 2 run error(s) (failed jobs, API errors, invalid case files): the exit status stays failed",
        "",
    ]


def test_the_job_summary_is_appended_when_github_asks_for_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_step_summary("## one") == []
    summary = tmp_path / "summary.md"
    summary.write_text("before\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_step_summary("## accuracy — ±") == []
    assert summary.read_text(encoding="utf-8") == "before\n## accuracy — ±\n"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a folder: cannot append
    assert append_step_summary("x") == [
        f"could not append to $GITHUB_STEP_SUMMARY ([Errno 21] Is a directory: '{tmp_path}')"
    ]


def test_a_case_file_is_named_relative_to_the_root_when_it_is_below_it(tmp_path):
    assert relative(tmp_path / "cases" / "a.yaml", tmp_path) == "cases/a.yaml"
    assert relative(Path("/elsewhere/a.yaml"), tmp_path) == "/elsewhere/a.yaml"


def _items(passed: list[bool], split: str = "rephrased") -> list[dict]:
    return [
        {
            **asdict(
                Record(
                    model="m",
                    stage="tuned",
                    dataset="people",
                    case_id=f"c{i}",
                    split=split,
                    question=f"q{i}?",
                    expected="1",
                    answer="1" if ok else "2",
                    passed=ok,
                    matcher="auto",
                    score=float(ok),
                    reason="",
                )
            ),
            "target": "m",
        }
        for i, ok in enumerate(passed)
    ]


def paired_runs(tmp_path: Path, now: list[bool]) -> Comparison:
    then = {**THEN, "items": _items([True] * 20)}
    return Comparison(SavedRun(tmp_path / "0012.json", then), {**NOW, "items": _items(now)})


def test_the_runs_are_compared_paired_on_the_items_both_answered(tmp_path):
    comparison = paired_runs(tmp_path, [i >= 3 for i in range(20)])  # 3 of 20 right before are wrong now
    assert [p.as_dict() for p in comparison.paired()] == [
        {
            "a": "m (run 0012)",
            "b": "m",
            "scope": "generalization",
            "n": 20,
            "a_only": 3,
            "b_only": 0,
            "p_value": 0.106058,
            "difference": -0.15,
            "ci": [-0.3667, 0.0451],
            "design_effect": 1.0526,
        }
    ]
    assert comparison.terminal_lines()[-3:] == [
        paired.TITLE,
        "A             B  scope           n   only A  only B  p       B - A [95% CI]",
        "m (run 0012)  m  generalization  20  3       0       0.1061  -15.0 pts [-36.7, +4.5]",
    ]


@pytest.mark.parametrize(
    ("wrong_now", "failures"),
    [
        (3, []),  # a 15-point drop, but 3 of 20 items cannot show it is more than 5 points
        (
            6,
            [
                "m: generalization dropped 30.0 points on the 20 items both runs answered (6 right only then, 0 only "
                "now), more than the 5.0 allowed: one-sided p 0.0179 (Holm over 1 test(s)) < 0.05"
            ],
        ),
        (1, []),  # p = 1 and a 5-point drop: within the allowance anyway
    ],
)
def test_a_drop_fails_only_when_significantly_beyond_the_allowance(tmp_path, wrong_now, failures):
    comparison = paired_runs(tmp_path, [i >= wrong_now for i in range(20)])
    assert comparison.check([Threshold("generalization", 0.05, alpha=0.05)], ["m"]) == failures


def test_the_significance_form_is_for_compare_fail_only():
    from pytest_finetunebench.reporting.gate import parse_thresholds

    assert parse_thresholds("generalization:5%@0.05", "--ftb-compare-fail") == [Threshold("generalization", 0.05, 0.05)]
    with pytest.raises(pytest.UsageError) as info:
        parse_thresholds("generalization:0.5@0.05")
    assert str(info.value) == (
        "--ftb-fail-under: `generalization:0.5@0.05`: a significance level (@alpha) is for"
        " --ftb-compare-fail only; fix: write scope:value"
    )
    with pytest.raises(pytest.UsageError) as info:
        parse_thresholds("generalization:5%@5", "--ftb-compare-fail")
    assert str(info.value) == (
        "--ftb-compare-fail: `generalization:5%@5`: the significance level after @ must lie"
        " between 0 and 1; fix: e.g. generalization:5%@0.05"
    )


def test_the_gate_adjusts_every_significant_drop_test_together_by_holm():
    """Two targets each 30 points down on 20 items (one-sided p 0.0179 each, as above): alone each is
    under 0.05; together Holm compares the smaller with 0.05/2 and both stay under it, so both fail. A
    third test with nothing lost (p 1) changes the first level to 0.05/3 = 0.0167, and none fails."""
    from pytest_finetunebench.reporting import paired
    from pytest_finetunebench.reporting.gate import significant_drops

    then = [Record.from_item(i) for i in _items([True] * 20)]
    lost = [Record.from_item(i) for i in _items([i >= 6 for i in range(20)])]
    drop = paired.compare("m (run 0012)", "m", "generalization", then, lost)
    same = paired.compare("m (run 0012)", "m", "generalization", then, then)
    limit = Threshold("generalization", 0.05, alpha=0.05)
    line = (
        "m: generalization dropped 30.0 points on the 20 items both runs answered (6 right only then, 0 only now),"
        " more than the 5.0 allowed: one-sided p 0.0179 (Holm over 2 test(s)) < 0.05"
    )
    assert significant_drops([("m", limit, drop), ("m", limit, drop)]) == [line, line]
    assert significant_drops([("m", limit, drop), ("m", limit, drop), ("m", limit, same)]) == []
