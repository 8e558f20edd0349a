"""Saved runs and comparisons between them (like pytest-benchmark's autosave and compare).

Every run with results is saved as ``<store>/runs/NNNN_<UTC timestamp>.json`` (numbered from
0001): what ran (models, providers, datasets with the sha256 of their case files,
hyperparameters, options, plugin version, git commit) and what came out (every item, the cells,
the leaderboard, the gate's verdict). ``--ftb-compare`` prints, per target x dataset x split,
the accuracy then -> now and the change in points; ``--ftb-compare-fail`` turns drops larger
than allowed into a failed exit status (``scope:drop@alpha``: only drops that a one-sided paired
test on the items both runs answered finds larger than allowed, Holm-adjusted over every test).
Both runs' items are also compared paired, per target, on the pooled scopes (:mod:`.paired`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from .. import __version__
from ..cases.schema import MEMORIZATION
from ..grading.outcome import Record
from ..run.tune import settings_from
from ..store.jobstore import JobStore
from . import paired, scores
from .gate import Threshold, significant_drops
from .report import GENERALIZATION, Summary
from .text import aligned, markdown_rows

FORMAT = "pytest-finetunebench/run"
FORMAT_VERSION = 1
RUNS = "runs"
PREVIOUS = "previous"  # --ftb-compare without a value
NAME = re.compile(r"^(\d{4,})_.*\.json$")
# options that change what a run measures (the rest only change how it is reported)
# fmt: off
MEASURING = ("epochs", "learning_rate", "batch_size", "seed", "max_new_tokens", "temperature",
             "baseline", "in_context", "split", "dataset", "limit", "responses")
# fmt: on


# --- what a run is ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_info(root: Path) -> dict[str, Any] | None:
    """The checkout's commit and whether tracked files differ from it; ``None`` outside git."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def run_data(
    summary: Summary,
    opts: Mapping[str, Any],
    *,
    providers: Mapping[str, str],
    case_files: Mapping[str, Path],
    rootdir: Path,
) -> dict[str, Any]:
    """Everything worth keeping about a finished run (its number is set when it is saved)."""
    names = list(dict.fromkeys(r.dataset for r in summary.records))
    datasets = {}
    for name in names:
        path = case_files.get(name)
        datasets[name] = {
            "path": relative(path, rootdir) if path else None,
            "sha256": sha256_file(path) if path else None,
        }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "number": None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "plugin_version": __version__,
        "python": platform.python_version(),
        "pytest": pytest.__version__,
        "git": git_info(rootdir),
        "models": list(dict.fromkeys(r.model for r in summary.records)),
        "providers": dict(providers),
        "datasets": datasets,
        "hyperparameters": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings_from(opts)).items()
        },
        "options": {k: opts.get(k) for k in MEASURING},
        "tuned_elsewhere": tuned_elsewhere(opts, list(dict.fromkeys(r.model for r in summary.records))),
        **summary.to_json(),
    }


