"""Paired comparisons: two targets that answered the same items, tested on those items.

Independent intervals side by side waste the pairing: every target answers the same questions, so
the question is how often one is right where the other is wrong. Per pair and scope (each split,
and the pooled memorization / generalization / retention scores of :mod:`.scores`) this gives the
items both answered (graded, no run error on either), how many only A and only B got right, B's
accuracy minus A's with a 95% interval clustered by linked case, and the p-value that inverts that
interval (:mod:`.intervals`: deterministic, nothing resampled). Per-split p-values are exploratory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..cases.schema import generalizes
from ..grading.outcome import Record
from ..items import BASE, final_stages, scoring_of, split_recipe, stage_label
from . import scores, seeded
from .intervals import PairedCounts

GENERALIZATION = scores.GENERALIZATION
POOLED = scores.POOLED
NO_SHARED = "no shared items"
TITLE = (
    "paired comparisons on the items both targets answered: right only in A / only in B, accuracy B - A "
    "with a 95% interval clustered by linked case (Newcombe's paired score interval) and the p-value that "
    "inverts it (exploratory: no multiple-comparison control; the gate's tests are Holm-adjusted)"
)


def item_key(r: Record) -> tuple[str, str, str, str]:
    """What makes two records the same item whoever answered it."""
    return r.dataset, r.case_id, r.split, r.question


@dataclass(frozen=True)
class Paired:
    """Target A against target B on one scope."""

    a: str
    b: str
    scope: str
    n: int
    a_only: int
    b_only: int
    p_value: float | None  # None: no shared items
    difference: float | None  # accuracy of B minus accuracy of A on the shared items
    ci: tuple[float, float] | None
    counts: PairedCounts | None = None  # None: no shared items
    over_seeds: seeded.SeededDifference | None = None  # several trainings on a side: the seed-aware test
    trainings: int = 1  # the trainings paired (--ftb-seeds)

    def p_drop(self, allowed: float) -> float:
        """One-sided p of "B is at most ``allowed`` below A" by the same test as :attr:`p_value`."""
        if self.over_seeds is not None:
            return self.over_seeds.p_drop(allowed)
        return 1.0 if self.counts is None else self.counts.p_drop(allowed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "scope": self.scope,
            "n": self.n,
            "a_only": self.a_only,
            "b_only": self.b_only,
            "p_value": None if self.p_value is None else float(f"{self.p_value:.6g}"),
            "difference": None if self.difference is None else round(self.difference, 4),
            "ci": None if self.ci is None else [round(self.ci[0], 4), round(self.ci[1], 4)],
            "design_effect": None if self.counts is None else round(self.counts.design_effect, 4),
            **({"trainings": self.trainings} if self.trainings > 1 else {}),
        }

    def row(self) -> list[str]:
        if not self.n:
            return [self.a, self.b, self.scope, "0", "-", "-", NO_SHARED, "-"]
        return [
            self.a,
            self.b,
            self.scope,
            str(self.n),
            str(self.a_only),
            str(self.b_only),
            self.shown_p(),
            self.shown_difference(),
        ]

    def shown_p(self) -> str:
        """The p-value as reports print it (``no shared items`` when there is none)."""
        if self.p_value is None:
            return NO_SHARED
        return f"{self.p_value:.4f}" if self.p_value >= 1e-4 else "<0.0001"

    def shown(self) -> str:
        """B - A with its interval and p, as the tables print it (``no shared items`` without any)."""
        return f"{self.shown_difference()}, p {self.shown_p()}" if self.n else NO_SHARED

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Paired:
        """A comparison as :meth:`as_dict` wrote it (a run's JSON), enough to :meth:`show <shown>` it."""
        fields = ("a", "b", "scope", "n", "a_only", "b_only", "p_value", "difference")
        return cls(*(data[f] for f in fields), None if data["ci"] is None else tuple(data["ci"]))

    def shown_difference(self) -> str:
        """B - A in points with its interval, as reports print it."""
        if self.difference is None or self.ci is None:
            return "-"
        lo, hi = self.ci
        return f"{self.difference * 100:+.1f} pts [{lo * 100:+.1f}, {hi * 100:+.1f}]"


def compare(a: str, b: str, scope: str, a_records: Iterable[Record], b_records: Iterable[Record]) -> Paired:
    """The paired comparison of A's and B's records on ``scope``: the records that count for it
    (:func:`.scores.counted`), matched by :func:`item_key`, graded on both sides.

    With several trainings on a side (``--ftb-seeds``), seed i of A is paired with seed i of B (an
    untuned side with each of them), and the test is :func:`.seeded.difference`'s, whose variance
    includes the seed-to-seed noise.
    """
    mine, theirs = _by_seed(a_records), _by_seed(b_records)
    k = 1 if len(mine) == 1 == len(theirs) else min(x for x in (len(mine), len(theirs)) if x > 1)
    pairs = [(mine[min(s, len(mine) - 1)], theirs[min(s, len(theirs) - 1)]) for s in range(k)]
    shared = [[(x[key], y) for key, y in ys.items() if key in x] for x, ys in pairs]
    n = sum(map(len, shared))
    if not n:
        return Paired(a, b, scope, 0, 0, 0, None, None, None)
    a_only = sum(x.passed and not y.passed for both in shared for x, y in both)
    b_only = sum(y.passed and not x.passed for both in shared for x, y in both)
    clusters: dict[tuple[str, str], list[list[int]]] = {}
    for s, both in enumerate(shared):
        for x, y in both:
            c = clusters.setdefault(x.cluster, [[0, 0, 0, 0] for _ in range(k)])[s]
            c[0], c[1], c[2], c[3] = c[0] + 1, c[1] + x.passed, c[2] + y.passed, c[3] + (x.passed and y.passed)
    pooled = [tuple(sum(c[s][i] for s in range(k)) for i in range(4)) for c in clusters.values()]
    counts = PairedCounts.of(pooled)  # type: ignore[arg-type]
    if k == 1:
        return Paired(a, b, scope, n, a_only, b_only, counts.p_value(), counts.difference, counts.interval(), counts)
    per_training = replace(counts, design_effect=counts.design_effect * k)  # the fallback: one training's worth
    over = seeded.difference([[tuple(c[s][:3]) for s in range(k)] for c in clusters.values()], per_training.interval())  # type: ignore[misc]
    return Paired(a, b, scope, n, a_only, b_only, over.p_value(), over.difference, over.interval(), counts, over, k)


def _by_seed(records: Iterable[Record]) -> list[dict[tuple[str, str, str, str], Record]]:
    """The graded records by :func:`item_key`, one mapping per training in seed order (one when untuned)."""
    out: dict[int | None, dict[tuple[str, str, str, str], Record]] = {}
    for r in records:
        if r.error is None:
            out.setdefault(r.seed, {})[item_key(r)] = r
    return [out[s] for s in sorted(out, key=lambda s: -1 if s is None else s)] or [{}]


def scopes(records: Iterable[Record]) -> list[str]:
    """Each split present, then the pooled figures (generalization when some split generalizes)."""
    splits = list(dict.fromkeys(r.split for r in records))
    pooled = [GENERALIZATION] if any(generalizes(s) for s in splits) else []
    return splits + pooled


def pairs_in_run(records: Sequence[Record]) -> list[tuple[str, str]]:
    """(A, B) pairs of one run: each model's untuned base against it tuned, then every two tuned
    targets in name order (so A and B never depend on the order the items ran in)."""
    finals = sorted(stage_label(m, s) for m, s in final_stages((r.model, r.stage) for r in records).items())
    targets = set(r.target for r in records)
    out = [(base, t) for t in finals if (base := stage_label(split_recipe(_model(records, t))[0], BASE)) in targets]
    out += [(a, b) for i, a in enumerate(finals) for b in finals[i + 1 :]]
    return out


def _model(records: Sequence[Record], target: str) -> str:
    return next(r.model for r in records if r.target == target)


def in_run(records: Sequence[Record], marked: Mapping[str, Mapping[str, str]]) -> list[Paired]:
    """Every pair of :func:`pairs_in_run` on every scope they share (one ``no shared items`` entry if none).

    ``marked``: the splits not measurable per model (:func:`.scores.not_measurable`), left out of
    generalization on both sides.
    """
    generated = [r for r in records if scoring_of(r.stage)[1] == "generate"]
    by_target: dict[str, list[Record]] = {}
    for r in generated:
        by_target.setdefault(r.target, []).append(r)
    out = []
    for a, b in pairs_in_run(generated):
        left_out = scores.left_out_for(marked, by_target[a][0].model) | scores.left_out_for(
            marked, by_target[b][0].model
        )
        found = [
            compare(a, b, s, *(scores.counted(generated, t, s, left_out) for t in (a, b)))
            for s in scopes(by_target[a] + by_target[b])
        ]
        shared = [p for p in found if p.n]
        out += shared or [Paired(a, b, "*", 0, 0, 0, None, None, None)]
    return out


def table(found: Sequence[Paired], pooled_only: bool = False) -> list[list[str]] | None:
    """The comparisons as rows, header first (``None`` when there are none)."""
    rows = [p.row() for p in found if not pooled_only or p.scope in POOLED or not p.n]
    if not rows:
        return None
    return [["A", "B", "scope", "n", "only A", "only B", "p", "B - A [95% CI]"], *rows]
