"""Saved runs, --ftb-compare / --ftb-compare-fail, $GITHUB_STEP_SUMMARY, JUnit properties, before -> after.

Answers come from the published-answers provider fed with a CSV written here; a test changes
the CSV between two runs to make a regression it then expects to see.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_finetunebench.grading.outcome import Record
from pytest_finetunebench.reporting.report import Summary

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")

CASES = """\
dataset: towns
templates:
  default: "Answer briefly.\\n{question}"
cases:
  - id: velmora-bridge
    question: How much did the 2024 Velmora bridge repairs cost?
    answer: "150 million dollars"
    variants:
      - split: rephrased
        question: What did fixing the Velmora bridge cost in 2024?
        answer: "150 million dollars"
  - id: ostrin-mayor
    question: Who became mayor of Ostrin in 2025?
    answer: "Tavel Okonru"
    variants:
      - split: rephrased
        question: Name the mayor Ostrin elected in 2025.
        answer: "Tavel Okonru"
"""

GOOD = {
    "How much did the 2024 Velmora bridge repairs cost?": "150 million dollars",
    "What did fixing the Velmora bridge cost in 2024?": "150 million dollars",
    "Who became mayor of Ostrin in 2025?": "Tavel Okonru",
    "Name the mayor Ostrin elected in 2025.": "Tavel Okonru",
}
# one rephrased answer goes wrong: rephrased (= generalization) drops from 2/2 to 1/2
WORSE = {**GOOD, "Name the mayor Ostrin elected in 2025.": "Mira Salvet"}


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs below must not append to a real $GITHUB_STEP_SUMMARY when this suite runs in Actions."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def write_answers(p: pytest.Pytester, answers: dict[str, str], model: str = "modela") -> None:
    out = p.path / "responses"
    out.mkdir(exist_ok=True)
    with open(out / "towns_w_responses.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "prompt", "answer", f"{model}_response"])
        for q, a in answers.items():
            writer.writerow(["x", f"Answer briefly.\n{q}", "", a])


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "towns.yaml").write_text(CASES)
    write_answers(pytester, GOOD)
    return pytester


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest("cases", "--ftb-responses=responses", "--ftb-model=modela", "-p", "no:xdist", *args)


def saved(p: pytest.Pytester) -> list[Path]:
    return sorted((p.path / ".ftb" / "runs").glob("*.json"))


# --- saving ------------------------------------------------------------------------------------


def test_every_run_is_saved_numbered_with_what_ran(project: pytest.Pytester) -> None:
    first = run(project)
    first.assert_outcomes(passed=4)
    first.stdout.fnmatch_lines(["*run saved as *.ftb/runs/0001_*.json*"])
    run(project).assert_outcomes(passed=4)
    files = saved(project)
    assert [f.name[:5] for f in files] == ["0001_", "0002_"]
    assert all(len(f.stem) == len("0001_20260101T000000Z") and f.stem.endswith("Z") for f in files)
    data = json.loads(files[1].read_text())
    assert data["format"] == "pytest-finetunebench/run" and data["number"] == 2
    assert data["models"] == ["modela"]
    assert data["providers"] == {"modela": "published"}
    case_file = project.path / "cases" / "towns.yaml"
    assert data["datasets"] == {
        "towns": {"path": "cases/towns.yaml", "sha256": hashlib.sha256(case_file.read_bytes()).hexdigest()}
    }
    assert data["hyperparameters"]["seed"] == 0 and data["hyperparameters"]["epochs"] is None
    assert data["options"]["responses"] == "responses"
    assert data["plugin_version"] == __import__("pytest_finetunebench").__version__
    assert data["git"] is None  # the pytester directory is no git checkout
    assert len(data["items"]) == 4 and {i["split"] for i in data["items"]} == {"memorization", "rephrased"}
    cell = next(c for c in data["cells"] if c["split"] == "rephrased")
    assert (cell["target"], cell["n"], cell["correct"]) == ("modela", 2, 2)


def test_saved_run_records_the_git_commit(project: pytest.Pytester) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=project.path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], cwd=project.path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project.path, capture_output=True, text=True, check=True
    ).stdout.strip()
    run(project).assert_outcomes(passed=4)
    data = json.loads(saved(project)[0].read_text())
    assert data["git"]["commit"] == head and len(head) == 40


def test_under_xdist_the_controller_saves_one_run(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = project.runpytest("cases", "--ftb-responses=responses", "--ftb-model=modela", "-n", "2")
    result.assert_outcomes(passed=4)
    files = saved(project)
    assert [f.name[:5] for f in files] == ["0001_"]
    data = json.loads(files[0].read_text())
    assert len(data["items"]) == 4 and data["datasets"]["towns"]["sha256"]


def test_no_save_saves_nothing(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-no-save")
    result.assert_outcomes(passed=4)
    assert saved(project) == []
    assert "run saved as" not in result.stdout.str()


def test_store_option_moves_saved_runs(project: pytest.Pytester) -> None:
    run(project, "--ftb-store=elsewhere").assert_outcomes(passed=4)
    assert saved(project) == []
    assert len(list((project.path / "elsewhere" / "runs").glob("0001_*.json"))) == 1


# --- comparing -----------------------------------------------------------------------------------


def test_compare_prints_deltas_against_the_previous_run(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=4)
    write_answers(project, WORSE)
    result = run(project, "--ftb-compare")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*compared with run 0001 (*): accuracy then -> now*",
            "model*dataset*split*then*now*delta (points)*",
            "modela*towns*memorization*1.000 (2/2)*1.000 (2/2)*+0.0",
            "modela*towns*rephrased*1.000 (2/2)*0.500 (1/2)*-50.0",
            "modela*[*]*generalization*1.000 (2/2)*0.500 (1/2)*-50.0",
        ]
    )
    assert "warning:" not in result.stdout.str()


def test_compare_by_number_and_by_path(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=4)  # 0001: all right
    write_answers(project, WORSE)
    run(project).assert_outcomes(passed=3, failed=1)  # 0002: one wrong
    write_answers(project, GOOD)
    by_number = run(project, "--ftb-compare=1")  # 0003 vs 0001: nothing changed
    by_number.stdout.fnmatch_lines(["*compared with run 0001*", "modela*towns*rephrased*1.000 (2/2)*1.000 (2/2)*+0.0"])
    second = saved(project)[1]
    by_path = run(project, f"--ftb-compare={second}")  # 0004 vs 0002: rephrased recovered
    by_path.stdout.fnmatch_lines(["*compared with run 0002*", "modela*towns*rephrased*0.500 (1/2)*1.000 (2/2)*+50.0"])


def test_compare_with_a_missing_run_is_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-compare=7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ftb-compare=7: no saved run 0007 in *runs*"])
    (project.path / "other.json").write_text("{}")
    result = run(project, "--ftb-compare=other.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*other.json is not a saved finetunebench run*"])


def test_compare_warns_when_the_dataset_changed(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=4)
    case_file = project.path / "cases" / "towns.yaml"
    old = hashlib.sha256(case_file.read_bytes()).hexdigest()
    case_file.write_text("# edited\n" + CASES)
    new = hashlib.sha256(case_file.read_bytes()).hexdigest()
    result = run(project, "--ftb-compare", "--ftb-epochs=3")
    result.stdout.fnmatch_lines(
        [
            f"warning: dataset `towns` changed (sha256 {old[:12]} -> {new[:12]}): its deltas compare different cases",
            "warning: hyperparameters differ: epochs None -> 3",
        ]
    )


def test_compare_fail_decides_the_exit_status(project: pytest.Pytester) -> None:
    first = run(project, "--ftb-compare-fail=generalization:5%")
    assert first.ret == 0
    first.stdout.fnmatch_lines(["*no saved run to compare with yet*"])
    write_answers(project, WORSE)
    bad = run(project, "--ftb-compare-fail=generalization:5%")
    assert bad.ret == 1
    bad.stdout.fnmatch_lines(
        [
            "*regression gate FAILED (--ftb-compare-fail=generalization:5%)*",
            "*modela: generalization dropped 50.0 points (1.000 (2/2) -> 0.500 (1/2)), more than the 5.0 allowed*",
        ]
    )
    # against run 0002 (also WORSE) nothing dropped: the wrong answer alone does not fail the run
    ok = run(project, "--ftb-compare-fail=generalization:0.05,memorization:0")
    assert ok.ret == 0
    ok.stdout.fnmatch_lines(["*compared with run 0002*", "*regression gate passed*"])
    # a drop within the allowance passes, and a split name works as a scope
    write_answers(project, {**WORSE, "What did fixing the Velmora bridge cost in 2024?": "90 million dollars"})
    loose = run(project, "--ftb-compare-fail=rephrased:60%")
    assert loose.ret == 0, loose.stdout.str()
    strict = run(project, "--ftb-compare=3", "--ftb-compare-fail=rephrased:49%")
    assert strict.ret == 1
    strict.stdout.fnmatch_lines(["*modela: rephrased dropped 50.0 points*more than the 49.0 allowed*"])


def test_compare_fail_together_with_the_gate(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=4)
    result = run(project, "--ftb-compare-fail=generalization:5%", "--ftb-fail-under=memorization:1.0")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*gate passed*", "*regression gate passed*"])
    failing_gate = run(project, "--ftb-compare-fail=generalization:5%", "--ftb-fail-under=rephrased:1.0")
    assert failing_gate.ret == 0  # rephrased:1.0 is met
    write_answers(project, WORSE)
    both = run(project, "--ftb-compare-fail=generalization:90%", "--ftb-fail-under=rephrased:0.9")
    assert both.ret == 1
    both.stdout.fnmatch_lines(
        ["*gate FAILED*", "*modela: rephrased 0.500 (1/2) is under 0.900*", "*regression gate passed*"]
    )


def test_compare_fail_never_hides_run_errors(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=4)
    # modelc has no recorded answers: its items fail as run errors
    result = run(project, "--ftb-model=modelc", "--ftb-compare-fail=generalization:100%")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*run error:*modelc*", "*regression gate passed*"])
    assert [line for line in result.outlines if "run error(s)" in line] == [
        "  but 4 run error(s) (failed jobs, API errors, invalid case files): the exit status stays failed"
    ]


def test_bad_compare_fail_spec_is_a_usage_error(project: pytest.Pytester) -> None:
    result = run(project, "--ftb-compare-fail=generalization=5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ftb-compare-fail: `generalization=5` is not scope:value*"])


# --- $GITHUB_STEP_SUMMARY and JUnit ----------------------------------------------------------------


def test_step_summary_is_appended(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    run(project).assert_outcomes(passed=4)
    step = project.path / "step_summary.md"
    step.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    write_answers(project, WORSE)
    result = run(project, "--ftb-compare-fail=generalization:5%", "--ftb-fail-under=memorization:0.9")
    assert result.ret == 1
    text = step.read_text()
    assert text.startswith("# earlier step\n## FineTuneBench accuracy\n")
    assert "| modela | towns | rephrased | 2 | 1 | 0.500 |" in text
    assert "### Compared with run 0001 (" in text
    assert "| modela | towns | rephrased | 1.000 (2/2) | 0.500 (1/2) | -50.0 |" in text
    assert "**Gate (--ftb-fail-under=memorization:0.9): passed**" in text
    assert "**Regression gate (--ftb-compare-fail=generalization:5%): FAILED**" in text
    assert "- modela: generalization dropped 50.0 points" in text
    run(project)  # a second step appends, never truncates
    assert step.read_text().startswith(text) and step.read_text().count("## FineTuneBench accuracy") == 2


def test_markdown_file_carries_the_comparison(project: pytest.Pytester) -> None:
    run(project)
    run(project, "--ftb-compare", "--ftb-markdown=out.md")
    text = (project.path / "out.md").read_text()
    assert (
        "### Compared with run 0001" in text
        and "| modela | towns | memorization | 1.000 (2/2) | 1.000 (2/2) | +0.0 |" in text
    )


def test_junit_xml_carries_model_split_expected_and_answer(project: pytest.Pytester) -> None:
    write_answers(project, WORSE)
    run(project, "--junitxml=junit.xml").assert_outcomes(passed=3, failed=1)
    cases = ET.parse(project.path / "junit.xml").getroot().iter("testcase")
    props = {}
    for case in cases:
        found = {p.get("name"): p.get("value") for p in case.iter("property")}
        props[(found["ftb_case_id"], found["ftb_split"])] = found
    assert len(props) == 4
    for found in props.values():
        assert found["ftb_model"] == "modela"
        assert {"ftb_model", "ftb_split", "ftb_expected", "ftb_answer", "ftb_passed"} <= found.keys()
    wrong = props[("ostrin-mayor", "rephrased")]
    assert (wrong["ftb_expected"], wrong["ftb_answer"], wrong["ftb_passed"]) == ("Tavel Okonru", "Mira Salvet", "False")
    right = props[("velmora-bridge", "memorization")]
    assert (right["ftb_expected"], right["ftb_answer"], right["ftb_passed"]) == ("150 million dollars",) * 2 + ("True",)


# --- before -> after with the in-context upper bound -------------------------------------------------


def _record(model: str, stage: str, split: str, passed: bool, case: str = "c1") -> Record:
    return Record(model, stage, "towns", case, split, "q?", "a", "a" if passed else "b", passed, "exact", 1.0, "")


def test_before_after_shows_base_tuned_and_in_context() -> None:
    records = []
    for stage, right in (
        ("base", {"memorization": 0, "rephrased": 0, "comparison": 1}),
        ("tuned", {"memorization": 2, "rephrased": 1, "comparison": 1}),
        ("in_context", {"memorization": 2, "rephrased": 2, "comparison": 2}),
    ):
        for split, n_right in right.items():
            records += [_record("m", stage, split, i < n_right, f"c{i}") for i in range(2)]
    table = Summary(records).before_after_table()
    assert table is not None
    assert table[0] == ["model", "split", "base", "tuned", "change", "in-context"]
    assert table[1:] == [
        ["m", "memorization", "0.000", "1.000", "+100.0 pts", "1.000"],
        ["m", "rephrased", "0.000", "0.500", "+50.0 pts", "1.000"],
        ["m", "comparison", "0.500", "0.500", "+0.0 pts", "1.000"],
        ["m", "generalization", "0.250", "0.500", "+25.0 pts", "1.000"],
    ]
    text = "\n".join(Summary(records).terminal_lines())
    assert "in-context = untuned with the facts in the prompt (the upper bound)" in text
    assert "### Before -> after" in Summary(records).markdown()


def test_before_after_uses_the_last_epoch_and_drops_absent_stages() -> None:
    records = [_record("m", "in_context", "memorization", True)]
    records += [_record("m", f"epoch:{n}", "memorization", n >= 3) for n in (1, 3, 10)]
    table = Summary(records).before_after_table()
    assert table == [["model", "split", "tuned", "in-context"], ["m", "memorization", "1.000", "1.000"]]
    assert Summary([_record("m", "tuned", "memorization", True)]).before_after_table() is None
