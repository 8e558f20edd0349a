"""A team's own provider, registered from its conftest.py through the plugin's hook, runs end to
end with the built-in guarantees: tuned once under pytest-xdist and across reruns, reported. The
conftest.py is this repository's own (the memorizer provider)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# this repository's own conftest.py registers the memorizer provider through the hook: the team's file here
CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text(encoding="utf-8")

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
