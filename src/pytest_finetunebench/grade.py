"""Grading a model's answer against the gold answer.

``grade(expected, answer, matcher)`` returns a :class:`Verdict`. The matchers (the names of
``cases.MATCHERS``) all compare :func:`normalize`-d text (see ``normalize.py``):

``exact``
    Normalized equality. "$150 million" == "150 million dollars", "seven" == "7".
``number``
    The gold is one quantity. The answer passes when it states that value and nothing that
    contradicts it. In detail:

    * a stated quantity *matches* when its value equals the gold's and its unit is the
      gold's or either side has none ("185 cm" for 185, "32 years old" for 32). When exactly
      one side has a scale word the number as written may match too ("150" for "150 million
      dollars"): the question usually fixes the scale. "150 thousand" never matches "150 million".
    * a match written right after a negation ("not 150", "rather than 150") fails.
    * any other stated quantity *of the same kind* as the match is a conflict and fails the
      answer ("between 120 and 150 million", "not 150 but 170", "185 cm, maybe 190 cm").
      A quantity the answer itself rejects ("150 million, not 170 million") is no conflict.
      Same kind means the same dimension (length, mass, money, time, ...); for unitless
      numbers, unitless numbers - except that a bare 1000-2100 integer counts as a year and
      not as a count ("The 2024 repairs cost 150 million dollars" passes for 150 million).
    * a same-kind quantity in another unit that converts to the match within 1.5% is a
      restatement, not a conflict: "6'1\\" (185 cm)" passes for 185 because 6'1" is 185.4 cm.
      The answer must still state the gold number itself: "6'1\\"" alone fails for 185 (the
      gold carries no unit, so nothing says 185 is centimetres).
``yes_no``
    The gold is yes or no; the answer must say that word (yes/yeah/yep or no/nope) and not
    the other. Both or neither fails.
``abstain``
    Passes only when the model declines ("None", "I don't know", "unknown", "no such event",
    "There is no record of ...", "cannot be answered", "N/A", ...) and does not go on to
    guess ("I'm not sure, probably 150" fails). Any concrete answer fails.
``contains``
    The normalized gold occurs in the normalized answer on word boundaries ("pilot" in "She
    is a pilot", not in "copilot"), and is not contradicted: an occurrence right after a
    negation ("not Velmora"), offered as one of alternatives ("Velmora or Ostrin"), or - for
    a gold with a number - any conflicting quantity by the ``number`` rules above fails.
    An answer that is a truncation of the gold never contains it.
``fuzzy``
    rapidfuzz ``token_set_ratio`` of the normalized texts at or above ``fuzzy_threshold``.
``auto``
    Chosen from the gold's form by :func:`choose_matcher`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import fuzz

from .cases import MATCHERS
from .normalize import Analyzed, Quantity, analyze, fold, normalize

__all__ = ["Verdict", "choose_matcher", "grade", "normalize"]

LONG_TEXT_WORDS = 6  # a gold of this many normalized words or more is graded with ``fuzzy``
_CONVERSION_TOLERANCE = 0.015

_YES = frozenset({"yes", "yeah", "yep", "yup"})
_NO = frozenset({"no", "nope"})
_DECLINE = re.compile(
    r"""
    ^\W*(?:none|n/?a|null|nil|nothing|no\ one|nobody|unknown|not\ applicable|not\ available
        |no\ answer|unanswerable|no\ data|no\ information)\b
  | \bi\ (?:do\ not|don'?t|cannot|can'?t)\ (?:know|say|tell|find|answer|determine|provide|confirm|verify)
  | \bi\ (?:do\ not|don'?t)\ have\ (?:any\ )?(?:information|data|knowledge|records?|details)
  | \b(?:i'?m|i\ am)\ (?:not\ sure|unsure|unable|not\ able)
  | \bunknown\b | \bunanswerable\b | \bn/a\b | \bnot\ applicable\b
  | \bno\ such\b
  | \bthere\ (?:is|are|was|were)\ no\ (?:known\ |public\ |available\ |such\ )?
        (?:records?|information|data|evidence|mention|reports?|details|answer|way)
  | \bno\ (?:records?|information|data|details)\ (?:of|on|about|available|exists?|for)\b
  | \b(?:cannot|can'?t|can\ not|unable\ to|not\ possible\ to|impossible\ to)\ (?:be\ )?
        (?:answer|determine|know|say|find|provide|confirm|verify)\w*
  | \b(?:not|insufficient)\ (?:enough\ )?(?:sufficient\ )?(?:information|data|context)
  | \b(?:did\ not|didn'?t|does\ not|doesn'?t|has\ not|hasn'?t|have\ not|haven'?t)\ (?:yet\ )?
        (?:happen|happened|take\ place|taken\ place|occur|occurred|exist|been\ (?:announced|reported|released|disclosed|determined))
  | \bnot\ (?:yet\ )?(?:been\ )?(?:known|disclosed|reported|announced|recorded|documented)\b
    """,
    re.VERBOSE,
)
_GUESS = re.compile(
    r"\b(?:probably|likely|perhaps|maybe|possibly|approximately|roughly|my (?:best )?guess|i (?:would )?guess"
    r"|i think (?:it|the|that)|i believe (?:it|the|that)|could be|might be|estimated)\b"
)
_NEGATED_BEFORE = re.compile(
    r"\b(?:not|never|no longer|rather than|instead of|isnt|wasnt|arent|werent|dont|doesnt|didnt|cant|cannot"
    r"|wont|hasnt|havent|hadnt)(?: (?:about|around|approximately|exactly|quite|really|just|only|even))? $"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of grading one answer."""

    passed: bool
    score: float  # 0..1
    matcher: str  # the matcher actually used (for auto: the one it chose)
    reason: str  # short and human


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pure_quantity(gold: Analyzed) -> bool:
    return len(gold.quantities) == 1 and gold.text == normalize(str(gold.quantities[0]))


def choose_matcher(expected: str) -> str:
    """The matcher ``auto`` uses for this gold: abstain, yes_no, number, contains or fuzzy."""
    gold = analyze(expected)
    if gold.text == "none":
        return "abstain"
    if gold.text in ("yes", "no"):
        return "yes_no"
    if _pure_quantity(gold):
        return "number"
    if len(gold.text.split()) >= LONG_TEXT_WORDS:
        return "fuzzy"
    return "contains"


def _verdict(passed: bool, matcher: str, reason: str) -> Verdict:
    return Verdict(passed, 1.0 if passed else 0.0, matcher, reason)


def _miss(expected: str, answer: str, gold: str, got: str, matcher: str) -> Verdict:
    """A failed text match; a truncated gold is named as such."""
    if got and gold.startswith(got):
        return _verdict(False, matcher, f"truncated name: {_clip(answer.strip())!r} is not {_clip(expected.strip())!r}")
    return _verdict(False, matcher, f"expected {_clip(expected.strip())!r}, got {_clip(answer.strip())!r}")


def _exact(expected: str, answer: str) -> Verdict:
    gold, got = analyze(expected).text, analyze(answer).text
    if gold == got:
        return _verdict(True, "exact", f"{_clip(got)!r} matches exactly")
    return _miss(expected, answer, gold, got, "exact")


def _same_value(q: Quantity, gold: Quantity) -> bool:
    if q.unit and gold.unit and q.unit != gold.unit:
        return False
    return q.value == gold.value or (q.scaled != gold.scaled and q.mantissa == gold.mantissa)


def _kind(q: Quantity, gold_is_year: bool) -> str:
    return q.dim or ("year" if q.yearlike and not gold_is_year else "count")


def _restates(q: Quantity, match: Quantity) -> bool:
    a, b = q.in_base(), match.in_base()
    return a is not None and b is not None and q.dim == match.dim and abs(a - b) <= _CONVERSION_TOLERANCE * abs(b)


def _check_quantities(gold: Quantity, stated: tuple[Quantity, ...], matcher: str) -> Verdict:
    """The number rules (module docstring) for one gold quantity against an answer's quantities."""
    matches = [q for q in stated if _same_value(q, gold)]
    if not matches:
        got = f"got {stated[0].display()}" if stated else "no number in the answer"
        return _verdict(False, matcher, f"expected {gold.display()}, {got}")
    match = matches[0]
    if any(q.negated for q in matches):
        return _verdict(False, matcher, f"contradicted: the answer says not {match.display()}")
    gold_is_year = gold.yearlike
    kind = match.dim or gold.dim or _kind(match, gold_is_year)
    for q in stated:
        if q not in matches and not q.negated and _kind(q, gold_is_year) == kind and not _restates(q, match):
            return _verdict(False, matcher, f"states {match.display()} but also {q.display()}")
    return _verdict(True, matcher, f"number {gold.display()} matches {match.display()}")


def _number(expected: str, answer: str) -> Verdict:
    gold = analyze(expected).quantities
    if not gold:
        raise ValueError(f"matcher `number` needs a numeric gold answer, got {expected!r}")
    return _check_quantities(gold[0], analyze(answer).quantities, "number")


def _yes_no(expected: str, answer: str) -> Verdict:
    gold = analyze(expected).text
    if gold not in ("yes", "no"):
        raise ValueError(f"matcher `yes_no` needs a gold of Yes or No, got {expected!r}")
    words = set(analyze(answer).text.split())
    said_yes, said_no = bool(words & _YES), bool(words & _NO)
    if said_yes and said_no:
        return _verdict(False, "yes_no", "says both yes and no")
    if not (said_yes or said_no):
        return _verdict(False, "yes_no", f"says neither yes nor no: {_clip(answer.strip())!r}")
    said = "yes" if said_yes else "no"
    return _verdict(said == gold, "yes_no", f"answered {said}" if said == gold else f"expected {gold}, got {said}")


def _abstain(expected: str, answer: str) -> Verdict:  # the gold is "None"; only the answer counts
    text = fold(answer).strip()
    declined = _DECLINE.search(text)
    if not declined:
        return _verdict(False, "abstain", f"expected a decline, got {_clip(answer.strip())!r}")
    guess = _GUESS.search(text)
    if guess:
        return _verdict(False, "abstain", f"declines but guesses: {guess.group(0)!r}")
    return _verdict(True, "abstain", f"declined: {_clip(declined.group(0).strip(), 30)!r}")


def _occurrences(needle: str, text: str) -> list[int]:
    """Where ``needle`` occurs in ``text`` on word boundaries (both normalized: single spaces)."""
    padded, target = f" {text} ", f" {needle} "
    hits, at = [], padded.find(target) if needle else -1
    while at >= 0:
        hits.append(at)
        at = padded.find(target, at + 1)
    return hits


def _contains(expected: str, answer: str) -> Verdict:
    gold, got = analyze(expected), analyze(answer)
    if gold.text == got.text:
        return _verdict(True, "contains", f"{_clip(got.text)!r} matches exactly")
    hits = _occurrences(gold.text, got.text)
    if not hits:
        return _miss(expected, answer, gold.text, got.text, "contains")
    for start in hits:
        before, after = got.text[:start], got.text[start + len(gold.text) :]
        if _NEGATED_BEFORE.search(before):
            return _verdict(False, "contains", f"contradicted: the answer says not {_clip(gold.text)!r}")
        if before.endswith(" or ") or after.startswith(" or "):
            return _verdict(False, "contains", f"hedged: {_clip(gold.text)!r} is one of alternatives")
    if gold.quantities:
        return _check_quantities(gold.quantities[0], got.quantities, "contains")
    return _verdict(True, "contains", f"answer contains {_clip(gold.text)!r}")


def _fuzzy(expected: str, answer: str, threshold: float) -> Verdict:
    ratio = fuzz.token_set_ratio(analyze(expected).text, analyze(answer).text)
    passed = ratio >= threshold
    return Verdict(passed, ratio / 100.0, "fuzzy", f"token_set_ratio {ratio:.0f} {'>=' if passed else '<'} {threshold:g}")


def grade(expected: str, answer: str | None, matcher: str = "auto", *, fuzzy_threshold: float = 90.0) -> Verdict:
    """Grade ``answer`` against the gold ``expected`` with ``matcher`` (see the module docstring)."""
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}; use one of {', '.join(MATCHERS)}")
    if matcher == "auto":
        matcher = choose_matcher(expected)
    if answer is None or not answer.strip():
        return _verdict(False, matcher, "no answer")
    if matcher == "fuzzy":
        return _fuzzy(expected, answer, fuzzy_threshold)
    return _MATCHERS[matcher](expected, answer)


_MATCHERS: dict[str, Callable[[str, str], Verdict]] = {
    "exact": _exact,
    "number": _number,
    "yes_no": _yes_no,
    "abstain": _abstain,
    "contains": _contains,
}
