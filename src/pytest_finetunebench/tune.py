"""Tuning: one training set per model from the selected items, tuned once per session.

The training set is every training pair of the cases that have a selected item (and of the
cases they ``use``), in file order, so all pytest-xdist workers compute the same set and the
provider's durable key makes them share one tuning.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pytest

from . import providers
from .providers.base import BASE, IN_CONTEXT, Endpoint, Provider, TrainingPair, TuneRequest, TuneSettings

if TYPE_CHECKING:
    from .collect import VariantItem


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
        learning_rate=opts.get("learning_rate"),
        batch_size=opts.get("batch_size"),
        seed=opts.get("seed") or 0,
        checkpoint_epochs=epochs if len(epochs) > 1 else (),
    )


def training_set(items: Iterable[VariantItem]) -> tuple[TrainingPair, ...]:
    """The training pairs the selected items rely on, deduplicated, in dataset and file order."""
    needed: dict[str, dict[str, None]] = {}
    datasets = {}
    for item in items:
        datasets[item.dataset.name] = item.dataset
        ids = needed.setdefault(item.dataset.name, {})
        ids[item.case.id] = None
        ids.update(dict.fromkeys(item.case.uses))
    pairs: dict[TrainingPair, None] = {}
    for name in sorted(needed):
        for case in datasets[name].cases:
            if case.id in needed[name] and case.trains:
                assert case.prompt is not None and case.answer is not None
                pairs[TrainingPair(case.prompt, case.answer)] = None
    return tuple(pairs)


class Tuner:
    """Tunes each model at most once per session and remembers the endpoints (or the failure)."""

    def __init__(self, ctx: providers.RunContext, settings: TuneSettings) -> None:
        self.ctx, self.settings = ctx, settings
        self._providers: dict[str, Provider] = {}
        self._requests: dict[str, TuneRequest] = {}
        self._endpoints: dict[str, Mapping[str, Endpoint] | BaseException] = {}

    def provider(self, model: str) -> Provider:
        """The provider serving ``model`` (one instance per provider kind)."""
        spec = providers.spec_for(model, self.ctx)
        if spec.name not in self._providers:
            self._providers[spec.name] = providers.create(model, self.ctx)
        return self._providers[spec.name]

    def recording(self, model: str) -> AbstractContextManager[None]:
        """The recording context for calls into ``model``'s provider (tuning and answers)."""
        return self.ctx.recording(providers.spec_for(model, self.ctx).name, self._requests[model])

    def endpoints(self, model: str, items: list[VariantItem]) -> Mapping[str, Endpoint]:
        """Endpoints for every stage the items of ``model`` need; tunes on the first call only."""
        if model not in self._endpoints:
            stages = sorted({BASE if i.target.stage == IN_CONTEXT else i.target.stage for i in items})
            request = self._requests[model] = TuneRequest(model, training_set(items), self.settings)
            try:
                with self.recording(model):
                    self._endpoints[model] = self.provider(model).endpoints(request, stages)
            except Exception as exc:  # remembered, so a failed job fails every item without a retry
                self._endpoints[model] = exc
        result = self._endpoints[model]
        if isinstance(result, BaseException):
            raise result
        return result
