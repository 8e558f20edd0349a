"""One item's outcome: grade the answer, record it for reports and JUnit, fail it readably."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import pytest

from ..cases.schema import linked_groups
from ..items import Asked, JudgeVerdict, stage_label
from ..providers.base import Answer, ProviderError
from ..usercode import describe as describe_user_error
from .grade import grade
from .matching import Matcher, MatcherError

PREFIX = "ftb_"
_OPTIONAL = frozenset(
    {
        "error",
        "in_form",
        "rule_passed",
        "judge_passed",
        "judge_reason",
        "precision",
        "nll",
        "generated_in",
        "group",
        "seed",
    }
)


@dataclass(frozen=True, slots=True)
class Record:
    """Everything reports need about one graded (or errored) item."""

    model: str
    stage: str
    dataset: str
    case_id: str
    split: str
    question: str
    expected: str
    answer: str | None
    passed: bool
    matcher: str
    score: float
    reason: str
    error: str | None = None
    in_form: bool | None = None  # the answer had the form the question asks for (None: no answer graded)
    # with --ftb-judge: the rule grader's and the judge's verdicts (``passed`` is the one that counts)
    rule_passed: bool | None = None
    judge_passed: bool | None = None
    judge_reason: str | None = None
    precision: str | None = None  # local models: the answering model's training precision (fp32, bf16)
    nll: float | None = None  # local models asked the retention split: the model's mean NLL of the general text
    generated_in: str | None = None  # local models: what the answer was generated in (none: chosen by likelihood)
    group: str | None = None  # the case's linked group (cases.schema.linked_groups) when it links to others
    seed: int | None = None  # with --ftb-seeds above 1: the seed of the training that answered (None: untuned)

    @property
    def cluster(self) -> tuple[str, str]:
        """What intervals resample as one unit: the linked group, or the case alone."""
        return self.dataset, self.group or self.case_id

    @property
    def target(self) -> str:
        """The model and stage as reports name them."""
        return stage_label(self.model, self.stage)

    def properties(self) -> list[tuple[str, Any]]:
        """Flat ``ftb_*`` user properties: they reach JUnit XML and cross xdist as they are."""
        return [(PREFIX + k, v) for k, v in asdict(self).items()]

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Record:
        """A record from a JSON report's or saved run's item (other keys, such as ``target``, left out)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in item.items() if k in names})

    @classmethod
    def from_properties(cls, props: Iterable[tuple[str, Any]]) -> Record | None:
        """Rebuild a record from a report's user properties (``None`` if the item has none)."""
        found = {k[len(PREFIX) :]: v for k, v in props if k.startswith(PREFIX)}
        names = {f.name for f in fields(cls)}
        if not names - _OPTIONAL <= found.keys():
            return None
        return cls(**{k: v for k, v in found.items() if k in names})


class WrongAnswer(AssertionError):
    """The model answered, and the answer does not match."""

    def __init__(self, record: Record) -> None:
        super().__init__(record.reason)
        self.record = record


class RunError(Exception):
    """The run itself failed for this item (a failed job, an API error): not a wrong answer."""


class UserCodeError(RunError):
    """A team's own code (its provider, matcher or recipe) failed for this item: one line, the
    full traceback (its ``__cause__``) only under ``-v`` or ``--tb=long``."""


def failed(item: Asked, message: str, cause: BaseException, answer: str | None = None, **measured: Any) -> RunError:
    """Record ``item`` as an error (it stays counted: the errors column, every output) and return
    the run error to raise: a :class:`UserCodeError` unless ``cause`` was already a one-line one."""
    record = Record(
        **_asked(item),
        answer=answer,
        passed=False,
        matcher=item.variant.matcher,
        score=0.0,
        reason="error",
        error=message,
        **measured,
    )
    item.user_properties.extend(record.properties())
    return RunError(message) if isinstance(cause, (RunError, ProviderError)) else UserCodeError(message)


