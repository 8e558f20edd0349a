"""The pooled scores, defined once: which of a target's records count for a scope.

Every table, gate and comparison takes its records from :func:`counted`, so a name means one thing:

- ``memorization``: the training questions (the ``memorization`` split), over every dataset.
- ``generalization``: every split that generalizes (all but memorization and retention), over
  every dataset, leaving out the splits :func:`not_measurable` marks for the target's model.
- ``retention``: of the retention questions the untuned model answered right, the share the
  target still answers right (the retained share, not the accuracy on the retention split).
- any other name: that split, over every dataset.

Items whose run failed stay in the records (reports count them as errors, not as wrong answers).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ..cases.schema import MEMORIZATION, RETENTION, generalizes
from ..grading.outcome import Record
from ..items import BASE, IN_CONTEXT, likelihood_stage, split_recipe, stage_label
from .stats import wilson

GENERALIZATION = "generalization"
POOLED = (MEMORIZATION, GENERALIZATION, RETENTION)
BASE_LIKELIHOOD = likelihood_stage(BASE)


def untuned(model: str) -> str:
    """The model whose untuned stages a recipe's model is compared with (itself for ``qa``)."""
    return split_recipe(model)[0]


def base_target(model: str) -> str:
    """The untuned target a (recipe's) model's retention is counted against."""
    return stage_label(untuned(model), BASE)


def known(records: Sequence[Record], model: str) -> set[tuple[str, str, str]]:
    """The retention questions (dataset, case, question) the untuned ``model`` answered right."""
    base = base_target(model)
    return {
        (r.dataset, r.case_id, r.question) for r in records if r.split == RETENTION and r.target == base and r.passed
    }


def counted(records: Sequence[Record], target: str, scope: str, left_out: Collection[str] = ()) -> list[Record]:
    """``target``'s records that count for ``scope`` (``left_out``: splits not measurable on its model)."""
    mine = [r for r in records if r.target == target]
    if scope == GENERALIZATION:
        return [r for r in mine if generalizes(r.split) and r.split not in left_out]
    if scope == RETENTION:
        if not mine:
            return []
        right_before = known(records, mine[0].model)
        return [r for r in mine if r.split == RETENTION and (r.dataset, r.case_id, r.question) in right_before]
    return [r for r in mine if r.split == scope]


def left_out_for(marked: Mapping[str, Mapping[str, str]], model: str) -> set[str]:
    """The splits :func:`not_measurable` marked for ``model``'s untuned model."""
    return set(marked.get(untuned(model), {}))


def not_measurable(records: Sequence[Record]) -> dict[str, dict[str, str]]:
    """Per model, the splits its upper bound cannot show: split -> why.

    A split is measurable on a model when the model, untuned with the facts in the prompt
    (``--ftb-in-context``), answers it above chance: the lower end of its 95% Wilson interval
    is above chance. Without an in-context stage, the untuned model scored by likelihood
    (``--ftb-baseline --ftb-scoring=...likelihood``) is the reference instead; without either,
    nothing is marked. Chance is the share of the commoner gold answer for yes/no splits (0.5
    when balanced), and 0 for the others (a value or a decline is not guessed). Memorization
    is never marked.
    """
    stages: dict[str, set[str]] = {}
    for r in records:
        stages.setdefault(r.model, set()).add(r.stage)
    reference = {m: IN_CONTEXT if IN_CONTEXT in found else BASE_LIKELIHOOD for m, found in stages.items()}
    out: dict[str, dict[str, str]] = {}
    for r in records:
        if r.stage != reference[r.model] or r.split == MEMORIZATION or r.split in out.get(r.model, {}):
            continue
        chosen = [x for x in records if x.model == r.model and x.stage == r.stage and x.split == r.split]
        graded = [x for x in chosen if x.error is None]
        if not graded:
            continue
        correct = sum(x.passed for x in graded)
        chance = _chance(chosen)
        lo, hi = wilson(correct, len(graded))
        if lo <= chance:
            name = "in context" if r.stage == IN_CONTEXT else "untuned by likelihood"
            out.setdefault(r.model, {})[r.split] = (
                f"{name} {correct / len(graded):.3f} [{lo:.3f}, {hi:.3f}] is not above chance {chance:.2f}"
            )
    return out


def _chance(records: list[Record]) -> float:
    """What guessing scores: the commoner answer's share for yes/no golds, else 0."""
    golds = [r.expected.strip().lower().rstrip(".") for r in records]
    if golds and all(g in ("yes", "no") for g in golds):
        return max(golds.count("yes"), golds.count("no")) / len(golds)
    return 0.0


def saved_counts(
    data: Mapping[str, Any], target: str, scope: str, datasets: Collection[str], left_out: Collection[str]
) -> tuple[int, int] | None:
    """(n, correct) of ``target`` for ``scope`` in a saved run's JSON, on ``datasets``, as :func:`counted`
    chooses them (retention: the retention table's retained share); ``None`` when it has none."""
    if scope == RETENTION:
        kept = [r["retained"] for r in data.get("retention", []) if r["target"] == target]
        return (int(kept[0]["n"]), int(kept[0]["correct"])) if kept else None
    chosen = [
        (int(c["n"]), int(c["correct"]))
        for c in data.get("cells", [])
        if c["target"] == target
        and c["dataset"] in datasets
        and c["split"] not in left_out
        and (c["split"] == scope or scope == GENERALIZATION and generalizes(c["split"]))
    ]
    return (sum(n for n, _ in chosen), sum(c for _, c in chosen)) if chosen else None


def saved_left_out(runs: Iterable[Mapping[str, Any]], target: str) -> set[str]:
    """The splits any of the saved runs marked not measurable on ``target``'s model."""
    out: set[str] = set()
    for data in runs:
        model = next((i["model"] for i in data.get("items", []) if i.get("target") == target), None)
        out |= left_out_for(data.get("not_measurable") or {}, model) if model else set()
    return out
