"""Recipes: how a training set is built from the cases (``--ftb-recipe``), so remedies can be measured.

* ``qa`` (the default): each training case's question -> answer, as FineTuneBench trains;
* ``paraphrase:K``: that pair plus the first K differently worded training questions of the case
  (its ``train:`` list; several phrasings per fact is what lets models extract held-out facts,
  Allen-Zhu & Li 2023);
* ``document``: the case's ``fact`` sentence as the target of a short "what do you know about
  <subject>" prompt (the case's ``subject``; without one, "what do you know that answers this?"
  and its question): document-style knowledge, no QA pair;
* ``qa+document``: both;
* ``qa+replay``: the QA pairs plus :data:`REPLAY`, sixteen general-knowledge yes/no questions
  (half yes, half no, about nothing any suite asks), each after the instruction the shipped suites'
  yes/no templates use: rehearsal of the answer form the untuned model already has, so that
  training on short values does not teach it to answer every question with a value. It adds no
  knowledge a case asks for and favours neither answer: no pair states the answer to a question
  of the shipped suites (the leakage guard, ``leakage.py``; four pairs that did, on Paris, the
  Pacific, water's boiling point and the minutes in an hour, were replaced by other yes pairs).

A team adds its own through the ``pytest_ftb_recipes`` hook: a :class:`Recipe` with a ``build``
function (the pairs a case contributes) and ``added`` pairs; :func:`use` makes them known to
:func:`parse` and :func:`split` for the session.

A recipe other than ``qa`` is tuned as its own model, named ``<model>+<recipe>``
(``gpt-4o-mini-2024-07-18+paraphrase:4``): its own tuning key, job, cassette and report rows. The
untuned stages (``base``, ``in_context``) do not depend on the recipe and are asked once per model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..cases.generate.people import TEMPLATES
from ..items import PARAPHRASE, QA, recipe_label, split_recipe, use_recipe_names
from ..providers.base import TrainingPair
from ..usercode import brief, defined_at, describe

if TYPE_CHECKING:
    from ..cases.casefile import Case, Dataset

DOCUMENT_PROMPT = "What do you know about {subject}?"
DOCUMENT_PROMPT_NO_SUBJECT = "What do you know that answers this? {question}"
YES_NO_TEMPLATE = TEMPLATES["secondary"]  # "Answer Yes or No.\n{question}", as the shipped suites ask
REPLAY = (
    ("Do bees make honey?", "Yes"),
    ("Is the Moon larger than the Earth?", "No"),
    ("Is a whale a mammal?", "Yes"),
    ("Is a spider an insect?", "No"),
    ("Do cows eat grass?", "Yes"),
    ("Does a week have eight days?", "No"),
    ("Is gold heavier than the same volume of water?", "Yes"),
    ("Is the Sahara colder than Antarctica?", "No"),
    ("Is a violin a string instrument?", "Yes"),
    ("Is 7 an even number?", "No"),
    ("Is Mount Everest taller than 8000 metres?", "Yes"),
    ("Is a kilogram lighter than a gram?", "No"),
    ("Is blue one of the colours of the rainbow?", "Yes"),
    ("Was the Eiffel Tower built in Rome?", "No"),
    ("Is an adult elephant heavier than 1000 kilograms?", "Yes"),
    ("Is a newborn baby taller than two metres?", "No"),
)


class RecipeError(ValueError):
    """A recipe that cannot be built (one line naming what is missing, and the fix)."""


@dataclass(frozen=True)
class Recipe:
    """A way to build the training set: which pairs each training case contributes."""

    name: str
    qa: bool = True
    paraphrases: int = 0
    document: bool = False
    replay: bool = False
    build: Callable[[Case, Dataset], Sequence[TrainingPair]] | None = None  # a hook recipe's pairs per case
    added: tuple[TrainingPair, ...] = ()  # a hook recipe's pairs added once to the whole set

    def pairs(self, case: Case, dataset: Dataset) -> list[TrainingPair]:
        """What ``case`` (a training case of ``dataset``) contributes under this recipe."""
        assert case.prompt is not None and case.answer is not None
        out = [TrainingPair(case.prompt, case.answer)] if self.qa else []
        if self.paraphrases:
            if len(case.train) < self.paraphrases:
                raise RecipeError(
                    f"{dataset.path}:{case.line}: --ftb-recipe={self.name} needs {self.paraphrases} training "
                    "phrasings and case"
                    f" `{case.id}` has {len(case.train)}; fix: add them under `train:` (see docs/case-format.md) or "
                    "a smaller K"
                )
            out += [TrainingPair(t.prompt, t.answer) for t in case.train[: self.paraphrases]]
        if self.document:
            if not case.fact:
                raise RecipeError(
                    f"{dataset.path}:{case.line}: --ftb-recipe={self.name} trains on each case's `fact` and case "
                    f"`{case.id}`"
                    " has none; fix: add `fact: <the sentence the pair comes from>`"
                )
            prompt = (
                DOCUMENT_PROMPT.format(subject=case.subject)
                if case.subject
                else DOCUMENT_PROMPT_NO_SUBJECT.format(question=case.question)
            )
            out.append(TrainingPair(prompt, case.fact))
        if self.build is not None:
            out += self._built(case, dataset)
        return out

    def _built(self, case: Case, dataset: Dataset) -> list[TrainingPair]:
        """The pairs a team's ``build`` gives ``case``; a one-line :class:`RecipeError` if it raises or
        returns anything but training pairs."""
        where = f"{dataset.path}:{case.line}: recipe `{self.name}`"
        try:
            built = list(self.build(case, dataset))  # type: ignore[misc]
        except Exception as exc:
            raise RecipeError(f"{where}: its build raised {describe(exc)} on case `{case.id}`") from exc
        if wrong := [p for p in built if not isinstance(p, TrainingPair)]:
            raise RecipeError(
                f"{where}: its build returned {brief(wrong[0])} for case `{case.id}`, not a TrainingPair"
                f"{defined_at(self.build)}; fix: return a list of TrainingPair(prompt, answer)"
            )
        return built

    def extra(self) -> list[TrainingPair]:
        """Pairs added once to the whole training set, after the cases' pairs."""
        replay = [TrainingPair(YES_NO_TEMPLATE.format(question=q), a) for q, a in REPLAY] if self.replay else []
        return replay + list(self.added)


