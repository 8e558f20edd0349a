"""Measure the remedies on the embedded model: the same SmolLM2-135M tuned with several recipes, side by side.

    python bench/bench_recipes.py [--limit 6] [--recipes qa,paraphrase:4,qa+document] [--seeds K] [--out FILE] [--quick]

Runs the default suite shrunk to the first ``--limit`` cases of each dataset (6: 18 training
facts, so three recipes tune within the 12-minute budget on 2 CPU cores; paraphrase:4 trains on
five times as many pairs as qa) with a fresh job store, once per session, and prints one Markdown
table: per recipe, memorization and each generalization split (right/asked, summed over the
trainings), the pooled generalization with its 95% interval (clustered by linked case; with
``--seeds`` K >= 2 the mean over K trainings, their SD and the seed-aware interval), the change
against qa by the run's own paired test (seed-aware with K >= 2) and the wall time of the run.
What it shows is measured, whatever it shows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_finetunebench.reporting.paired import Paired
from pytest_finetunebench.run.recipes import labelled, parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=6, help="cases per dataset (default 6)")
    parser.add_argument("--recipes", default="qa,paraphrase:4,qa+document")
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the provider's)")
    parser.add_argument("--seeds", type=int, default=1, help="trainings per recipe, seeds 0..K-1 (default 1)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI's check that it runs: 1 case per dataset, qa and qa+document, 2 seeds, 1 epoch",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.limit, args.recipes, args.seeds, args.epochs = 1, "qa,qa+document", 2, 1
    epochs = [f"--ftb-epochs={args.epochs}"] if args.epochs else []
    with tempfile.TemporaryDirectory(prefix="ftb-recipes-") as tmp:
        report = Path(tmp) / "report.json"
        start = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--ftb-suite=default",
                f"--ftb-limit={args.limit}",
                f"--ftb-recipe={args.recipes}",
                f"--ftb-seeds={args.seeds}",
                f"--ftb-store={tmp}/store",
                f"--ftb-report={report}",
                "--ftb-no-save",
                *epochs,
                "-p",
                "no:xdist",
                "-p",
                "no:randomly",
                "-q",
                "--tb=no",
                "-rN",
            ],
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - start
        if not report.exists():
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
            return 1
        data = json.loads(report.read_text())
    splits: dict[tuple[str, str], list[int]] = {}
    for cell in data["cells"]:
        n_ok = splits.setdefault((cell["target"], cell["split"]), [0, 0])
        n_ok[0] += cell["n"]
        n_ok[1] += cell["correct"]
    names = sorted({s for _, s in splits}, key=lambda s: (s != "memorization", s))
    head = ["recipe", *names, "generalization (pooled)", "vs qa, paired (generalization)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in data["recipes"]:
        target = labelled(row["model"], parse(row["recipe"]))
        gen = row["generalization"]
        cells = [f"{splits[(target, s)][1]}/{splits[(target, s)][0]}" if (target, s) in splits else "-" for s in names]
        sd = f", seed SD {gen['seeds']['seed_sd']:.3f}" if "seeds" in gen else ""
        pooled = f"{gen['accuracy']:.3f} [{gen['ci95'][0]:.2f}, {gen['ci95'][1]:.2f}]{sd}"
        vs_qa = "-" if row["paired_vs_qa"] is None else Paired.from_dict(row["paired_vs_qa"]).shown()
        lines.append(f"| {row['recipe']} | " + " | ".join(cells) + f" | {pooled} | {vs_qa} |")
    trainings = f"{args.seeds} trainings per recipe (seeds 0..{args.seeds - 1})" if args.seeds > 1 else "one training"
    lines.append(
        f"\n{len(data['items'])} items, {args.limit} cases per dataset of the default suite, recipes {args.recipes}; "
        f"{trainings}, {wall:.0f} s wall time."
    )
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
