"""The shared vocabulary of the stages: what answers an item (:class:`Target`), what an item is (:class:`Asked`), a
judge's verdict.

Collection makes the items (:mod:`.run.collect`); tuning, answering, grading and reporting only read
them. Those stages type their arguments with :class:`Asked`, so none of them imports collection,
and this module imports none of the stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .cases.casefile import Case, Dataset, Variant
from .providers.base import TUNED, stage_label

SEED_MARK = "#seed"  # a training's name: the model, then #seedN with --ftb-seeds=K above 1


@dataclass(frozen=True, slots=True)
class Target:
    """What answers an item: a model at a stage (tuned, base, epoch:N or in_context), and with
    ``--ftb-seeds`` above 1 the seed of the training it comes from (``None``: untuned, or one training)."""

    model: str
    stage: str = TUNED
    seed: int | None = None

    @property
    def label(self) -> str:
        """How node ids name it (reports group a target's seeds under :func:`stage_label`)."""
        return stage_label(self.training, self.stage)

    @property
    def training(self) -> str:
        """The training this target is asked of: its model, with the seed when there are several."""
        return self.model if self.seed is None else f"{self.model}{SEED_MARK}{self.seed}"


def split_training(training: str) -> tuple[str, int | None]:
    """(model, seed) of a training's name (:attr:`Target.training`)."""
    model, mark, seed = training.rpartition(SEED_MARK)
    return (model, int(seed)) if mark and seed.isdigit() else (training, None)


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """A model judge's verdict on one answer; ``passed`` is ``None`` when the judge gave none."""

    passed: bool | None
    reason: str


class Asked(Protocol):
    """One variant of one case, asked of one target (the pytest item :class:`.collect.VariantItem`)."""

    dataset: Dataset
    case: Case
    variant: Variant
    target: Target
    nodeid: str
    user_properties: list[tuple[str, Any]]
