"""The plugin's own hooks: how a team adds what it needs from a ``conftest.py`` or its own plugin.

``pytest_ftb_providers`` adds fine-tuning providers (an in-house tuning service, say),
``pytest_ftb_matchers`` ways to grade an answer that case files can then name (``matcher: mine``),
and ``pytest_ftb_recipes`` ways to build the training set (``--ftb-recipe=mine``). A provider
registered this way gets what the built-in ones get from the session: one tuning per model and
training set under pytest-xdist and across reruns (the session holds the key's lock and keeps the
endpoints' handles in the job store, so they must be JSON values: a model id, a path), cassettes
for its HTTP calls (unless its spec says ``http=False``), the reports, the gate and saved runs.

The types these hooks return are importable from the package itself (``from pytest_finetunebench
import ProviderSpec, Recipe, Verdict``; :mod:`pytest_finetunebench.api` documents each). Whatever
an implementation returns is checked when the session starts (see :mod:`.extensions`): a wrong
value is one usage error naming the hook, its file, what came back and what was expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .grading.matching import Matcher
    from .providers import ProviderSpec
    from .run.recipes import Recipe


@pytest.hookspec
def pytest_ftb_providers(config: pytest.Config) -> list[ProviderSpec]:
    """Return the :class:`~pytest_finetunebench.ProviderSpec` of each provider to add, as a list.

    Each spec names the provider, says which model names it serves (``matches``), and how to make
    it (``factory``: a class or function of the :class:`~pytest_finetunebench.RunContext`, or
    ``"module:function"``). It is looked up before the built-in providers. The provider follows
    :class:`~pytest_finetunebench.Provider`: ``endpoints(request, stages)`` tunes (or not) and
    returns one :class:`~pytest_finetunebench.Endpoint` per stage, ``answer(endpoint, prompts)``
    answers a batch with one :class:`~pytest_finetunebench.Answer` per prompt. An exception from
    either fails the items it concerns, each in one line naming the exception and your file:line.
    """
    return []


@pytest.hookspec
def pytest_ftb_matchers(config: pytest.Config) -> dict[str, Matcher]:
    """Return matchers to add, by name: ``matcher(gold, answer, question) -> Verdict | bool``.

    A case or variant names one as any built-in (``matcher: mine``); the case file is checked
    against these names at collection. ``question`` is the prompt the model was sent. A bool is
    read as match / no match; a :class:`~pytest_finetunebench.Verdict` gives the score and the
    reason the reports show; anything else, or an exception, is that item's error (never a pass).
    An empty answer fails before the matcher is asked.
    Names are lowercase identifiers and must not be a built-in matcher's.
    """
    return {}


@pytest.hookspec
def pytest_ftb_recipes(config: pytest.Config) -> list[Recipe]:
    """Return a list of :class:`~pytest_finetunebench.Recipe` objects to add (``--ftb-recipe=NAME``).

    A recipe says what each training case contributes (``qa``: its own pair; ``build(case,
    dataset)``: a list of :class:`~pytest_finetunebench.TrainingPair`) and what is added once
    (``added``); ``qa=False`` leaves out each case's own pair. Like a built-in recipe
    other than ``qa``, it is tuned as its own model, ``<model>+<name>``, once per training set.
    """
    return []
