"""Answer-only targets: models tuned elsewhere (``--ftb-tuned-elsewhere``), asked and never tuned here.

A model trained with TRL, Axolotl, Unsloth, torchtune or on a platform, and served by any
OpenAI-compatible server (``openai:<name>`` with ``OPENAI_BASE_URL``) or sitting in a Hugging Face
folder (``local:<dir>``), is asked as its provider asks an untuned model of that name: no job is
looked for, none is started. Its ``@base``, in-context and retention stages are asked of the untuned
model the user declares (``--ftb-base-model``), through the same provider. Epoch stages do not
exist here: each checkpoint is its own ``--ftb-model``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..items import BASE, TUNED, Asked
from ..providers.base import Endpoint, Provider, ProviderError, TrainingPair, TuneRequest, TuneSettings
from . import recipes

MANIFEST = "pytest-finetunebench/training-set"  # the format of an `ftb export` manifest

FLAG = "--ftb-tuned-elsewhere"
BASE_FLAG = "--ftb-base-model"


def training_hash(pairs: Sequence[TrainingPair]) -> str:
    """The sha256 of a training set: its (prompt, answer) pairs in order, whatever file format carries them."""
    blob = json.dumps([[p.prompt, p.answer] for p in pairs], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def manifest(items: Sequence[Asked], pairs: Sequence[TrainingPair], recipe: str, system: str | None) -> dict[str, Any]:
    """What an export writes beside the training set: the case files' hashes, the recipe, counts, its hash."""
    files = {item.dataset.name: item.dataset.path for item in items}
    return {
        "format": MANIFEST,
        "datasets": {name: hashlib.sha256(Path(path).read_bytes()).hexdigest() for name, path in sorted(files.items())},
        "recipe": recipe,
        "system_message": system,
        "counts": {"pairs": len(pairs), "cases": len({(i.dataset.name, i.case.id) for i in items})},
        "training_set_sha256": training_hash(pairs),
    }


def read_manifest(declared: str) -> tuple[Path, dict[str, Any], recipes.Recipe] | None:
    """The ``ftb export`` manifest that ``--ftb-tuned-elsewhere`` names (a ``.json`` path), with its recipe;
    ``None`` for a declaration in words; a one-line :class:`ProviderError` for one that cannot be read."""
    if not declared.endswith(".json"):
        return None
    path = Path(declared)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST:
            raise ValueError("not an export manifest")
        return path, data, recipes.parse(data["recipe"])
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ProviderError(
            f"{FLAG}={declared}: not a readable `ftb export` manifest ({exc}); fix: name the manifest.json that"
            " `ftb export` wrote, or say what the model was trained on in words"
        ) from None


def check_manifest(
    path: Path, data: Mapping[str, Any], model: str, items: Sequence[Asked], pairs: Sequence[TrainingPair]
) -> None:
    """A one-line :class:`ProviderError` unless ``items`` (the cases selected here) and ``pairs`` (what the
    manifest's recipe builds from them) are the training set the manifest says ``model`` was trained on."""
    here = manifest(items, pairs, str(data["recipe"]), data.get("system_message"))
    names = {*here["datasets"], *data["datasets"]}
    changed = sorted(n for n in names if here["datasets"].get(n) != data["datasets"].get(n))
    if changed or here["training_set_sha256"] != data["training_set_sha256"]:
        what = f"the case files of {', '.join(changed)} differ" if changed else "the selected cases give other pairs"
        raise ProviderError(
            f"{model} was trained on the export in {path} ({data['counts']['pairs']} pairs), but {what} here"
            f" ({here['counts']['pairs']} pairs); fix: select the cases it was exported with (the same suite,"
            " --ftb-dataset and --ftb-limit)"
        )


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
