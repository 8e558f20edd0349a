"""The shipped suites (``--ftb-suite``) run from any folder, and an empty folder says where cases come from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_finetunebench.suites import available, forgetting_text, suite_dir


def test_the_shipped_suites_are_package_data():
    assert available() == ["default", "full"]
    assert sorted(p.name for p in suite_dir("default").glob("*.yaml")) == [
        "api.yaml",
        "events.yaml",
        "people.yaml",
        "retention.yaml",
    ]
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
        f"finetunebench: no case files were collected (it looks in {pytester.path / 'cases'}); get cases: pytest "
        "--ftb-suite=default"
        " (the shipped suite), `ftb init` (a starter cases/ and the pytest settings), `ftb generate` or `ftb "
        "import-upstream`"
    )


ROOT = Path(__file__).resolve().parents[1]


def _in_checkout(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_XDIST", "PYTEST_CURRENT"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:randomly", "-p", "no:xdist"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_design_cards_command_runs_the_benchmark_on_cases(tmp_path):
    listed = _in_checkout("--ftb-model=gpt-4o-2024-08-06", "--collect-only", "-q")
    ids = [line for line in listed.stdout.splitlines() if "::" in line]
    assert listed.returncode == 0 and len(ids) == 374
    assert all(
        i.startswith("cases/default/") and i.endswith(("[gpt-4o-2024-08-06]", "[gpt-4o-2024-08-06@base]")) for i in ids
    )
    # with no key and no cassette: one line saying the three ways on, nothing sent
    run = _in_checkout("--ftb-model=gpt-4o-2024-08-06", f"--ftb-store={tmp_path / 'store'}", "-q")
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert run.returncode == pytest.ExitCode.USAGE_ERROR and len(errors) == 1
    assert errors[0].endswith(
        "; three ways on: the provider's API key with --ftb-record-mode=once (tunes, answers and records"
        " this cassette; --ftb-record-mode=off runs live without one), a cassette recorded with the same"
        " cases and settings (--ftb-cassettes=DIR), or --ftb-responses=DIR to re-grade published answers"
    )
    assert not (tmp_path / "store" / "runs").exists()


@pytest.mark.parametrize("select", [["-m", "retention"], ["--ftb-split=retention"]])
def test_the_retention_split_is_selected_like_any_split(pytester: pytest.Pytester, select: list[str]):
    result = pytester.runpytest("--ftb-suite=default", "--collect-only", "-q", "-p", "no:randomly", *select)
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == 200 and {i.split("::")[0] for i in ids} == {"retention.yaml"}
    assert sum(i.endswith("[local:smollm2-135m@base]") for i in ids) == 100  # the untuned stage it needs comes along
