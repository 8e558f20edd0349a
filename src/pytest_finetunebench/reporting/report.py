"""Reports: accuracy per model stage x dataset x split, with 95% Wilson intervals.

Memorization is the training questions; Generalization pools every other split (micro
average over items, so each answer counts once). Items whose run failed (an API error) are
counted as errors, not as wrong answers, and are left out of the accuracies.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from ..cases.schema import BUILTIN_SPLITS, MEMORIZATION, generalizes
from ..grading.outcome import Record
from ..items import BASE, IN_CONTEXT, QA, final_stages, split_recipe, stage_label
from . import paired, retention, scores, seeded
from .stats import Cell, design_effect
from .text import SummaryText

GENERALIZATION = scores.GENERALIZATION


def _split_order(split: str) -> tuple[int, str]:
    return (BUILTIN_SPLITS.index(split) if split in BUILTIN_SPLITS else len(BUILTIN_SPLITS), split)


class Summary(SummaryText):
    """The records of a run and their aggregates."""

    def __init__(self, records: Iterable[Record] = (), order: Iterable[str] = ()) -> None:
        records = list(records)
        # targets ranked as ``order`` gives them (a run's selection), then as they first appear; the records
        # kept sorted by it, so no table or file depends on the order items ran or xdist workers finished in
        self._rank = {t: i for i, t in enumerate(dict.fromkeys([*order, *(r.target for r in records)]))}
        self.records: list[Record] = sorted(records, key=self._order)
        self.skipped = 0
        self._comparisons: list[paired.Paired] | None = None  # computed once, read by every output
        self._not_measurable: dict[str, dict[str, str]] | None = None

    def add(self, record: Record) -> None:
        bisect.insort(self.records, record, key=self._order)
        self._comparisons = self._not_measurable = None

    def _order(self, r: Record) -> tuple[int, str, str, tuple[int, str], str]:
        """Where a record goes: its target's rank, then dataset, case and split."""
        return (
            self._rank.setdefault(r.target, len(self._rank)),
            r.dataset,
            r.case_id,
            _split_order(r.split),
            r.question,
        )

    def _cell(self, target: str, dataset: str, split: str, records: list[Record], clustered: bool = False) -> Cell:
        graded = [r for r in records if r.error is None]
        deff = 1.0
        if clustered:
            by_case: dict[tuple[str, str], list[bool]] = {}
            for r in graded:
                by_case.setdefault(r.cluster, []).append(r.passed)
            deff = design_effect((len(v), sum(v)) for v in by_case.values())
        several = len({r.seed for r in graded}) > 1  # K >= 2 trainings: their mean and a seed-aware interval
        return Cell(
            target,
            dataset,
            split,
            len(graded),
            sum(r.passed for r in graded),
            len(records) - len(graded),
            sum(r.in_form is not False for r in graded),
            round(deff, 4),
            seeded.proportion([(r.seed or 0, "|".join(r.cluster), r.passed) for r in graded]) if several else None,
        )

    def targets(self) -> list[str]:
        """Model stages in their rank: as the run selected them (see ``order``), else as they first appear."""
        return list(dict.fromkeys(r.target for r in self.records))

    def cells(self) -> list[Cell]:
        """One cell per target x dataset x split, in a stable order."""
        groups: dict[tuple[str, str, str], list[Record]] = {}
        for r in self.records:
            groups.setdefault((r.target, r.dataset, r.split), []).append(r)
        order = {t: i for i, t in enumerate(self.targets())}
        keys = sorted(groups, key=lambda k: (order[k[0]], k[1], _split_order(k[2])))
        return [self._cell(*k, groups[k]) for k in keys]

    def leaderboard(self) -> list[tuple[Cell, Cell]]:
        """Per target: (Memorization, Generalization) over all datasets."""
        return [(self.aggregate(t, MEMORIZATION), self.aggregate(t, GENERALIZATION)) for t in self.targets()]

    def aggregate(self, target: str, scope: str) -> Cell:
        """A target's cell for a pooled score or one split, over all datasets (:mod:`.scores` says which
        records count). Its interval is clustered by linked case (the variants of a case, and the cases
        linked by ``uses``, are not independent)."""
        return self._cell(target, "*", scope, self.counted(target, scope), clustered=True)

    def counted(self, target: str, scope: str) -> list[Record]:
        """``target``'s records that count for ``scope`` (:func:`.scores.counted`)."""
        mine = next((r.model for r in self.records if r.target == target), None)
        left_out = scores.left_out_for(self.not_measurable(), mine) if mine else set()
        return scores.counted(self.records, target, scope, left_out)

    def not_measurable(self) -> dict[str, dict[str, str]]:
        """Per model, the splits its upper bound cannot show (:func:`.scores.not_measurable`; computed once)."""
        if self._not_measurable is None:
            self._not_measurable = scores.not_measurable(self.records)
        return self._not_measurable

    def stages(self) -> list[tuple[str, str | None, str | None, str | None]]:
        """Per model: its (base, tuned, in-context) targets; tuned is the final stage (or the last epoch)."""
        final = final_stages((r.model, r.stage) for r in self.records)
        found: dict[str, set[str]] = {}
        for r in self.records:
            found.setdefault(r.model, set()).add(r.stage)

        def label(model: str, stage: str | None) -> str | None:
            return stage_label(model, stage) if stage in found.get(model, ()) else None

        # a recipe's model (`m+paraphrase:4`) is compared with the untuned stages of its model
        return [
            (m, label(scores.untuned(m), BASE), label(m, final.get(m)), label(scores.untuned(m), IN_CONTEXT))
            for m in found
            if final.get(m)
        ]

    # --- renderings -------------------------------------------------------------------------

    def table(self, each_seed: bool = False) -> list[list[str]]:
        """Rows of the per-split table, header first; with several trainings, their SD (and with
        ``each_seed``, every training's accuracy: the HTML page)."""
        cells = self.cells()
        seeded_ = any(c.seeds for c in cells)
        head = ["model", "dataset", "split", "n", "correct", "accuracy", "95% CI"]
        head += (["seed SD"] if seeded_ else []) + (["each seed"] if seeded_ and each_seed else [])
        rows = [head + ["in-form", "errors"]]
        for c in cells:
            lo, hi = c.interval
            share = c.in_form_share
            spread = [f"{c.seeds.sd:.3f}" if c.seeds else "-"] if seeded_ else []
            if seeded_ and each_seed:
                spread.append(", ".join(f"{s}: {x / n:.3f}" for s, n, x in c.seeds.per_seed if n) if c.seeds else "-")
            rows.append(
                [c.target, c.dataset, c.split, str(c.n), str(c.correct), f"{c.accuracy:.3f}", f"[{lo:.3f}, {hi:.3f}]"]
                + spread
                + ["-" if share is None else f"{share:.2f}", str(c.errors) if c.errors else ""]
            )
        return rows

    def leaderboard_table(self) -> list[list[str]]:
        rows = [["model", "memorization", "generalization"]]
        for mem, gen in self.leaderboard():
            rows.append([mem.target, _fmt(mem), _fmt(gen)])
        return rows

    def before_after_table(self) -> list[list[str]] | None:
        """Per model and split: base -> tuned, and in-context (the facts in the prompt: the upper bound).

        ``None`` unless some model ran untuned (``--ftb-baseline``) or in context (``--ftb-in-context``).
        """
        stages = self.stages()
        has_base = any(b for _, b, _, _ in stages)
        has_ctx = any(c for _, _, _, c in stages)
        if not has_base and not has_ctx:
            return None
        head = ["model", "split"] + (["base"] if has_base else []) + ["tuned"]
        head += (["change"] if has_base else []) + (["in-context"] if has_ctx else [])
        unmeasurable = self.not_measurable()
        if unmeasurable:
            head.append("note")
        rows = [head]
        for model, base, tuned, ctx in stages:
            mine = [r for r in self.records if r.model == model]
            splits = sorted({r.split for r in mine}, key=_split_order)
            scopes = splits + ([GENERALIZATION] if len([s for s in splits if generalizes(s)]) > 1 else [])
            for scope in scopes:
                cells = {k: self.aggregate(t, scope) if t else None for k, t in (("b", base), ("t", tuned), ("c", ctx))}
                row = [model, scope] + ([_acc(cells["b"])] if has_base else []) + [_acc(cells["t"])]
                if has_base:
                    b, t = cells["b"], cells["t"]
                    row.append(f"{(t.accuracy - b.accuracy) * 100:+.1f} pts" if b and t and b.n and t.n else "-")
                row += [_acc(cells["c"])] if has_ctx else []
                if unmeasurable:
                    left_out = unmeasurable.get(scores.untuned(model), {})
                    row.append(
                        "not measurable on this model"
                        if scope in left_out
                        else f"without {', '.join(left_out)}"
                        if scope == GENERALIZATION and left_out
                        else ""
                    )
                rows.append(row)
        return rows

    def recipe_rows(self) -> list[dict[str, Any]]:
        """Per model tuned with several recipes (``--ftb-recipe``): each recipe's pooled cells and the change against
        ``qa``."""
        by_model: dict[str, list[tuple[str, str]]] = {}  # model -> (its recipe, that recipe's tuned target)
        for model, _, tuned, _ in self.stages():
            if tuned:
                base, name = split_recipe(model)
                by_model.setdefault(base, []).append((name, tuned))
        rows = []
        for model, targets in by_model.items():
            if len(targets) < 2:
                continue
            cells = {name: (self.aggregate(t, MEMORIZATION), self.aggregate(t, GENERALIZATION)) for name, t in targets}
            qa = dict(targets).get(QA)
            for name, t in targets:
                vs_qa = (
                    None
                    if qa is None or name == QA
                    else paired.compare(
                        qa, t, GENERALIZATION, self.counted(qa, GENERALIZATION), self.counted(t, GENERALIZATION)
                    )
                )
                rows.append(
                    {
                        "model": model,
                        "recipe": name,
                        MEMORIZATION: cells[name][0],
                        GENERALIZATION: cells[name][1],
                        "change_vs_qa": None if vs_qa is None else vs_qa.difference,
                        "paired_vs_qa": vs_qa,
                    }
                )
        return rows

    def recipe_table(self) -> list[list[str]] | None:
        """:meth:`recipe_rows` as a table, ``None`` when no model ran more than one recipe."""
        rows = self.recipe_rows()
        if not rows:
            return None
        return [["model", "recipe", "memorization", "generalization", "vs qa, paired (generalization)"]] + [
            [r["model"], r["recipe"], _fmt(r[MEMORIZATION]), _fmt(r[GENERALIZATION]), _vs_qa(r["paired_vs_qa"])]
            for r in rows
        ]

    def measurability_notes(self) -> list[str]:
        """One line per model with splits left out of Generalization, saying why."""
        return [
            f"{model}: generalization leaves out what this model cannot show even with the facts in the prompt: "
            + "; ".join(f"{split} ({why})" for split, why in splits.items())
            for model, splits in self.not_measurable().items()
        ]

    def judge_rows(self) -> list[dict[str, Any]]:
        """With ``--ftb-judge``, per target x dataset x split: accuracy by the rules and by the judge.

        ``n`` counts the answers both graded; ``agreement`` is the share of those where they agree;
        ``judge_errors`` the answers the judge gave no verdict on.
        """
        groups: dict[tuple[str, str, str], list[Record]] = {}
        for r in self.records:
            if r.judge_reason is not None:
                groups.setdefault((r.target, r.dataset, r.split), []).append(r)
        order = {t: i for i, t in enumerate(self.targets())}
        rows = []
        for key in sorted(groups, key=lambda k: (order[k[0]], k[1], _split_order(k[2]))):
            both = [r for r in groups[key] if r.rule_passed is not None and r.judge_passed is not None]
            n = len(both)
            rows.append(
                {
                    "target": key[0],
                    "dataset": key[1],
                    "split": key[2],
                    "n": n,
                    "rules": sum(r.rule_passed for r in both) / n if n else None,
                    "judge": sum(r.judge_passed for r in both) / n if n else None,
                    "agreement": sum(r.rule_passed == r.judge_passed for r in both) / n if n else None,
                    "judge_errors": sum(r.judge_passed is None for r in groups[key]),
                }
            )
        return rows

    def judge_table(self) -> list[list[str]] | None:
        """:meth:`judge_rows` as a table, ``None`` when no answer was judged."""
        rows = self.judge_rows()
        if not rows:
            return None
        show = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        return [["model", "dataset", "split", "n", "rules", "judge", "agreement", "judge errors"]] + [
            [
                r["target"],
                r["dataset"],
                r["split"],
                str(r["n"]),
                show(r["rules"]),
                show(r["judge"]),
                show(r["agreement"]),
                str(r["judge_errors"] or ""),
            ]
            for r in rows
        ]

    def comparisons(self) -> list[paired.Paired]:
        """Paired comparisons of the run's targets on the items they share (computed once per records)."""
        if self._comparisons is None:
            self._comparisons = paired.in_run(self.records, self.not_measurable())
        return self._comparisons

    def precisions(self) -> dict[str, str]:
        """The precision each local model trained in."""
        return {r.model: r.precision for r in sorted(self.records, key=_item_order) if r.precision}

    def generated_in(self) -> dict[str, str]:
        """The precision each local model generated its answers in (fp32 on a CPU, else its training's)."""
        return {r.model: r.generated_in for r in sorted(self.records, key=_item_order) if r.generated_in}

    def to_json(self) -> dict[str, Any]:
        """Every item and the aggregates."""
        return {
            "items": [{**asdict(r), "target": r.target} for r in sorted(self.records, key=_item_order)],
            "cells": [c.as_dict() for c in self.cells()],
            "leaderboard": [
                {"target": m.target, MEMORIZATION: m.as_dict(), GENERALIZATION: g.as_dict()}
                for m, g in self.leaderboard()
            ],
            "skipped": self.skipped,
            "precision": self.precisions(),
            "generated_in": self.generated_in(),
            "not_measurable": self.not_measurable(),
            "judge": self.judge_rows(),
            "retention": [row.as_dict() for row in retention.rows(self.records)],
            "paired": [p.as_dict() for p in self.comparisons()],
            "recipes": [
                {
                    **r,
                    MEMORIZATION: r[MEMORIZATION].as_dict(),
                    GENERALIZATION: r[GENERALIZATION].as_dict(),
                    "paired_vs_qa": r["paired_vs_qa"] and r["paired_vs_qa"].as_dict(),
                }
                for r in self.recipe_rows()
            ],
        }


def _vs_qa(p: paired.Paired | None) -> str:
    """A recipe against qa on the same generalization items: B - A, its interval and p."""
    return "-" if p is None else p.shown()


def _acc(cell: Cell | None) -> str:
    return f"{cell.accuracy:.3f}" if cell is not None and cell.n else "-"


def _item_order(r: Record) -> tuple[str, str, str, tuple[int, str], str, int]:
    """A stable order for items, whatever order pytest-xdist workers finished them in (each training's
    answers to a question in seed order)."""
    return (r.target, r.dataset, r.case_id, _split_order(r.split), r.question, -1 if r.seed is None else r.seed)


def _fmt(cell: Cell) -> str:
    if not cell.n:
        return "-"
    lo, hi = cell.interval
    trainings = f", {len(cell.seeds.per_seed)} seeds, SD {cell.seeds.sd:.3f}" if cell.seeds else ""
    return f"{cell.accuracy:.3f} [{lo:.2f}, {hi:.2f}] (n={cell.n}{trainings})"
