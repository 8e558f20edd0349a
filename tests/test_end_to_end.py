"""Re-grade the paper's published Fictional People answers: import, replay, grade, report.

Reads ../shared/upstream-finetunebench at test time (it has no license: nothing of it is
copied here) and skips cleanly where it is absent.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import unicodedata
from pathlib import Path

import pytest

MODEL = "gpt-4o-mini-2024-07-18"
FILES = {
    "memorization": "fictional_people_original_w_responses.csv",
    "rephrased": "fictional_people_rephrased_w_responses.csv",
    "secondary": "fictional_people_secondary_w_responses.csv",
}


def exact_counts(path: Path, model: str) -> tuple[int, int]:
    """Correct and total by plain normalized equality, computed straight from the CSV."""

    def norm(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        return re.sub(r"[^a-z0-9]+", " ", text).strip()

    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    return sum(norm(r[f"{model}_response"]) == norm(r["answer"]) for r in rows), len(rows)


def test_regrading_published_answers_matches_the_csvs(clone: Path, pytester: pytest.Pytester) -> None:
    upstream = clone
    pytester.makeini("[pytest]\n")
    imported = pytester.run(
        sys.executable, "-m", "pytest_finetunebench", "import-upstream", str(upstream),
        "--out", str(pytester.path / "imported"), "--datasets", "fictional_people",
    )
    assert imported.ret == 0, imported.stderr.str()
    result = pytester.runpytest(
        f"--ftb-cases={pytester.path / 'imported'}", f"--ftb-model={MODEL}",
        f"--ftb-responses={upstream / 'model_responses'}", "--ftb-report=report.json",
        "--ftb-fail-under=memorization:0.95", "-p", "no:xdist", "--tb=no", "-q",
    )
    assert result.ret == 0  # the gate decides: memorization is above 0.95 whatever else failed
    cells = {c["split"]: c for c in json.loads((pytester.path / "report.json").read_text())["cells"]}
    expected = {split: exact_counts(upstream / "model_responses" / "fictional_people" / f, MODEL)
                for split, f in FILES.items()}
    assert expected["memorization"] == (150, 150) and expected["rephrased"] == (134, 150)
    for split, (correct, n) in expected.items():
        assert (cells[split]["correct"], cells[split]["n"]) == (correct, n), split
    # the comparison answers published upstream are an older 25-row file: those items are graded,
    # the rest of the 150 comparison items have no recorded answer and are skipped
    assert cells["comparison"]["n"] == 25
    result.stdout.fnmatch_lines([
        f"{MODEL}*fictional_people*memorization*150*150*1.000*",
        f"{MODEL}*fictional_people*rephrased*150*134*0.893*",
    ])
