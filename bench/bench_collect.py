"""Collection speed: 10,000 case variants vs pytest collecting 10,000 trivial parametrized tests.

Run: python bench/bench_collect.py [N | --quick]. Prints a Markdown row; the goal is a ratio <= 1.5x.
Each side is collected in a fresh `pytest --collect-only -q` subprocess, best of 3.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def write_cases(root: Path, n_variants: int) -> None:
    """One dataset of n_variants items: cases with a training pair and four variants each."""
    cases = []
    for i in range(n_variants // 5):
        cases.append(
            {
                "id": f"person-{i}",
                "question": f"How tall is person {i}?",
                "answer": str(150 + i % 50),
                "variants": [
                    {"split": s, "question": f"{s} question about person {i}?", "answer": str(150 + i % 50)}
                    for s in ("rephrased", "secondary", "comparison", "date_changed")
                ],
            }
        )
    (root / "cases").mkdir()
    (root / "cases" / "synthetic.yaml").write_text(yaml.safe_dump({"dataset": "synthetic", "cases": cases}))


def write_param(root: Path, n: int) -> None:
    (root / "test_param.py").write_text(
        f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_trivial(i):\n    assert i >= 0\n"
    )


def collect_seconds(root: Path, target: str) -> tuple[float, str]:
    best, last = float("inf"), ""
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                target,
            ],
            cwd=root,
            capture_output=True,
            text=True,
        )
        best = min(best, time.perf_counter() - start)
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    return best, last


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else "10000"
    n = 300 if arg == "--quick" else int(arg)  # --quick: CI's check that it runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        write_cases(root, n)
        write_param(root, n)
        cases_s, cases_line = collect_seconds(root, "cases")
        param_s, param_line = collect_seconds(root, "test_param.py")
    print("| what | items | collect (s, best of 3) |")
    print("|---|---|---|")
    print(f"| case variants (`pytest --collect-only cases`) | {cases_line} | {cases_s:.2f} |")
    print(f"| trivial parametrized tests | {param_line} | {param_s:.2f} |")
    print(f"| **ratio** | | **{cases_s / param_s:.2f}x** (goal <= 1.5x) |")


if __name__ == "__main__":
    main()
