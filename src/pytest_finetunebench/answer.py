"""Answering: all selected items of a target are answered in one batch, before the first runs.

Under pytest-xdist every worker collects every item, so the first worker to reach a target
answers the whole batch and leaves it in the job store for the others (scoped to the run).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import asdict
from typing import TYPE_CHECKING, Sequence

import pytest

from .providers import RunContext
from .providers.base import BASE, IN_CONTEXT, Answer, Prompt, TuneRequest, TuneSettings
from .outcome import RunError, describe_error
from .tune import Tuner

if TYPE_CHECKING:
    from .collect import Target, VariantItem

IN_CONTEXT_PREAMBLE = "Use these facts to answer.\n"


def in_context_prompt(item: VariantItem) -> str:
    """The variant's prompt with the facts of its case (and the cases it uses) placed before it."""
    cases = [item.case] + [item.dataset.case(u) for u in item.case.uses]
    facts = [c.fact or f"{c.question} {c.answer}" for c in cases if c.fact or c.trains]
    return IN_CONTEXT_PREAMBLE + "\n".join(facts) + "\n\n" + item.variant.prompt


class Evaluation:
    """Session state: the selected items by target, the tuner, and the answers fetched so far."""

    def __init__(self, ctx: RunContext, settings: TuneSettings, run_id: str | None = None) -> None:
        self.ctx = ctx
        self.tuner = Tuner(ctx, settings)
        self.run_id = run_id  # set under pytest-xdist: answers are shared through the store
        self._by_target: dict[Target, list[VariantItem]] = defaultdict(list)
        self._collected: dict[str, list[VariantItem]] = defaultdict(list)
        self._answers: dict[Target, dict[str, Answer] | BaseException] = {}

    def collected(self, items: Sequence[VariantItem]) -> None:
        """Remember every collected item, before deselection: they decide the training set."""
        for item in items:
            self._collected[item.target.model].append(item)

    def plan(self, items: Sequence[VariantItem]) -> None:
        """Remember the final selection (after -k, -m, --lf and deselection): these are asked."""
        for item in items:
            self._by_target[item.target].append(item)

    @property
    def models(self) -> list[str]:
        """Models with at least one selected item."""
        return list(dict.fromkeys(t.model for t in self._by_target))

    def request(self, model: str) -> TuneRequest:
        """The tuning request of ``model``, from what was collected."""
        return self.tuner.request(model, self._collected[model])

    def answer(self, item: VariantItem) -> Answer:
        """The answer for ``item``, fetching its target's whole batch on first use.

        A failure is remembered per target: the first item sees the original error, the others
        a fresh :class:`RunError` with its message, and the batch is not asked again.
        """
        target = item.target
        if target not in self._answers:
            try:
                self._answers[target] = self._fetch(target)
            except Exception as exc:
                self._answers[target] = exc
                raise
        answers = self._answers[target]
        if isinstance(answers, BaseException):
            raise RunError(describe_error(answers))
        return answers[item.nodeid]

    def _fetch(self, target: Target) -> dict[str, Answer]:
        if self.run_id is None:
            return self._ask(target)
        # named by what determines the answers (training, target, the items asked), so a rerun that
        # happens to share the xdist run id never reuses another run's answers
        what = "\n".join([self.request(target.model).key(), target.label, *(i.nodeid for i in self._by_target[target])])
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", target.label)[:60]
        name = f"{slug}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"
        store = self.ctx.store
        with store.lock("answers", self.run_id, name):
            cached = store.read_json("answers", self.run_id, name)
            if cached is not None:
                return {k: Answer(**v) for k, v in cached.items()}
            answers = self._ask(target)
            store.write_json({k: asdict(v) for k, v in answers.items()}, "answers", self.run_id, name)
            return answers

    def _ask(self, target: Target) -> dict[str, Answer]:
        items = self._by_target[target]
        stages = [t.stage for t in self._by_target if t.model == target.model]
        endpoints = self.tuner.endpoints(target.model, stages, self._collected[target.model])
        endpoint = endpoints[BASE if target.stage == IN_CONTEXT else target.stage]
        render = in_context_prompt if target.stage == IN_CONTEXT else (lambda i: i.variant.prompt)
        prompts = [Prompt(item.nodeid, render(item)) for item in items]
        with self.tuner.recording(target.model):
            answers = self.tuner.provider(target.model).answer(endpoint, prompts)
        if len(answers) != len(prompts):
            raise RuntimeError(f"{target.label}: the provider returned {len(answers)} answers for {len(prompts)} prompts")
        return {p.key: a for p, a in zip(prompts, answers)}


EVALUATION = pytest.StashKey[Evaluation]()
