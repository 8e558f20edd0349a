"""The names an extension needs, in one place: ``from pytest_finetunebench import ProviderSpec, ...``.

A team adds a fine-tuning provider, a matcher or a recipe from its ``conftest.py`` or its own
plugin through three hooks (see :mod:`pytest_finetunebench.hooks`), each returning these types:

* ``pytest_ftb_providers(config) -> list[ProviderSpec]``. A :class:`ProviderSpec` names the
  provider, says which model names it serves (``matches(name, ctx)``) and how to make it
  (``factory``: a class or function of the :class:`RunContext`, or ``"module:function"``). The
  provider (see :class:`Provider`) has a ``name``, ``endpoints(request, stages)`` (tune on
  ``request.pairs`` once, return ``{stage: Endpoint(request.model, stage, handle)}`` for every
  stage asked: :data:`BASE` is the untuned model, :data:`TUNED` the tuned one, ``epoch:N`` a
  checkpoint; a handle must be a JSON value) and ``answer(endpoint, prompts)`` (one :class:`Answer`
  per :class:`Prompt`, in order). To fail in one line, raise :class:`ProviderError` (its message
  is shown as is) or return ``Answer(None, error="...")`` for one item.
* ``pytest_ftb_matchers(config) -> dict[str, Matcher]``: ``matcher(gold, answer, question)``
  returns a bool or a :class:`Verdict`; anything else, or an exception, is that item's error.
* ``pytest_ftb_recipes(config) -> list[Recipe]``: ``Recipe(name, build=f, added=(...))``, where
  ``build(case, dataset)`` returns the :class:`TrainingPair` objects a training case adds; the
  case's own question -> answer pair is kept unless ``qa=False``.

The context (:class:`RunContext`) gives a provider the job store (``ctx.store.dir(name)``: a
folder that survives reruns), the ``--ftb-*`` options (``ctx.options``) and a progress line
(``ctx.progress("...")``).
"""

from __future__ import annotations

from .cases.casefile import Case, Dataset
from .grading.matching import Matcher, Verdict
from .items import BASE, IN_CONTEXT, TUNED, epoch_stage
from .providers import ProviderSpec, RunContext
from .providers.base import Answer, Endpoint, Prompt, Provider, ProviderError, TrainingPair, TuneRequest, TuneSettings
from .run.recipes import Recipe, RecipeError

__all__ = [
    "BASE",
    "IN_CONTEXT",
    "TUNED",
    "Answer",
    "Case",
    "Dataset",
    "Endpoint",
    "Matcher",
    "Prompt",
    "Provider",
    "ProviderError",
    "ProviderSpec",
    "Recipe",
    "RecipeError",
    "RunContext",
    "TrainingPair",
    "TuneRequest",
    "TuneSettings",
    "Verdict",
    "epoch_stage",
]