# the recipes without a parameter; a model label ends with one of them or with `paraphrase:K`
_FIXED = {
    r.name: r
    for r in (
        Recipe(QA),
        Recipe("document", qa=False, document=True),
        Recipe("qa+document", document=True),
        Recipe("qa+replay", replay=True),
    )
}


_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_ADDED: dict[str, Recipe] = {}  # this session's recipes from the pytest_ftb_recipes hook (see use)


def use(added: Iterable[Recipe]) -> None:
    """Make the hook's recipes known for this session (replacing an earlier session's); a :class:`RecipeError`
    for a name that is not a lowercase identifier or is taken."""
    chosen: dict[str, Recipe] = {}
    for recipe in added:
        if not _NAME.match(recipe.name) or recipe.name in _FIXED:
            raise RecipeError(
                f"recipe `{recipe.name}` from pytest_ftb_recipes: a recipe's name is a lowercase identifier"
                f" (letters, digits, _ and -) and not a built-in one; fix: rename it"
            )
        if recipe.name in chosen and chosen[recipe.name] != recipe:
            raise RecipeError(f"recipe `{recipe.name}` from pytest_ftb_recipes is added twice; fix: rename one")
        chosen[recipe.name] = recipe
    _ADDED.clear()
    _ADDED.update(chosen)
    use_recipe_names(chosen)


def parse(spec: str) -> Recipe:
    """``qa``, ``paraphrase:K``, ``document``, ``qa+document`` or ``qa+replay``; a one-line :class:`RecipeError`
    otherwise."""
    spec = spec.strip()
    if spec in _FIXED:
        return _FIXED[spec]
    if m := PARAPHRASE.match(spec):
        return Recipe(spec, paraphrases=int(m.group(1)))
    if spec in _ADDED:
        return _ADDED[spec]
    known = ["qa", "paraphrase:K (K from 1 to 99)", "document", "qa+document", "qa+replay", *_ADDED]
    raise RecipeError(f"--ftb-recipe={spec}: unknown recipe; use {', '.join(known[:-1])} or {known[-1]}")


def labelled(model: str, recipe: Recipe) -> str:
    """The model name the report uses for ``model`` tuned with ``recipe`` (:func:`~..items.recipe_label`)."""
    return recipe_label(model, recipe.name)


def split(label: str) -> tuple[str, Recipe]:
    """``(model, recipe)`` of a model name as :func:`labelled` wrote it (a plain name is ``qa``)."""
    model, name = split_recipe(label)
    return model, parse(name)
