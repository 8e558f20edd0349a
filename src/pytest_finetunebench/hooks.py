"""The plugin's own hooks: how a team adds what it needs from a ``conftest.py`` or its own plugin.

``pytest_ftb_providers`` adds fine-tuning providers (an in-house tuning service, say). A provider
registered this way gets what the built-in ones get from the session: one tuning per model and
training set under pytest-xdist and across reruns (the session holds the key's lock and keeps the
endpoints' handles in the job store, so they must be JSON values: a model id, a path), cassettes
for its HTTP calls (unless its spec says ``http=False``), the reports, the gate and saved runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .providers import ProviderSpec


@pytest.hookspec
def pytest_ftb_providers(config: pytest.Config) -> list[ProviderSpec]:
    """Return the :class:`~pytest_finetunebench.providers.ProviderSpec` of each provider to add.

    Each spec names the provider, says which model names it serves (``matches``), and how to make
    it (``factory``: a function of the :class:`~pytest_finetunebench.providers.RunContext`, or
    ``"module:function"``). It is looked up before the built-in providers. The provider follows
    :class:`~pytest_finetunebench.providers.base.Provider`: ``endpoints(request, stages)`` tunes
    (or not) and returns one endpoint per stage, ``answer(endpoint, prompts)`` answers a batch.
    """
    return []
