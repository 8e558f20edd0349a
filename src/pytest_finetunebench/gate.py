"""The CI gate: with thresholds set, the exit status comes from accuracies, not single answers.

``--ftb-fail-under=memorization:0.9,generalization:0.3,rephrased:50%`` applies each
threshold to every tuned model (the final stage; untuned baselines are not gated).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .providers.base import TUNED
from .report import Summary


@dataclass(frozen=True)
class Threshold:
    """A minimum accuracy for ``memorization``, ``generalization`` or one split."""

    scope: str
    minimum: float


def parse_thresholds(spec: str | None, flag: str = "--ftb-fail-under") -> list[Threshold]:
    """Parse ``scope:value`` pairs (value as 0.9 or 90%); a usage error (naming ``flag``) says what is wrong."""
    out = []
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        scope, sep, value = part.strip().partition(":")
        try:
            minimum = float(value[:-1]) / 100 if value.endswith("%") else float(value)
        except ValueError:
            minimum = -1.0
        if not sep or not scope or not 0 <= minimum <= 1:
            raise pytest.UsageError(
                f"{flag}: `{part.strip()}` is not scope:value; fix: e.g. memorization:0.9,generalization:30%"
            )
        out.append(Threshold(scope.strip(), minimum))
    return out


def gated_targets(summary: Summary) -> list[str]:
    """The targets thresholds apply to: tuned models, or the last checkpoint of an epoch sweep."""
    last_epoch: dict[str, tuple[int, str]] = {}
    chosen = []
    for r in summary.records:
        if r.stage == TUNED:
            chosen.append(r.target)
        elif r.stage.startswith("epoch:"):
            n = int(r.stage.split(":", 1)[1])
            if n > last_epoch.get(r.model, (0, ""))[0]:
                last_epoch[r.model] = (n, r.target)
    chosen += [t for _, t in last_epoch.values()]
    return list(dict.fromkeys(chosen))


def check(summary: Summary, thresholds: list[Threshold]) -> list[str]:
    """One line per threshold a target misses (empty when the gate passes)."""
    failures = []
    for target in gated_targets(summary):
        for t in thresholds:
            cell = summary.aggregate(target, t.scope)
            if cell.n == 0:
                failures.append(f"{target}: no graded items for `{t.scope}`")
            elif cell.accuracy < t.minimum:
                failures.append(
                    f"{target}: {t.scope} {cell.accuracy:.3f} ({cell.correct}/{cell.n}) is under {t.minimum:.3f}"
                )
    return failures