def tuned_elsewhere(opts: Mapping[str, Any], models: list[str]) -> dict[str, Any] | None:
    """An answer-only run's models, what they trained on as declared, their untuned model (else ``None``)."""
    declared = opts.get("tuned_elsewhere")
    if not declared:
        return None
    return {"models": models, "trained_on": declared, "base_model": opts.get("base_model") or None}


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies below it, else as it is."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# --- saved runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedRun:
    """A run read back from its JSON file."""

    path: Path
    data: dict[str, Any]

    @property
    def label(self) -> str:
        details = [self.data.get("created") or "?"]
        git = self.data.get("git") or {}
        if git.get("commit"):
            details.append(f"commit {git['commit'][:10]}{' (dirty)' if git.get('dirty') else ''}")
        return f"{self.name} ({', '.join(details)})"

    @property
    def name(self) -> str:
        """``run 0007`` (or the file's path when it has no number)."""
        number = self.data.get("number")
        return f"run {number:04d}" if isinstance(number, int) else str(self.path)

    @classmethod
    def read(cls, path: Path) -> SavedRun:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise pytest.UsageError(f"--ftb-compare: cannot read {path} ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise pytest.UsageError(f'--ftb-compare: {path} is not a saved finetunebench run (no "format": "{FORMAT}")')
        return cls(path, data)


class History:
    """The saved runs under ``<store>/runs``."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    @property
    def folder(self) -> Path:
        return self.store.root / RUNS

    def numbered(self) -> list[tuple[int, Path]]:
        """Saved runs by number, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := NAME.match(p.name))]
        return sorted(found)

    def resolve(self, spec: str, invocation_dir: Path) -> SavedRun | None:
        """The run ``--ftb-compare`` names: ``previous`` (``None`` if there is none), a number or a path."""
        runs = self.numbered()
        if spec == PREVIOUS:
            return SavedRun.read(runs[-1][1]) if runs else None
        if spec.isdigit():
            for number, path in runs:
                if number == int(spec):
                    return SavedRun.read(path)
            have = ", ".join(str(n) for n, _ in runs[-5:]) or "none"
            raise pytest.UsageError(
                f"--ftb-compare={spec}: no saved run {int(spec):04d} in {self.folder} (latest: {have})"
            )
        path = Path(spec) if Path(spec).is_absolute() else invocation_dir / spec
        if not path.is_file():
            raise pytest.UsageError(f"--ftb-compare={spec}: not a run number nor a saved-run JSON file")
        return SavedRun.read(path)

    def save(self, data: dict[str, Any]) -> Path:
        """Save ``data`` as the next numbered run (its ``number`` is filled in); returns the file."""
        with self.store.lock(RUNS):
            runs = self.numbered()
            number = runs[-1][0] + 1 if runs else 1
            data["number"] = number
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            return self.store.write_json(data, RUNS, f"{number:04d}_{stamp}")


# --- comparing two runs ------------------------------------------------------------------------

Counts = tuple[int, int]  # (n graded, correct)


def _acc(c: Counts | None) -> float | None:
    return c[1] / c[0] if c and c[0] else None


def _cells(data: Mapping[str, Any]) -> dict[tuple[str, str, str], Counts]:
    return {(c["target"], c["dataset"], c["split"]): (int(c["n"]), int(c["correct"])) for c in data.get("cells", [])}


@dataclass(frozen=True)
class Delta:
    """One row of a comparison: a cell (or an aggregate, dataset ``*``) then and now."""

    target: str
    dataset: str
    split: str
    then: Counts | None
    now: Counts | None

    @property
    def change(self) -> float | None:
        """The change in accuracy, as a fraction (-0.05 is a drop of 5 points)."""
        a, b = _acc(self.then), _acc(self.now)
        return None if a is None or b is None else b - a

    def row(self) -> list[str]:
        change = self.change
        return [
            self.target,
            self.dataset,
            self.split,
            _show(self.then),
            _show(self.now),
            "-" if change is None else f"{change * 100:+.1f}",
        ]


def _show(c: Counts | None) -> str:
    return "-" if not c or not c[0] else f"{c[1] / c[0]:.3f} ({c[1]}/{c[0]})"


