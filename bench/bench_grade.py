"""Grading speed: 10,000 long, unique answers through the auto matcher, each with its own question (CPU seconds).

Run: python bench/bench_grade.py [--quick]. Prints a Markdown row (--quick: 500 answers, CI's check that it runs).
"""

from __future__ import annotations

import sys
import time

from pytest_finetunebench.grading.grade import grade
from pytest_finetunebench.grading.normalize import analyze

GOLDS = [
    "185",
    "150 million dollars",
    "Velmora",
    "Yes",
    "None",
    "Start metformin and advise lifestyle changes including diet and exercise",
]


def main(n: int = 10_000) -> None:
    analyze.cache_clear()
    answers = [
        f"The answer is {i} cm, about {i % 97} million dollars, in Velmora{i} on September {i % 28 + 1}, 2024. Yes."
        for i in range(n)
    ]
    questions = [
        f"Answer briefly. What did report {i} of September {i % 28 + 1}, 2024 say about 3 sites?" for i in range(n)
    ]
    start = time.process_time()
    for i, answer in enumerate(answers):
        grade(GOLDS[i % len(GOLDS)], answer, question=questions[i])
    cpu = time.process_time() - start
    print("| what | answers | CPU s | answers/s |\n|---|---|---|---|")
    print(f"| auto grading, unique answers and questions | {n} | {cpu:.2f} | {n / cpu:,.0f} |")


if __name__ == "__main__":
    main(500 if "--quick" in sys.argv[1:] else 10_000)
