"""Answer-only targets: models tuned elsewhere (``--ftb-tuned-elsewhere``), asked and never tuned here.

A model trained with TRL, Axolotl, Unsloth, torchtune or on a platform, and served by any
OpenAI-compatible server (``openai:<name>`` with ``OPENAI_BASE_URL``) or sitting in a Hugging Face
folder (``local:<dir>``), is asked as its provider asks an untuned model of that name: no job is
looked for, none is started. Its ``@base``, in-context and retention stages are asked of the untuned
model the user declares (``--ftb-base-model``), through the same provider. Epoch stages do not
exist here: each checkpoint is its own ``--ftb-model``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..providers.base import BASE, TUNED, Endpoint, Provider, ProviderError, TuneRequest, TuneSettings

FLAG = "--ftb-tuned-elsewhere"
BASE_FLAG = "--ftb-base-model"


def declared(options: Mapping[str, Any]) -> str | None:
    """What the models were trained on, as the user declared it (``None``: they are tuned here)."""
    value = options.get("tuned_elsewhere")
    return str(value) if value else None


def check(models: Sequence[str], options: Mapping[str, Any], provider_of: Callable[[str], str]) -> None:
    """A one-line :class:`ProviderError` for answer-only targets that cannot be asked as declared.

    ``provider_of(model)`` names the provider serving a model. Nothing to check without
    ``--ftb-tuned-elsewhere`` (then ``--ftb-base-model`` is refused: it would be ignored).
    """
    base = options.get("base_model") or None
    if not declared(options):
        if base:
            raise ProviderError(
                f"{BASE_FLAG}={base} declares the untuned model of a model tuned elsewhere; fix: add"
                f" {FLAG}=WHAT (what it was trained on), or drop {BASE_FLAG}"
            )
        return
    if [r for r in options.get("recipe") or () if r != "qa"]:
        raise ProviderError(
            f"--ftb-recipe: a model tuned elsewhere was trained on what its trainer built, not on a recipe here;"
            f" fix: drop --ftb-recipe and say what it was trained on in {FLAG}=WHAT"
        )
    if "," in str(options.get("epochs") or ""):
        raise ProviderError(
            f"--ftb-epochs={options.get('epochs')}: a model tuned elsewhere has no epoch checkpoints here; fix: drop"
            " --ftb-epochs and evaluate each checkpoint as its own --ftb-model"
        )
    if (options.get("baseline") or options.get("in_context")) and not base:
        raise ProviderError(
            f"--ftb-baseline and --ftb-in-context ask the untuned model, which {FLAG} does not know; fix:"
            f" {BASE_FLAG}=NAME (the model it was tuned from, served the same way)"
        )
    for model in models:
        _check_model(model, provider_of(model), base, provider_of(base) if base else None)


def _check_model(model: str, provider: str, base: str | None, base_provider: str | None) -> None:
    if model.startswith("ft:"):
        raise ProviderError(
            f"{model}: an ft: id is already evaluated as given (its base from the id); fix: drop {FLAG} for it"
        )
    if base is not None and base_provider != provider:
        raise ProviderError(
            f"{BASE_FLAG}={base} is served by the {base_provider} provider but {model} by the {provider} provider;"
            f" fix: name the untuned model as {provider} serves it"
        )


def endpoints(
    provider: Provider, model: str, base: str | None, settings: TuneSettings, stages: Sequence[str]
) -> dict[str, Endpoint]:
    """One endpoint per stage of the answer-only ``model``: ``tuned`` is ``model`` itself, ``base`` the
    declared untuned model, both as ``provider`` asks an untuned model (nothing tuned, no job looked up)."""
    out: dict[str, Endpoint] = {}
    for stage in stages:
        if stage == TUNED:
            found = provider.endpoints(TuneRequest(model, (), settings), [BASE])[BASE]
            out[stage] = replace(found, model=model, stage=TUNED, precision=None)  # trained in: not known here
        elif stage == BASE:
            if base is None:
                raise ProviderError(
                    f"{model} was tuned elsewhere: its untuned model is not known here; fix: {BASE_FLAG}=NAME (the"
                    " model it was tuned from, served the same way)"
                )
            found = provider.endpoints(TuneRequest(base, (), settings), [BASE])[BASE]
            out[stage] = replace(found, model=model, precision=None)
        else:
            raise ProviderError(
                f"{model} was tuned elsewhere ({FLAG}): it has no {stage} checkpoint here; fix: evaluate each"
                " checkpoint as its own --ftb-model"
            )
    return out