def judge(
    item: Asked,
    answer: Answer,
    second: JudgeVerdict | None = None,
    grader: str = "rules",
    precision: str | None = None,
    nll: float | None = None,
    generated_in: str | None = None,
    matchers: Mapping[str, Matcher] | None = None,
) -> Record:
    """Grade ``answer`` for ``item``; record it; skip, error or fail the item as it deserves.

    ``second`` is the model judge's verdict (``--ftb-judge``); with ``grader="judge"`` it is the
    verdict that counts, and a missing one makes the item a run error. The verdict that counts
    decides both the record and the item's pass or fail. ``precision``, ``nll`` and ``generated_in``
    are what was measured of the answering model (local models); ``matchers`` the ones added by hooks.
    """
    if answer.skip:
        pytest.skip(answer.skip)
    variant = item.variant
    base = dict(**_asked(item), precision=precision, nll=nll, generated_in=generated_in)
    if answer.error is not None:
        record = Record(
            **base, answer=None, passed=False, matcher=variant.matcher, score=0.0, reason="error", error=answer.error
        )
        item.user_properties.extend(record.properties())
        raise RunError(answer.error)
    try:
        verdict = grade(variant.answer, answer.text, variant.matcher, question=variant.prompt, extra=matchers)
    except Exception as exc:  # a team's matcher raised or returned a non-bool: this item's error, still counted
        message = (
            str(exc)
            if isinstance(exc, MatcherError)
            else f"matcher `{variant.matcher}` raised {describe_user_error(exc)}"
        )
        raise failed(item, message, exc, answer.text, precision=precision, nll=nll, generated_in=generated_in) from exc
    reason = verdict.reason
    before = item.case.answer_before
    if answer.tie:
        reason = f"tie: {answer.tie}"
    elif (
        not verdict.passed
        and before
        and variant.answer == item.case.answer
        and grade(before, answer.text, question=variant.prompt).passed
    ):
        reason = f"gave the answer from before the update ({before!r}); {reason}"
    graded: dict[str, Any] = {"in_form": verdict.in_form}
    if second is not None:
        graded.update(rule_passed=verdict.passed, judge_passed=second.passed, judge_reason=second.reason)
    if grader == "judge":
        if second is None or second.passed is None:
            error = second.reason if second else "no judge verdict for this answer"
            record = Record(
                **base,
                answer=answer.text,
                passed=False,
                matcher="judge",
                score=0.0,
                reason="error",
                error=error,
                **graded,
            )
            item.user_properties.extend(record.properties())
            raise RunError(error)
        record = Record(
            **base,
            answer=answer.text,
            passed=second.passed,
            matcher="judge",
            score=float(second.passed),
            reason=f"{second.reason} (rules: {reason})",
            **graded,
        )
    else:
        record = Record(
            **base,
            answer=answer.text,
            passed=verdict.passed,
            matcher=verdict.matcher,
            score=verdict.score,
            reason=reason,
            **graded,
        )
    item.user_properties.extend(record.properties())
    if not record.passed:
        raise WrongAnswer(record)
    return record


def _asked(item: Asked) -> dict[str, Any]:
    """The fields that say which item a record is: who (which training) was asked what, the gold
    answer, and the linked group that intervals resample it with."""
    variant, target = item.variant, item.target
    return dict(
        model=target.model,
        stage=target.stage,
        dataset=item.dataset.name,
        case_id=item.case.id,
        split=variant.split,
        question=variant.question,
        expected=variant.answer,
        group=_group(item),
        seed=target.seed,
    )


def _group(item: Asked) -> str | None:
    """The item's linked group when its case links to other cases (``None``: the case alone)."""
    group = linked_groups({c.id: c.uses for c in item.dataset.cases})[item.case.id]
    return None if group == item.case.id else group


def describe_error(exc: BaseException) -> str:
    """An error as one line: a provider's own message as is, anything else with its type."""
    return str(exc) if isinstance(exc, (RunError, ProviderError)) else describe_user_error(exc)


def describe(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    """A failure as a person wants to read it, or ``None`` for pytest's own traceback."""
    exc = excinfo.value
    if isinstance(exc, WrongAnswer):
        r = exc.record
        return "\n".join(
            (
                f"wrong answer from {r.target} on {r.dataset}/{r.case_id} [{r.split}]",
                f"  question: {r.question}",
                f"  expected: {r.expected}",
                f"  got:      {r.answer!r}",
                f"  matcher:  {r.matcher}: {r.reason}",
            )
        )
    if isinstance(exc, (RunError, ProviderError)):
        return f"run error: {exc}"
    return None
