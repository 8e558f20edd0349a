"""The shared vocabulary: the stages a model is asked at, the labels of targets, recipes and trainings,
what answers an item (:class:`Target`), what an item is (:class:`Asked`), a judge's verdict.

Every package reads a record's labels from here: collection makes the items (:mod:`.run.collect`);
tuning, answering, grading and reporting only read them. Those stages type their arguments with
:class:`Asked`, so none of them imports collection, and this module imports none of the stages:
reporting reads a ``MODEL+RECIPE@stage#seedN`` label without a provider or recipe module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from .cases.casefile import Case, Dataset, Variant

# Stages a model is evaluated at. "tuned" is the final tuned model; "base" the untuned model;
# "epoch:N" the checkpoint after N epochs. (The in-context stage is the base endpoint asked with
# the case's facts in the prompt: the plugin renders those prompts, providers never see it.)
TUNED = "tuned"
BASE = "base"
IN_CONTEXT = "in_context"


# A stage scored by likelihood (``--ftb-scoring=likelihood``): the same endpoint, its closed
# questions answered by the choice with the highest log-likelihood instead of by generation.
LIKELIHOOD = "likelihood"
SCORINGS = ("generate", LIKELIHOOD)


def likelihood_stage(stage: str) -> str:
    """The likelihood-scored twin of ``stage``: ``likelihood`` for tuned, ``base+likelihood`` ..."""
    return LIKELIHOOD if stage == TUNED else f"{stage}+{LIKELIHOOD}"


def scoring_of(stage: str) -> tuple[str, str]:
    """(the endpoint's stage, ``generate`` or ``likelihood``) of a stage name."""
    if stage == LIKELIHOOD:
        return TUNED, LIKELIHOOD
    if stage.endswith(f"+{LIKELIHOOD}"):
        return stage[: -len(LIKELIHOOD) - 1], LIKELIHOOD
    return stage, "generate"


def stage_label(model: str, stage: str) -> str:
    """How reports and node ids name a model at a stage: ``gpt-4o-mini`` or ``gpt-4o-mini@base``."""
    return model if stage == TUNED else f"{model}@{stage}"


def epoch_stage(n: int) -> str:
    """The stage name of the checkpoint taken after ``n`` epochs."""
    return f"epoch:{n}"


def epoch_of(stage: str) -> int | None:
    """``N`` for the stage ``epoch:N``, ``None`` for any other stage."""
    number = stage[len("epoch:") :] if stage.startswith("epoch:") else ""
    return int(number) if number.isdigit() else None


def final_stages(targets: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Per model, the stage its tuned result is read from: ``tuned``, else its last ``epoch:N``."""
    best: dict[str, tuple[float, str]] = {}
    for model, stage in targets:
        rank = float("inf") if stage == TUNED else epoch_of(stage)
        if rank is not None and rank > best.get(model, (-1.0, ""))[0]:
            best[model] = (rank, stage)
    return {model: stage for model, (_, stage) in best.items()}


# A model tuned with a recipe other than ``qa`` is reported as ``MODEL+RECIPE`` (:mod:`.run.recipes`
# builds the training sets; only the names live here).
QA = "qa"
RECIPE_SEPARATOR = "+"
BUILT_IN_RECIPES = ("qa", "document", "qa+document", "qa+replay")  # the built-in recipes without a parameter
PARAPHRASE = re.compile(r"^paraphrase:([1-9][0-9]?)$")
_session_recipes: set[str] = set()  # a session's own recipes (the pytest_ftb_recipes hook)


def use_recipe_names(names: Iterable[str]) -> None:
    """Make a session's own recipe names known to :func:`split_recipe` (replacing an earlier session's)."""
    _session_recipes.clear()
    _session_recipes.update(names)


def is_recipe(name: str) -> bool:
    """Whether ``name`` names a recipe: a built-in one, ``paraphrase:K`` or one of this session's."""
    return name in BUILT_IN_RECIPES or bool(PARAPHRASE.match(name)) or name in _session_recipes


def recipe_label(model: str, recipe: str) -> str:
    """The model name reports use for ``model`` tuned with ``recipe`` (``qa`` keeps the plain name)."""
    return model if recipe == QA else f"{model}{RECIPE_SEPARATOR}{recipe}"


def split_recipe(label: str) -> tuple[str, str]:
    """``(model, recipe name)`` of a model name as :func:`recipe_label` wrote it (a plain name is ``qa``)."""
    for name in BUILT_IN_RECIPES:
        if RECIPE_SEPARATOR in name and label.endswith(RECIPE_SEPARATOR + name):  # names that hold the separator
            return label[: -len(RECIPE_SEPARATOR + name)], name
    model, sep, tail = label.rpartition(RECIPE_SEPARATOR)
    return (model, tail) if sep and model and is_recipe(tail) else (label, QA)


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
