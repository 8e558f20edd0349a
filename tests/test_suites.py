"""The shipped suites (``--ftb-suite``) run from any folder, and an empty folder says where cases come from."""

from __future__ import annotations

import pytest

from pytest_finetunebench.suites import available, forgetting_text, suite_dir


def test_the_shipped_suites_are_package_data():
    assert available() == ["default", "full"]
    assert sorted(p.name for p in suite_dir("default").glob("*.yaml")) == ["api.yaml", "events.yaml", "people.yaml", "retention.yaml"]
    assert forgetting_text().count(" ") > 1500  # the general text of Δ NLL ships beside them


def test_a_suite_runs_from_a_folder_without_cases(pytester: pytest.Pytester):
    result = pytester.runpytest("--ftb-suite=default", "--collect-only", "-q", "-p", "no:randomly")
    assert result.ret == 0
    ids = [line for line in result.outlines if "::" in line]
    # 174 items of the 50 facts, and the 100 retention questions asked of the tuned and the untuned model
    assert len(ids) == 374 and result.outlines[-1] == "374 tests collected in " + result.outlines[-1].split(" in ")[1]
    assert {i.split("::")[0] for i in ids} == {"people.yaml", "events.yaml", "api.yaml", "retention.yaml"}
    assert sum(i.endswith("::retention[local:smollm2-135m@base]") for i in ids) == 100


def test_a_suite_set_in_the_ini_file(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nftb_suite = default\n")
    result = pytester.runpytest("--collect-only", "-q", "--ftb-split=code")
    assert result.ret == 0 and sum("::" in line for line in result.outlines) == 12


def test_an_unknown_suite_is_one_line(pytester: pytest.Pytester):
    result = pytester.runpytest("--ftb-suite=tiny")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == ["ERROR: --ftb-suite=tiny: no such suite; the shipped suites are default, full", ""]


def test_no_case_files_ends_with_where_to_get_them(pytester: pytest.Pytester):
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert result.outlines[-2] == (
        f"finetunebench: no case files were collected (it looks in {pytester.path / 'cases'}); get cases: pytest --ftb-suite=default"
        " (the shipped suite), `ftb init` (a starter cases/ and the pytest settings), `ftb generate` or `ftb import-upstream`")
