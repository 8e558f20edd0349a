"""pytest-finetunebench: does fine-tuning put new knowledge into a language model?

The names a team's provider, matcher or recipe needs are importable from here
(``from pytest_finetunebench import ProviderSpec, Endpoint, Answer``): they are those of
:mod:`pytest_finetunebench.api`, imported on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import (
        BASE,
        IN_CONTEXT,
        TUNED,
        Answer,
        Case,
        Dataset,
        Endpoint,
        Matcher,
        Prompt,
        Provider,
        ProviderError,
        ProviderSpec,
        Recipe,
        RecipeError,
        RunContext,
        TrainingPair,
        TuneRequest,
        TuneSettings,
        Verdict,
        epoch_stage,
    )

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
    "__version__",
    "epoch_stage",
]


def __getattr__(name: str) -> Any:
    """The public names of :mod:`.api`, imported when first asked for."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
