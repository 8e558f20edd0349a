"""The grader against answers we labelled by hand.

``tests/calibration/fictional_people_labels.csv`` holds our own verdicts on 443 published answers
of the paper's five fine-tuned models (every model, every split, hard answers oversampled),
keyed by split, upstream row, upstream id and model; it holds no upstream text. The answers
are read from ``../shared`` at test time. ``tests/calibration/local_answers.csv`` holds 234
answers of the embedded model (all 174 of the tuned model on the default suite, and 60 of the
untuned one, most of them sentences with numbers) saved from a real ``--ftb-baseline`` run,
with our verdict on each: our own cases and our own model's text. Labels were written from question, gold and answer
before the grader's
verdict was looked at. ``tests/calibration/retention_answers.csv`` holds 414 answers to the retention
questions (our own bank) in the forms small and large models give them: right and wrong, near
misses, both-unit temperatures, formulas, transliterations, both square roots, derived numbers,
the wrong person of a shared surname, hedges and sentences, labelled by a careful reader before
the grader was changed (issue 42). Its ``part`` column holds out a third of the questions
(crc32 of the question mod 3): the grading rules were written from the ``rules`` part only.

Goals: agreement >= 0.98 overall, and every model x split cell's accuracy within 0.03 of the
labelled accuracy.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from pytest_finetunebench.suites import suite_dir

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.cases.schema import MEMORIZATION
from pytest_finetunebench.cases.upstream import command as upstream
from pytest_finetunebench.grading.grade import grade

HERE = Path(__file__).parent / "calibration"
FILES = {MEMORIZATION: "original", "rephrased": "rephrased", "secondary": "secondary", "comparison": "comparison"}
AGREEMENT_GOAL = 0.98
CELL_GOAL = 0.03


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def check(graded: list[tuple[str, str, bool, bool]], title: str) -> None:
    """Print agreement and per-cell accuracy errors; assert the goals. ``graded``: (model, split, label, grader)."""
    cells: dict[tuple[str, str], list[tuple[bool, bool]]] = defaultdict(list)
    for model, split, label, verdict in graded:
        cells[model, split].append((label, verdict))
    agree = sum(label == verdict for *_, label, verdict in graded) / len(graded)
    lines = [
        f"{title}: {len(graded)} labelled answers, agreement {agree:.3f}",
        f"{'model':24} {'split':13} {'n':>4} {'labels':>7} {'grader':>7} {'error':>7}",
    ]
    worst = 0.0
    for (model, split), pairs in sorted(cells.items()):
        labelled = sum(label for label, _ in pairs) / len(pairs)
        graded_acc = sum(verdict for _, verdict in pairs) / len(pairs)
        worst = max(worst, abs(graded_acc - labelled))
        lines.append(
            f"{model:24} {split:13} {len(pairs):>4} {labelled:>7.3f} {graded_acc:>7.3f} {graded_acc - labelled:>+7.3f}"
        )
    print("\n".join(lines))
    disagreements = [(m, s, lab, v) for m, s, lab, v in graded if lab != v]
    assert agree >= AGREEMENT_GOAL, disagreements
    assert worst <= CELL_GOAL, disagreements


def test_the_grader_agrees_with_our_labels_on_published_answers(clone: Path, tmp_path: Path) -> None:
    assert upstream.main([str(clone), "--out", str(tmp_path), "--datasets", "fictional_people"]) == 0
    dataset = load_dataset(tmp_path / "fictional_people.yaml")
    by_prompt = {(v.split, v.prompt): v for case in dataset.cases for v in case.variants}
    responses = clone / "model_responses" / "fictional_people"
    rows = {split: _read(responses / f"fictional_people_{name}_w_responses.csv") for split, name in FILES.items()}
    graded = []
    for label in _read(HERE / "fictional_people_labels.csv"):
        row = rows[label["split"]][int(label["row"]) - 1]
        assert row["id"] == label["id"], (
            f"row {label['row']} of {label['split']} is not {label['id']}: another upstream file?"
        )
        variant = by_prompt.get((label["split"], row["prompt"]))
        # the comparison responses file is an older version: its rows need not all be imported cases
        gold, matcher, prompt = (
            (variant.answer, variant.matcher, variant.prompt) if variant else (row["answer"], "auto", row["prompt"])
        )
        verdict = grade(gold, row[f"{label['model']}_response"], matcher, question=prompt)
        graded.append((label["model"], label["split"], label["label"] == "correct", verdict.passed))
    assert len(graded) >= 400
    check(graded, "published answers (fictional_people)")


def test_the_grader_agrees_with_our_labels_on_the_embedded_models_answers() -> None:
    """234 answers of SmolLM2-135M (tuned and untuned) on the default suite, saved from a real run."""
    root = suite_dir("default")
    variants = {}
    for path in sorted(root.glob("*.yaml")):
        dataset = load_dataset(path)
        for case in dataset.cases:
            for v in case.variants:
                variants[dataset.name, case.id, v.split, v.question] = v
    graded = []
    for row in _read(HERE / "local_answers.csv"):
        v = variants[row["dataset"], row["case_id"], row["split"], row["question"]]
        assert v.answer == row["expected"], f"{row['case_id']}: the default suite changed since the labels were made"
        verdict = grade(v.answer, row["answer"], v.matcher, question=v.prompt)
        graded.append((f"{row['model']}@{row['stage']}", row["split"], row["label"] == "correct", verdict.passed))
    assert len(graded) >= 150
    check(graded, "embedded model answers (the default suite)")


def test_the_grader_agrees_with_our_labels_on_retention_answers() -> None:
    """414 answers to retention questions; the gold is the full suite's, found by the question."""
    full = HERE.parent.parent / "cases" / "full" / "retention.yaml"  # this checkout's, not an installed copy's
    golds = {v.question: v for case in load_dataset(full).cases for v in case.variants}
    graded = []
    for row in _read(HERE / "retention_answers.csv"):
        v = golds[row["question"]]
        verdict = grade(v.answer, row["answer"], v.matcher, question=v.prompt)
        graded.append(("retention", row["part"], row["label"] == "correct", verdict.passed))
    assert len(graded) >= 150
    held_out = [label == verdict for _, part, label, verdict in graded if part == "heldout"]
    print(f"held-out agreement {sum(held_out) / len(held_out):.3f} on {len(held_out)} answers")
    assert sum(held_out) / len(held_out) >= AGREEMENT_GOAL
    check(graded, "retention answers (the full suite's bank)")
