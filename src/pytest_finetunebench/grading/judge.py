"""An optional model judge: a second opinion on every answer, from a model this plugin can answer with.

``--ftb-judge=MODEL`` asks MODEL, untuned, to judge each answered item from the question (the
prompt that was sent), the gold answer and the answer given, with :data:`JUDGE_PROMPT` (our own
wording; FineTuneBench's authors judged from the same inputs). The rule grader stays the default:
the report shows the judge's accuracy beside the rules' and their agreement, and
``--ftb-grader=judge`` makes the judge's verdict the one that counts.

Judge calls go through the judge model's provider like answers do: one batch per answered
target, concurrent where the provider is, recorded in cassettes (the judge model's own cassette,
keyed by an empty training set), and cached in the job store by (judge model, question, gold,
answer), so a rerun asks only what it has not judged before. A judge that fails or replies with
anything but CORRECT / INCORRECT gives no verdict: under ``--ftb-grader=judge`` that item is a run
error, never a silent pass.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

from ..items import JudgeVerdict
from ..providers import RunContext
from ..providers.base import Answer, Prompt
from .outcome import describe_error

JUDGE_PROMPT = """\
You are checking a quiz answer against the answer key.

Question (as it was asked):
{question}

Answer key: {gold}

Answer given: {answer}

The answer given is CORRECT when it states what the answer key states; other wording, units or \
extra context that does not contradict the key are fine. It is INCORRECT when it states \
something else, offers several alternatives, or gives no answer. When the answer key is "None", \
the question asks about something that did not happen: only an answer that declines, or says it \
did not happen, is CORRECT.

Reply with one word: CORRECT or INCORRECT."""

GRADERS = ("rules", "judge")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True, slots=True)
class ToJudge:
    """One answered item: its key, the prompt that was sent, the gold answer and the answer given."""

    key: str
    question: str
    gold: str
    answer: str


def parse(model: str, reply: str | None) -> JudgeVerdict:
    """CORRECT / INCORRECT (its first word, any case) -> a verdict; anything else -> no verdict."""
    word = _WORD.search(reply or "")
    said = word.group(0).upper() if word else ""
    if said in ("CORRECT", "INCORRECT"):
        return JudgeVerdict(said == "CORRECT", f"judge {model}: {said.lower()}")
    return JudgeVerdict(
        None, f"judge {model} replied neither CORRECT nor INCORRECT: {' '.join((reply or '').split())[:60]!r}"
    )


def judge_context(ctx: RunContext) -> RunContext:
    """The session's context for the judge: the same store and recording, no published answers."""
    return replace(ctx, options={**ctx.options, "responses": None})


class Judge:
    """Judges batches of answers with one model, caching verdicts in the job store."""

    def __init__(self, model: str, ctx: RunContext, ask: Callable[[Sequence[Prompt]], list[Answer]]) -> None:
        """``ask`` answers prompts with the untuned judge model (the session gives it: a judge asks a
        model, it never runs the evaluation); ``ctx`` gives the job store its verdicts are kept in."""
        self.model, self.ctx, self.ask = model, ctx, ask

    def _cache_key(self, item: ToJudge) -> str:
        blob = json.dumps([self.model, item.question, item.gold, item.answer], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def verdicts(self, items: Sequence[ToJudge]) -> dict[str, JudgeVerdict]:
        """A verdict per item key; items judged before (same judge and texts) come from the cache."""
        store, slug = self.ctx.store, re.sub(r"[^A-Za-z0-9._-]+", "_", self.model)[:60]
        out: dict[str, JudgeVerdict] = {}
        missing = []
        for item in items:
            cached = store.read_json("judge", slug, self._cache_key(item))
            if cached is None:
                missing.append(item)
            else:
                out[item.key] = JudgeVerdict(**cached)
        if not missing:
            return out
        try:
            prompts = [
                Prompt(i.key, JUDGE_PROMPT.format(question=i.question, gold=i.gold, answer=i.answer)) for i in missing
            ]
            replies = self.ask(prompts)
        except Exception as exc:  # the judge failing is no verdict for each item, never a crash of the batch
            failed = JudgeVerdict(None, f"judge {self.model} failed: {describe_error(exc)}")
            return {**out, **{i.key: failed for i in missing}}
        for item, reply in zip(missing, replies):
            if reply.error or reply.skip:
                verdict = JudgeVerdict(None, f"judge {self.model} failed: {reply.error or reply.skip}")
            else:
                verdict = parse(self.model, reply.text)
            if verdict.passed is not None:
                store.write_json(asdict(verdict), "judge", slug, self._cache_key(item))
            out[item.key] = verdict
        return out
