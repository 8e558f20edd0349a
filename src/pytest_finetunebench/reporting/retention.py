"""What tuning cost: the retention split and forgetting by likelihood.

Retention is measured on the questions the untuned model answered right: the share the tuned model
still answers right, with its Wilson interval (each question is its own case, so nothing is
clustered). Base and tuned accuracy on the whole split sit beside it. ``Δ NLL`` is the change in
a local model's mean per-token negative log-likelihood of a general text (``suites/forgetting.txt``)
from the untuned to the tuned model: above 0, the tuned model finds ordinary prose less likely.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..cases.schema import RETENTION
from ..grading.outcome import Record
from ..items import BASE, IN_CONTEXT, scoring_of, split_recipe, stage_label
from . import seeded
from .seeded import t_quantile
from .stats import Cell

TITLE = (
    "retention (questions never trained on): of those the untuned model answered right, "
    "the share the tuned model still answers right; Δ NLL: change in the mean NLL of a general text"
)


def base_target(model: str) -> str:
    """The untuned target a (recipe's) model's retention is counted against."""
    return stage_label(split_recipe(model)[0], BASE)


def _key(r: Record) -> tuple[str, str, str]:
    return r.dataset, r.case_id, r.question


def tuned_targets(records: Iterable[Record]) -> list[str]:
    """Targets that were tuned and asked the retention split, in the order they appear."""
    return list(
        dict.fromkeys(
            r.target for r in records if r.split == RETENTION and scoring_of(r.stage)[0] not in (BASE, IN_CONTEXT)
        )
    )


def pairs(records: Sequence[Record], target: str) -> list[tuple[Record, Record]]:
    """(untuned, tuned) records of the retention questions both graded (no run error on either)."""
    mine = [r for r in records if r.split == RETENTION and r.error is None]
    model = next((r.model for r in mine if r.target == target), None)
    if model is None:
        return []
    before = {_key(r): r for r in mine if r.target == base_target(model)}
    return [(before[_key(r)], r) for r in mine if r.target == target and _key(r) in before]


def cell(records: Sequence[Record], target: str) -> Cell:
    """Retention of ``target``: n = questions the untuned model got right, correct = still right."""
    return _kept(target, pairs(records, target))


def _kept(target: str, both: Sequence[tuple[Record, Record]]) -> Cell:
    known = [t for b, t in both if b.passed]
    several = len({t.seed for t in known}) > 1  # K >= 2 trainings: their mean, a seed-aware interval
    estimate = seeded.proportion([(t.seed or 0, t.question, t.passed) for t in known]) if several else None
    return Cell(target, "*", RETENTION, len(known), sum(t.passed for t in known), seeds=estimate)


def forgotten(records: Sequence[Record], target: str) -> list[tuple[Record, Record]]:
    """The (untuned, tuned) records that were right before tuning and wrong after."""
    return [(b, t) for b, t in pairs(records, target) if b.passed and not t.passed]


@dataclass(frozen=True)
class Row:
    """One tuned target's retention: accuracy before and after, what it kept, its Δ NLL."""

    target: str
    base: Cell
    tuned: Cell
    retained: Cell
    nll_base: float | None
    nll_tuned: float | None  # over several trainings: their mean
    nll_seeds: tuple[float, ...] = ()  # each training's NLL (--ftb-seeds above 1)

    @property
    def delta_nll(self) -> float | None:
        return None if self.nll_base is None or self.nll_tuned is None else self.nll_tuned - self.nll_base

    @property
    def delta_nll_ci(self) -> tuple[float, float] | None:
        """95% interval of Δ NLL over the trainings (Student's t on K - 1 df; the text is the same for
        every training, so this is training variance); ``None`` with one training."""
        k, delta = len(self.nll_seeds), self.delta_nll
        if k < 2 or delta is None:
            return None
        sd = math.sqrt(sum((x - self.nll_tuned) ** 2 for x in self.nll_seeds) / (k - 1))  # type: ignore[operator]
        half = t_quantile(0.975, k - 1) * sd / math.sqrt(k)
        return delta - half, delta + half

    def as_dict(self) -> dict[str, Any]:
        delta = self.delta_nll
        return {
            "target": self.target,
            "base": self.base.as_dict(),
            "tuned": self.tuned.as_dict(),
            "retained": self.retained.as_dict(),
            "nll_base": _round(self.nll_base),
            "nll_tuned": _round(self.nll_tuned),
            "delta_nll": _round(delta),
            **(
                {"nll_seeds": [_round(x) for x in self.nll_seeds], "delta_nll_ci": [_round(x) for x in ci]}
                if (ci := self.delta_nll_ci)
                else {}
            ),
        }


def _mean(values: Iterable[float]) -> float | None:
    """The mean NLL over a target's trainings (``None`` without any)."""
    found = list(values)
    return sum(found) / len(found) if found else None


def _delta(row: Row) -> str:
    """Δ NLL as the table shows it, with its interval over the trainings when there are several."""
    if row.delta_nll is None:
        return "-"
    ci = row.delta_nll_ci
    return f"{row.delta_nll:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def rows(records: Sequence[Record]) -> list[Row]:
    """One row per tuned target that was asked the retention split (on the questions both stages graded)."""
    out = []
    for target in tuned_targets(records):
        both = pairs(records, target)
        base, tuned = [b for b, _ in both], [t for _, t in both]
        label = base[0].target if base else "-"
        per_seed = {t.seed: t.nll for t in sorted(tuned, key=lambda t: t.seed or 0) if t.nll is not None}
        out.append(
            Row(
                target,
                Cell(label, "*", RETENTION, len(base), sum(b.passed for b in base)),
                Cell(target, "*", RETENTION, len(tuned), sum(t.passed for t in tuned)),
                _kept(target, both),
                next((b.nll for b in base if b.nll is not None), None),
                _mean(per_seed.values()),
                tuple(per_seed.values()) if len(per_seed) > 1 else (),
            )
        )
    return out


def notes(records: Sequence[Record]) -> list[str]:
    """One line per tuned target asked the retention split with no untuned answers to count it against."""
    return [
        f"{row.target}: retention not measured: no untuned answers to count it against"
        " (its provider has no untuned model, e.g. published answers)"
        for row in rows(records)
        if not row.base.n
    ]


def table(records: Sequence[Record]) -> list[list[str]] | None:
    """:func:`rows` as a table (``None`` without the retention split)."""
    found = rows(records)
    if not found:
        return None
    head = [["model", "n", "base", "tuned", "retained", "95% CI", "forgotten", "NLL base -> tuned", "Δ NLL"]]
    body = []
    for row in found:
        lo, hi = row.retained.interval
        nll = "-" if row.delta_nll is None else f"{row.nll_base:.3f} -> {row.nll_tuned:.3f}"
        body.append(
            [
                row.target,
                str(row.base.n),
                f"{row.base.accuracy:.3f}",
                f"{row.tuned.accuracy:.3f}",
                f"{row.retained.accuracy:.3f} ({row.retained.correct}/{row.retained.n})" if row.retained.n else "-",
                f"[{lo:.3f}, {hi:.3f}]" if row.retained.n else "-",
                str(row.retained.n - row.retained.correct),
                nll,
                _delta(row),
            ]
        )
    return head + body
