"""Tuning: one training set per model from the collected items, tuned once per session.

The training set is every training pair of the cases that were collected (paths, node ids and
the ``--ftb-dataset``/``--ftb-split``/``--ftb-limit`` filters choose those) and of the cases they
``use``, in file order. Deselection (``-k``, ``-m``, ``--lf``) only chooses which items are
asked, so it never changes what is trained, and never launches a new paid job. Every
pytest-xdist worker collects the same items, computes the same set, and the provider's durable
key makes them share one tuning.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .. import providers
from ..grading.outcome import RunError, describe_error
from ..items import BASE, IN_CONTEXT, QA, Asked, split_training
from ..providers.base import Answer, Endpoint, Prompt, Provider, ProviderError, TrainingPair, TuneRequest, TuneSettings
from ..settings import setting
from ..usercode import brief, defined_at
from . import elsewhere, recipes
from .recipes import Recipe


def parse_epochs(value: str | int | None) -> tuple[int, ...]:
    """``"1,3,10"`` -> (1, 3, 10); a one-line usage error for anything else."""
    if value in (None, ""):
        return ()
    try:
        epochs = tuple(sorted({int(part) for part in str(value).split(",") if part.strip()}))
    except ValueError:
        raise pytest.UsageError(f"--ftb-epochs={value}: expected whole numbers like 10 or 1,3,10") from None
    if not epochs or epochs[0] < 1:
        raise pytest.UsageError(f"--ftb-epochs={value}: epochs must be 1 or more")
    return epochs


def settings_from(opts: Mapping[str, Any]) -> TuneSettings:
    """Hyperparameters from the ``--ftb-*`` options."""
    epochs = parse_epochs(opts.get("epochs"))
    return TuneSettings(
        epochs=max(epochs) if epochs else None,
        learning_rate=opts.get("learning_rate"),  # each provider refuses the flag it does not take
        learning_rate_multiplier=opts.get("learning_rate_multiplier"),
        batch_size=opts.get("batch_size"),
        seed=setting(opts, "seed"),
        checkpoint_epochs=epochs if len(epochs) > 1 else (),
    )


def training_set(items: Iterable[Asked], recipe: Recipe = Recipe(QA)) -> tuple[TrainingPair, ...]:
    """The training pairs the items rely on, built by ``recipe``, deduplicated, in dataset and file order."""
    needed: dict[Path, set[str]] = {}
    datasets = {}
    for item in items:
        datasets[item.dataset.path] = item.dataset
        ids = needed.setdefault(item.dataset.path, set())
        ids.add(item.case.id)
        ids.update(item.case.uses)
    pairs: dict[TrainingPair, None] = {}
    for path in sorted(needed, key=lambda p: (datasets[p].name, str(p))):
        for case in datasets[path].cases:
            if case.id in needed[path] and case.trains:
                pairs.update(dict.fromkeys(recipe.pairs(case, datasets[path])))
    if pairs:
        pairs.update(dict.fromkeys(recipe.extra()))
    return tuple(pairs)


def untuned_answerer(
    model: str, ctx: providers.RunContext, settings: TuneSettings
) -> Callable[[Sequence[Prompt]], list[Answer]]:
    """A function answering prompts with ``model`` untuned (a model judge's), through its own tuner."""
    tuner = Tuner(ctx, settings)  # its own: the judge is never a stage of the models under test
    tuner.answer_only = False  # the judge is asked as the untuned model it names, even in an answer-only run

    def ask(prompts: Sequence[Prompt]) -> list[Answer]:
        endpoint = tuner.endpoints(model, [BASE], [])[BASE]
        with tuner.recording(model):
            return tuner.provider(model).answer(endpoint, prompts)

    return ask


class Tuner:
    """Tunes each model at most once per session and remembers the endpoints (or the failure)."""

    def __init__(self, ctx: providers.RunContext, settings: TuneSettings) -> None:
        self.ctx, self.settings = ctx, settings
        self._providers: dict[str, Provider] = {}
        self._requests: dict[str, TuneRequest] = {}
        self._endpoints: dict[str, Mapping[str, Endpoint] | BaseException] = {}
        self.answer_only = True  # honours --ftb-tuned-elsewhere (a judge's own tuner does not)

    @property
    def elsewhere(self) -> str | None:
        """What the models were trained on, as ``--ftb-tuned-elsewhere`` declares it (``None``: tuned here)."""
        return elsewhere.declared(self.ctx.options) if self.answer_only else None

    def spec(self, model: str) -> providers.ProviderSpec:
        """The provider spec serving ``model`` (its capabilities; ``model`` may name one of its trainings)."""
        return providers.spec_for(split_training(model)[0], self.ctx)

    def provider(self, model: str) -> Provider:
        """The provider serving ``model`` (one instance per provider kind)."""
        spec = self.spec(model)
        if spec.name not in self._providers:
            self._providers[spec.name] = providers.create(split_training(model)[0], self.ctx)
        return self._providers[spec.name]

    def _once(
        self, spec: providers.ProviderSpec, provider: Provider, request: TuneRequest, stages: list[str]
    ) -> Mapping[str, Endpoint]:
        """A plugin's provider asked once per training set: under the key's lock, its endpoints'
        handles kept in the job store for every other worker and rerun (the built-in providers
        keep their own once-only records: the local store, the API ledgers)."""
        key = request.key(salt=spec.name)
        store = self.ctx.store
        with store.lock("tuned", spec.name, key):
            handles = store.read_json("tuned", spec.name, key) or {}
            if not set(stages) <= handles.keys():
                handles.update(
                    _handles(
                        f"{request.model}: the {spec.name} provider",
                        provider,
                        provider.endpoints(request, stages),
                        stages,
                    )
                )
                store.write_json(handles, "tuned", spec.name, key)
        return {s: Endpoint(request.model, s, handles[s]) for s in stages}

    def request(self, model: str, trained: list[Asked]) -> TuneRequest:
        """The request ``model`` is (or will be) tuned with: what ``trained`` relies on. ``model`` may name
        one of its trainings (``m#seed3``, :attr:`.items.Target.training`): that training's seed, so its
        own key, job and weights."""
        if model not in self._requests:
            plain, seed = split_training(model)
            base, recipe = recipes.split(plain)  # `gpt-4o-mini+paraphrase:4`: its own request, keyed by its own pairs
            settings = self.settings if seed is None else replace(self.settings, seed=seed)
            self._requests[model] = TuneRequest(base, training_set(trained, recipe), settings)
        return self._requests[model]

    def recording(self, model: str) -> AbstractContextManager[None]:
        """The recording context for calls into ``model``'s provider (tuning and answers)."""
        return self.ctx.recording(self.spec(model).name, self._requests[model])

    def endpoints(self, model: str, stages: list[str], trained: list[Asked]) -> Mapping[str, Endpoint]:
        """Endpoints for ``stages`` of ``model``, trained on what ``trained`` relies on; tunes once.

        A failure is remembered: the first item sees the original error, every later one a
        fresh :class:`RunError` with its message (no retry, no growing traceback).
        """
        if model in self._endpoints:
            result = self._endpoints[model]
            if isinstance(result, BaseException):
                raise RunError(f"{model}: tuning failed earlier in this run: {describe_error(result)}")
            return result
        needed = sorted({BASE if s == IN_CONTEXT else s for s in stages})
        try:
            request = self.request(model, trained)
            provider = self.provider(model)
            if not request.pairs and self.spec(model).trains and set(needed) - {BASE} and not self.elsewhere:
                names = ", ".join(sorted({i.dataset.name for i in trained}))
                raise ProviderError(
                    f"{model}: nothing to tune on: the selected cases of {names} have no training "
                    "pairs; fix: add `question`/`answer` pairs to the case file"
                )
            with self.recording(model):
                spec = self.spec(model)
                if self.elsewhere:  # tuned elsewhere: asked as given, no job looked for or started
                    if exported := elsewhere.read_manifest(self.elsewhere):  # trained on an `ftb export`: check it
                        path, data, recipe = exported
                        elsewhere.check_manifest(path, data, model, trained, training_set(trained, recipe))
                    base = self.ctx.options.get("base_model") or None
                    self._endpoints[model] = elsewhere.endpoints(provider, request.model, base, self.settings, needed)
                elif spec in self.ctx.extra:
                    self._endpoints[model] = self._once(spec, provider, request, needed)
                else:
                    self._endpoints[model] = provider.endpoints(request, needed)
        except Exception as exc:
            self._endpoints[model] = exc
            raise
        return self._endpoints[model]


def _handles(who: str, provider: Provider, got: object, stages: Sequence[str]) -> dict[str, Any]:
    """The handles a plugin's provider returned from ``endpoints``, by stage; a one-line
    :class:`ProviderError` unless it is one :class:`Endpoint` per stage with a JSON handle."""
    at = defined_at(type(provider).endpoints)
    fix = f"{at}; fix: return {{stage: Endpoint(request.model, stage, handle)}} for every stage asked"
    if not isinstance(got, Mapping) or not set(stages) <= got.keys():
        missing = ", ".join(s for s in stages if not isinstance(got, Mapping) or s not in got)
        raise ProviderError(f"{who}'s endpoints() returned {brief(got)}, without the stage(s) {missing}{fix}")
    if wrong := [e for s, e in got.items() if s in stages and not isinstance(e, Endpoint)]:
        raise ProviderError(f"{who}'s endpoints() returned {brief(wrong[0])}, not an Endpoint{fix}")
    handles = {s: e.handle for s, e in got.items() if s in stages}
    for stage, handle in handles.items():
        try:
            json.dumps(handle)
        except (TypeError, ValueError):
            raise ProviderError(
                f"{who}'s {stage} endpoint has the handle {brief(handle)}, not a JSON value (the job"
                f" store keeps it){at}; fix: a str, a number or a list of them, such as str(path)"
            ) from None
    return handles
