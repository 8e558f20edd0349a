"""Answering: all selected items of a target are answered in one batch, before the first runs.

Under pytest-xdist every worker collects every item, so the first worker to reach a target
answers the whole batch and leaves it in the job store for the others (scoped to the run).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from ..cases.schema import RETENTION
from ..grading.grade import choose_matcher
from ..grading.judge import Judge, JudgeVerdict, ToJudge
from ..grading.matching import Matcher
from ..grading.outcome import RunError, describe_error
from ..items import BASE, IN_CONTEXT, LIKELIHOOD, Asked, Target, scoring_of
from ..providers import RunContext
from ..providers.base import Answer, Endpoint, Prompt, ProviderError, Scorer, TuneRequest, TuneSettings
from ..suites import forgetting_text
from ..usercode import brief, defined_at
from .tune import Tuner

IN_CONTEXT_PREAMBLE = "Use these facts to answer.\n"
# Two choices whose log-likelihoods differ by less than this are a tie, not an answer: scores
# agree within 1e-4 nats whatever the batch (local models score in fp32), so a smaller margin is
# numeric noise, and picking either choice would be a coin toss the report could not show.
TIE_NATS = 1e-3


def in_context_prompt(item: Asked) -> str:
    """The variant's prompt with the facts of its case (and the cases it uses) placed before it."""
    cases = [item.case] + [item.dataset.case(u) for u in item.case.uses]
    facts = [c.fact or f"{c.question} {c.answer}" for c in cases if c.fact or c.trains]
    return IN_CONTEXT_PREAMBLE + "\n".join(facts) + "\n\n" + item.variant.prompt


class Evaluation:
    """Session state: the selected items by target, the tuner, and the answers fetched so far."""

    def __init__(
        self,
        ctx: RunContext,
        settings: TuneSettings,
        run_id: str | None = None,
        judge: Judge | None = None,
        grader: str = "rules",
        matchers: Mapping[str, Matcher] | None = None,
    ) -> None:
        self.ctx = ctx
        self.tuner = Tuner(ctx, settings)
        self.run_id = run_id  # set under pytest-xdist: answers are shared through the store
        self.judge = judge  # --ftb-judge: each batch of answers is judged right after it is answered
        self.grader = grader  # whose verdict counts: "rules" (grade.py) or "judge"
        self.matchers = dict(matchers or {})  # added by the pytest_ftb_matchers hook, by name
        self._by_target: dict[Target, list[Asked]] = defaultdict(list)
        self._collected: dict[str, list[Asked]] = defaultdict(list)
        self._answers: dict[Target, Batch | BaseException] = {}

    def collected(self, items: Sequence[Asked]) -> None:
        """Remember every collected item, before deselection: they decide the training set."""
        for item in items:
            self._collected[item.target.training].append(item)

    def plan(self, items: Sequence[Asked]) -> None:
        """Remember the final selection (after -k, -m, --lf and deselection): these are asked."""
        for item in items:
            self._by_target[item.target].append(item)

    @property
    def models(self) -> list[str]:
        """Trainings (models, each seed apart with ``--ftb-seeds``) with at least one selected item."""
        return list(dict.fromkeys(t.training for t in self._by_target))

    def request(self, model: str) -> TuneRequest:
        """The tuning request of ``model``, from what was collected."""
        return self.tuner.request(model, self._collected[model])

    def answer(self, item: Asked) -> Answer:
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
        batch = self._answers[target]
        if isinstance(batch, BaseException):
            raise RunError(describe_error(batch))
        return batch.answers[item.nodeid]

    def measured(self, item: Asked) -> dict[str, Any]:
        """What was measured of ``item``'s answering model (local models): its precision, what its
        answers were generated in and, with the retention split, its NLL of the general text; empty
        before its batch is answered."""
        batch = self._answers.get(item.target)
        if batch is None or isinstance(batch, BaseException):
            return {}
        return {"precision": batch.precision, "generated_in": batch.generated_in, "nll": batch.nll}

    def verdict(self, item: Asked) -> JudgeVerdict | None:
        """The model judge's verdict on ``item``'s answer (``None`` without ``--ftb-judge`` or an answer)."""
        batch = self._answers.get(item.target)
        return None if batch is None or isinstance(batch, BaseException) else batch.verdicts.get(item.nodeid)

    def _fetch(self, target: Target) -> Batch:
        if self.run_id is None:
            return self._ask(target)
        # named by what determines the answers (training, target, the items asked), so a rerun that
        # happens to share the xdist run id never reuses another run's answers
        what = "\n".join(
            [self.request(target.training).key(), target.label, *(i.nodeid for i in self._by_target[target])]
        )
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", target.label)[:60]
        name = f"{slug}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"
        store = self.ctx.store
        with store.lock("answers", self.run_id, name):
            cached = store.read_json("answers", self.run_id, name)
            if cached is not None:
                return Batch(
                    {k: Answer(**v) for k, v in cached["answers"].items()},
                    {k: JudgeVerdict(**v) for k, v in cached["verdicts"].items()},
                    cached["precision"],
                    cached["nll"],
                    cached["generated_in"],
                )
            batch = self._ask(target)
            store.write_json(
                {
                    "answers": {k: asdict(v) for k, v in batch.answers.items()},
                    "verdicts": {k: asdict(v) for k, v in batch.verdicts.items()},
                    "precision": batch.precision,
                    "nll": batch.nll,
                    "generated_in": batch.generated_in,
                },
                "answers",
                self.run_id,
                name,
            )
            return batch

    def _ask(self, target: Target) -> Batch:
        items = self._by_target[target]
        stages = [scoring_of(t.stage)[0] for t in self._by_target if t.training == target.training]
        endpoints = self.tuner.endpoints(target.training, stages, self._collected[target.training])
        stage, scoring = scoring_of(target.stage)
        endpoint = endpoints[BASE if stage == IN_CONTEXT else stage]
        render = in_context_prompt if stage == IN_CONTEXT else (lambda i: i.variant.prompt)
        prompts = [Prompt(item.nodeid, render(item)) for item in items]
        provider = self.tuner.provider(target.training)
        nll = None
        with self.tuner.recording(target.training):
            if scoring == LIKELIHOOD:
                answers = by_likelihood(provider, endpoint, prompts, items)  # type: ignore[arg-type]
            else:
                answers = provider.answer(endpoint, prompts)
                if (
                    stage != IN_CONTEXT
                    and self.tuner.spec(target.training).nll
                    and any(i.variant.split == RETENTION for i in items)
                ):
                    nll = provider.nll(endpoint, forgetting_text())  # type: ignore[attr-defined]
        answers = list(answers)
        if len(answers) != len(prompts):
            raise ProviderError(
                f"{target.label}: the {provider.name} provider returned {len(answers)} answers for {len(prompts)}"
                " prompts; fix: return one Answer per prompt, in order"
            )
        if wrong := [a for a in answers if not isinstance(a, Answer)]:
            raise ProviderError(
                f"{target.label}: the {provider.name} provider's answer() returned {brief(wrong[0])}, not an Answer"
                f"{defined_at(type(provider).answer)}; fix: return [Answer(text), ...], one per prompt"
            )
        by_key = {p.key: a for p, a in zip(prompts, answers)}
        verdicts = {}
        if self.judge is not None:
            asked = [
                ToJudge(p.key, p.text, item.variant.answer, a.text)
                for p, a, item in zip(prompts, answers, items)
                if a.text and not (a.error or a.skip)
            ]
            verdicts = self.judge.verdicts(asked)
        generated_in = endpoint.generates_in if scoring != LIKELIHOOD else None
        return Batch(by_key, verdicts, endpoint.precision, nll, generated_in)


