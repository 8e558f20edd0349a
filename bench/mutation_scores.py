"""Per-module mutation scores from the last `mutmut run` (run by `make mutate`).

Reads `mutmut results --all true` and prints a Markdown table: per module, mutants, how many were
checked, killed (timeouts count as killed: the mutant hung the tests), survived (including those no
test covers), and the score of all mutants and of the checked ones (an interrupted run leaves some
unchecked). Exit status 1 when a module is under the goal (90% of all killed).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict

GOAL = 0.90
KILLED = {"killed", "timeout"}


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = re.split(r"\.x[_\u01c1]", name)[0].removeprefix("pytest_finetunebench.")
        counts[module][status] += 1
    print(
        "| module | mutants | checked | killed | survived | score (of all) | score (of checked) "
        "|\n|---|---|---|---|---|---|---|"
    )
    short = False
    for module, c in sorted(counts.items()):
        total = sum(c.values())
        killed = sum(c[s] for s in KILLED)
        checked = killed + c["survived"] + c["no tests"]  # "no tests": no test covers the mutated code
        score = killed / total if total else 1.0
        short |= score < GOAL
        print(
            f"| {module} | {total} | {checked} | {killed} | {checked - killed} | {score:.1%} |"
            f" {killed / checked if checked else 0:.1%} |"
        )
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
