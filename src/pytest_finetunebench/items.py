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


@dataclass(frozen=True, slots=True)
class Target:
    """What answers an item: a model at a stage (tuned, base, epoch:N or in_context)."""

    model: str
    stage: str = TUNED

    @property
    def label(self) -> str:
        """How reports and node ids name it."""
        return stage_label(self.model, self.stage)


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
