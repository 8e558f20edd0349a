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
        sys.executable,
        "-m",
        "pytest_finetunebench",
        "import-upstream",
        str(upstream),
        "--out",
        str(pytester.path / "imported"),
        "--datasets",
        "fictional_people",
    )
    assert imported.ret == 0, imported.stderr.str()
    result = pytester.runpytest(
        f"--ftb-cases={pytester.path / 'imported'}",
        f"--ftb-model={MODEL}",
        f"--ftb-responses={upstream / 'model_responses'}",
        "--ftb-report=report.json",
        "--ftb-fail-under=memorization:0.95",
        "-p",
        "no:xdist",
        "--tb=no",
        "-q",
    )
    assert result.ret == 0  # the gate decides: memorization is above 0.95 whatever else failed
    cells = {c["split"]: c for c in json.loads((pytester.path / "report.json").read_text())["cells"]}
    expected = {
        split: exact_counts(upstream / "model_responses" / "fictional_people" / f, MODEL) for split, f in FILES.items()
    }
    assert expected["memorization"] == (150, 150) and expected["rephrased"] == (134, 150)
    for split, (correct, n) in expected.items():
        assert (cells[split]["correct"], cells[split]["n"]) == (correct, n), split
    # the comparison answers published upstream are an older 25-row file: those items are graded,
    # the rest of the 150 comparison items have no recorded answer and are skipped
    assert cells["comparison"]["n"] == 25
    result.stdout.fnmatch_lines(
        [f"{MODEL}*fictional_people*memorization*150*150*1.000*", f"{MODEL}*fictional_people*rephrased*150*134*0.893*"]
    )


FIVE = (
    "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125",
    "gpt-4o-2024-08-06",
    "gemini-1.5-flash-002",
    "gemini-1.5-pro-002",
)


def test_regrading_the_five_models_pairs_every_two_of_them(clone: Path, pytester: pytest.Pytester) -> None:
    """Every pair of the paper's five models gets its paired table, and each entry's counts are
    the items' own verdicts: right only in A, right only in B, on the items both answered."""
    pytester.makeini("[pytest]\n")
    imported = pytester.run(
        sys.executable,
        "-m",
        "pytest_finetunebench",
        "import-upstream",
        str(clone),
        "--out",
        str(pytester.path / "imported"),
        "--datasets",
        "fictional_people",
    )
    assert imported.ret == 0, imported.stderr.str()
    pytester.runpytest(
        f"--ftb-cases={pytester.path / 'imported'}",
        f"--ftb-model={','.join(FIVE)}",
        f"--ftb-responses={clone / 'model_responses'}",
        "--ftb-report=report.json",
        "-p",
        "no:xdist",
        "--tb=no",
        "-q",
    )
    report = json.loads((pytester.path / "report.json").read_text())
    found = {(p["a"], p["b"], p["scope"]): p for p in report["paired"]}
    names = sorted(FIVE)  # A before B in name order, whatever order the items ran in
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    assert sorted({(a, b) for a, b, _ in found}) == pairs
    verdicts = {
        (i["target"], i["split"], i["case_id"], i["question"]): i["passed"]
        for i in report["items"]
        if i["error"] is None
    }
    for a, b in pairs:
        for scope in ("memorization", "rephrased", "secondary", "comparison", "generalization"):
            entry = found[a, b, scope]
            keys = {
                k[1:]
                for k in verdicts
                if k[0] == a and (k[1] == scope or scope == "generalization" and k[1] != "memorization")
            }
            shared = [k for k in keys if (b, *k) in verdicts]
            assert entry["n"] == len(shared) and entry["n"] == (
                25 if scope == "comparison" else 150 if scope != "generalization" else 325
            )
            assert entry["a_only"] == sum(verdicts[(a, *k)] and not verdicts[(b, *k)] for k in shared)
            assert entry["b_only"] == sum(verdicts[(b, *k)] and not verdicts[(a, *k)] for k in shared)
            assert entry["difference"] == pytest.approx((entry["b_only"] - entry["a_only"]) / entry["n"], abs=1e-4)
            assert 0 < entry["p_value"] <= 1 and entry["ci"][0] <= entry["difference"] <= entry["ci"][1]