class Comparison:
    """This run against a saved one."""

    def __init__(self, reference: SavedRun, current: Mapping[str, Any]) -> None:
        self.reference, self.current = reference, current
        self.then, self.now = _cells(reference.data), _cells(current)

    def warnings(self) -> list[str]:
        """What makes the two runs measure different things."""
        out = []
        then_ds, now_ds = self.reference.data.get("datasets") or {}, self.current.get("datasets") or {}
        for name in sorted(then_ds.keys() | now_ds.keys()):
            if name not in then_ds:
                out.append(f"dataset `{name}` is new in this run: no deltas for it")
            elif name not in now_ds:
                out.append(f"dataset `{name}` was in the compared run but not in this one")
            else:
                a, b = then_ds[name].get("sha256"), now_ds[name].get("sha256")
                if a != b:
                    out.append(
                        f"dataset `{name}` changed (sha256 {str(a)[:12]} -> {str(b)[:12]}): its deltas compare "
                        "different cases"
                    )
        then_hp, now_hp = self.reference.data.get("hyperparameters") or {}, self.current.get("hyperparameters") or {}
        changed = [
            f"{k} {then_hp.get(k)} -> {now_hp.get(k)}"
            for k in sorted(then_hp.keys() | now_hp.keys())
            if then_hp.get(k) != now_hp.get(k)
        ]
        if changed:
            out.append("hyperparameters differ: " + ", ".join(changed))
        return out

    def deltas(self) -> list[Delta]:
        """One row per target x dataset x split in either run (this run's order, then the old-only ones)."""
        keys = list(self.now) + [k for k in self.then if k not in self.now]
        return [Delta(*k, self.then.get(k), self.now.get(k)) for k in keys]

    def aggregate(self, target: str, scope: str) -> Delta:
        """A target's memorization, generalization or split, over the datasets both runs have for it."""
        common = {d for t, d, _ in self.then if t == target} & {d for t, d, _ in self.now if t == target}
        left_out = scores.saved_left_out((self.reference.data, self.current), target)
        then, now = (
            scores.saved_counts(d, target, scope, common, left_out) for d in (self.reference.data, self.current)
        )
        return Delta(target, "*", scope, then, now)

    def aggregates(self) -> list[Delta]:
        targets = list(dict.fromkeys(t for t, _, _ in self.now))
        return [
            self.aggregate(t, s)
            for t in targets
            if any(k[0] == t for k in self.then)
            for s in (MEMORIZATION, GENERALIZATION)
        ]

    def paired(self, scopes: Iterable[str] = paired.POOLED) -> list[paired.Paired]:
        """Per target both runs have: the compared run (A) against this one (B) on the same items."""
        then = [Record.from_item(i) for i in self.reference.data.get("items", [])]
        now = [Record.from_item(i) for i in self.current.get("items", [])]
        out = []
        for target in dict.fromkeys(r.target for r in now):
            left_out = scores.saved_left_out((self.reference.data, self.current), target)
            found = (
                [
                    paired.compare(
                        f"{target} ({self.reference.name})",
                        target,
                        s,
                        scores.counted(then, target, s, left_out),
                        scores.counted(now, target, s, left_out),
                    )
                    for s in scopes
                ]
                if any(r.target == target for r in then)
                else []
            )
            out += [p for p in found if p.n]
        return out

    def check(self, thresholds: list[Threshold], targets: Iterable[str]) -> list[str]:
        """One line per allowed drop a target exceeds (empty when every drop is within bounds).

        ``scope:drop@alpha`` thresholds are tested together (:func:`.gate.significant_drops`: one-sided,
        Holm over every target and scope)."""
        failures, tests = [], []
        for target in targets:
            if not any(k[0] == target for k in self.then):
                continue  # new since the compared run: nothing to regress from
            for t in thresholds:
                if t.alpha is not None:
                    found = [p for p in self.paired([t.scope]) if p.b == target]
                    if found:
                        tests.append((target, t, found[0]))
                    else:
                        failures.append(f"{target}: no `{t.scope}` items both runs answered to compare")
                    continue
                d = self.aggregate(target, t.scope)
                if d.change is None:
                    failures.append(f"{target}: no graded `{t.scope}` items in both runs to compare")
                elif -d.change > t.minimum + 1e-9:
                    failures.append(
                        f"{target}: {t.scope} dropped {-d.change * 100:.1f} points ({_show(d.then)} -> {_show(d.now)}),"
                        f" more than the {t.minimum * 100:.1f} allowed"
                    )
        return failures + significant_drops(tests)

    def table(self) -> list[list[str]]:
        rows = [["model", "dataset", "split", "then", "now", "delta (points)"]]
        return rows + [d.row() for d in self.deltas()] + [d.row() for d in self.aggregates()]

    def terminal_lines(self) -> list[str]:
        compared = paired.table(self.paired())
        return (
            [f"warning: {w}" for w in self.warnings()]
            + aligned(self.table())
            + (["", paired.TITLE, *aligned(compared)] if compared else [])
        )

    def markdown_lines(self) -> list[str]:
        lines = [f"### Compared with {self.reference.label}", ""]
        lines += [f"> **warning:** {w}" for w in self.warnings()]
        compared = paired.table(self.paired())
        return (
            lines
            + ([""] if self.warnings() else [])
            + markdown_rows(self.table())
            + (["", paired.TITLE, "", *markdown_rows(compared)] if compared else [])
        )


def append_step_summary(markdown: str) -> list[str]:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when it is set; notes on what went wrong, if anything."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return []
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    except OSError as exc:
        return [f"could not append to $GITHUB_STEP_SUMMARY ({exc})"]
    return []