def closed_choices(item: Asked) -> list[str] | None:
    """The answers a closed question chooses between: Yes/No, or the decline vs the trained value."""
    matcher = item.variant.matcher if item.variant.matcher != "auto" else choose_matcher(item.variant.answer)
    if matcher == "yes_no":
        return ["Yes", "No"]
    if matcher == "abstain" and item.case.answer:
        return ["None", item.case.answer]
    return None


def by_likelihood(provider: Scorer, endpoint: Endpoint, prompts: list[Prompt], items: Sequence[Asked]) -> list[Answer]:
    """Answers chosen by log-likelihood for closed questions; the others are skipped with the reason.

    Like lm-evaluation-harness's multiple-choice scoring: each choice is scored as the model's whole
    reply to the prompt, and the likeliest is the answer, graded like a generated one. When the two
    likeliest lie within :data:`TIE_NATS`, the answer is a tie: no text, graded wrong, the scores shown.
    """
    closed = [(k, p, choices) for k, (p, item) in enumerate(zip(prompts, items)) if (choices := closed_choices(item))]
    answers = [
        Answer(None, skip="likelihood scoring covers closed questions only (yes/no, decline vs the trained value)")
        for _ in prompts
    ]
    if closed:
        scores = provider.score(endpoint, [p for _, p, _ in closed], [c for _, _, c in closed])
        for (k, _, choices), row in zip(closed, scores):
            if any(math.isnan(v) for v in row):  # the provider could not score these choices (see its score())
                answers[k] = Answer(
                    None,
                    skip=f"{endpoint.model} cannot score {' vs '.join(choices)} by likelihood here (see the "
                    "provider's score)",
                )
            else:
                answers[k] = pick(choices, row)
    return answers


def pick(choices: Sequence[str], scores: Sequence[float]) -> Answer:
    """The likeliest choice, or a tie when the runner-up is within :data:`TIE_NATS` of it."""
    ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    best = ranked[0]
    close = [j for j in ranked[1:] if scores[best] - scores[j] < TIE_NATS]
    if not close:
        return Answer(choices[best])
    shown = " vs ".join(f"{choices[j]} {scores[j]:.5f}" for j in [best, *close])
    return Answer(None, tie=f"{shown} nats (closer than {TIE_NATS:g}: no choice)")


@dataclass(frozen=True)
class Batch:
    """One target's answers by item node id, the model judge's verdicts on them (if any), what was measured."""

    answers: dict[str, Answer]
    verdicts: dict[str, JudgeVerdict] = field(default_factory=dict)
    precision: str | None = None  # local models: what the answering model was trained in
    nll: float | None = None  # local models asked the retention split: mean NLL of the general text
    generated_in: str | None = None  # local models: what the answers were generated in (none: scored)


EVALUATION = pytest.StashKey[Evaluation]()
