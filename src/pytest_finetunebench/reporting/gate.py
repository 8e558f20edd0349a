"""The CI gate: with thresholds set, the exit status comes from accuracies, not single answers.

``--ftb-fail-under=memorization:0.9,generalization:0.3,rephrased:50%`` applies each
threshold to every tuned model (the final stage; untuned baselines are not gated).
``retention:0.95`` gates the share of the questions the untuned model got right that the tuned
model still gets right (:mod:`.retention`), not the tuned model's accuracy on the split.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest

from ..items import final_stages, stage_label
from .intervals import holm
from .paired import Paired
from .report import GENERALIZATION, Summary


@dataclass(frozen=True)
class Threshold:
    """A minimum accuracy for ``memorization``, ``generalization`` or one split (for
    ``--ftb-compare-fail``: the largest drop allowed, and with ``alpha`` only a significant one)."""

    scope: str
    minimum: float
    alpha: float | None = None  # SCOPE:DROP@ALPHA: fail only when a one-sided paired test finds the drop
    # larger than allowed at alpha, Holm-adjusted over every such test of the run (significant_drops)


def parse_thresholds(spec: str | None, flag: str = "--ftb-fail-under") -> list[Threshold]:
    """Parse ``scope:value`` pairs (value as 0.9 or 90%); ``--ftb-compare-fail`` also takes
    ``scope:value@alpha``. A usage error (naming ``flag``) says what is wrong."""
    out = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        scope, sep, value = part.strip().partition(":")
        value, at, level = value.partition("@")
        alpha = _alpha(level, part.strip(), flag) if at else None
        try:
            minimum = float(value[:-1]) / 100 if value.endswith("%") else float(value)
        except ValueError:
            minimum = None
        if not sep or not scope or minimum is None:
            raise pytest.UsageError(
                f"{flag}: `{part.strip()}` is not scope:value; fix: e.g. memorization:0.9,generalization:30%"
            )
        if not 0 <= minimum <= 1:
            raise pytest.UsageError(
                f"{flag}: `{part.strip()}`: the value must lie between 0 and 1 (or 0% and 100%); "
                "fix: e.g. memorization:0.9 or generalization:30%"
            )
        out.append(Threshold(scope.strip(), minimum, alpha))
    return out


def unknown_scopes(thresholds: Iterable[Threshold], splits: Iterable[str], flag: str) -> list[str]:
    """One line per threshold whose scope names neither ``generalization`` nor a split collected here
    (a typo would otherwise fail the gate only after every model was tuned and asked)."""
    known = sorted({GENERALIZATION, *splits})
    return [
        f"{flag}: `{t.scope}` names no split here; fix: use one of {', '.join(known)}"
        for t in thresholds
        if t.scope not in known
    ]


def _alpha(level: str, part: str, flag: str) -> float:
    """The significance level of ``scope:drop@alpha`` (``--ftb-compare-fail`` only, 0 < alpha < 1)."""
    if flag != "--ftb-compare-fail":
        raise pytest.UsageError(
            f"{flag}: `{part}`: a significance level (@alpha) is for --ftb-compare-fail only; fix: write scope:value"
        )
    try:
        alpha = float(level)
    except ValueError:
        alpha = -1.0
    if not 0 < alpha < 1:
        raise pytest.UsageError(
            f"{flag}: `{part}`: the significance level after @ must lie between 0 and 1; "
            "fix: e.g. generalization:5%@0.05"
        )
    return alpha


def gated_targets(targets: Iterable[tuple[str, str]]) -> list[str]:
    """The targets thresholds apply to, from (model, stage) pairs: tuned, or an epoch sweep's last."""
    return [stage_label(model, stage) for model, stage in final_stages(targets).items()]


def check(summary: Summary, thresholds: list[Threshold], targets: list[str]) -> list[str]:
    """One line per threshold a gated target misses (empty when the gate passes).

    ``targets`` come from what was selected, not from what was graded: a model whose items were
    all skipped or errored is still gated (and fails for having no graded items).
    """
    failures = []
    for target in targets:
        for t in thresholds:
            cell = summary.aggregate(target, t.scope)
            if cell.n == 0:
                failures.append(f"{target}: no graded items for `{t.scope}`")
            elif cell.accuracy < t.minimum:
                counts = f"{cell.correct}/{cell.n}" + (
                    f" over {len(cell.seeds.per_seed)} trainings: their mean decides" if cell.seeds else ""
                )
                failures.append(f"{target}: {t.scope} {cell.accuracy:.3f} ({counts}) is under {t.minimum:.3f}")
    return failures


def significant_drops(tests: Sequence[tuple[str, Threshold, Paired]]) -> list[str]:
    """``--ftb-compare-fail=scope:drop@alpha``: one line per (target, threshold, paired comparison of the
    two runs) whose drop is significantly larger than allowed.

    The null hypothesis is that the true drop is at most the allowance (B - A >= -drop); it is tested
    one-sided by inverting the clustered paired interval (:meth:`.intervals.PairedCounts.p_drop`), and
    the tests of every target and scope together are Holm-adjusted, so the chance that the gate fails a
    run whose drops are all within bounds is at most alpha.
    """
    ps = [p.p_drop(t.minimum) for _, t, p in tests]
    rejected = holm(ps, [t.alpha or 0.0 for _, t, _ in tests])
    return [
        f"{target}: {t.scope} dropped {-(p.difference or 0) * 100:.1f} points on the {p.n} items both runs"
        f" answered ({p.a_only} right only then, {p.b_only} only now), more than the {t.minimum * 100:.1f}"
        f" allowed: one-sided p {_shown(pv)} (Holm over {len(tests)} test(s)"
        + (f"; {p.trainings} trainings a side, training variance included" if p.trainings > 1 else "")
        + f") < {t.alpha:g}"
        for (target, t, p), pv, no in zip(tests, ps, rejected)
        if no
    ]


def _shown(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else "<0.0001"


def verdict(failures: list[str], run_errors: int) -> tuple[str, list[str]]:
    """A gate's verdict word and lines: one per miss, then the run errors that fail the run anyway."""
    lines = list(failures)
    if run_errors:
        lines.append(
            f"but {run_errors} run error(s) (failed jobs, API errors, invalid case files): the exit status stays failed"
        )
    return ("FAILED" if failures else "passed"), lines


def verdict_markdown(title: str, failures: list[str] | None, run_errors: int) -> list[str]:
    """A gate's verdict for the Markdown summary (nothing when the gate was not set)."""
    if failures is None:
        return []
    word, lines = verdict(failures, run_errors)
    return [f"**{title}: {word}**", "", *(f"- {line}" for line in lines), ""]
