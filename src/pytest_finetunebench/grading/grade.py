"""Grading a model's answer against the gold answer.

``grade(expected, answer, matcher, question=prompt)`` returns a :class:`Verdict`. The matchers (the names of
``cases.MATCHERS``) all compare :func:`normalize`-d text (see ``normalize.py``):

``exact``
    Normalized equality. "$150 million" == "150 million dollars", "seven" == "7".
``number``
    The gold is one quantity. The answer passes when it states that value and nothing that
    contradicts it. In detail:

    * a stated quantity *matches* when its value equals the gold's and its unit is the
      gold's or either side has none ("185 cm" for 185, "32 years old" for 32; "103 degrees
      Fahrenheit" for "103 degrees"). When exactly one side has a scale word the number as
      written may match too ("150" for "150 million dollars"): the question usually fixes the
      scale. "150 thousand" never matches "150 million".
    * a match written right after a negation ("not 150", "rather than 150", "did not cost 150") fails.
    * any other stated quantity *of the same kind* as the match is a conflict and fails the
      answer ("between 120 and 150 million", "not 150 but 170", "185 cm, maybe 190 cm", "38 or
      40"). A quantity the answer itself rejects ("150 million, not 170 million") is no
      conflict. Same kind means the same dimension (length, mass, money, time, temperature,
      ...); among unitless numbers, a bare 1000-2100 integer is a *year* and anything else a
      *count*, so "It opened in 2024 with 150 shops" passes for 2024 and "The 2024 repairs cost
      150 million dollars" for 150 million. Two counts of different things ("38 points and 12
      rebounds") do not conflict; a count with no noun conflicts with any count.
    * **the question is context**: a quantity that the question itself states (same value,
      compatible unit) is a restatement the answer may repeat, never a conflict. "Collier scored
      38 points in the game on September 23, 2024" passes for 38 when the question names the
      date; so does it when it does not, because of the next rule.
    * the day and month of a date ("September 23", "23rd of September", "2024-09-23",
      "9/23/2024") and the numbers of a clock time ("7:30") are never conflicts; the year of a
      date is a year like any other.
    * a same-kind quantity in another unit that converts to the match within 1.5% is a
      restatement, not a conflict: "6'1\\" (185 cm)" passes for 185 because 6'1" is 185.4 cm.
      The answer must still state the gold number itself: "6'1\\"" alone fails for 185 (the
      gold carries no unit, so nothing says 185 is centimetres).
    * a temperature restated in the other scale is no conflict when it converts to the match
      within 0.6 °C: "0 °C (32 °F)" passes for 0, "100 °C (210 °F)" fails (212 °F is 100 °C).
    * a number worked out from the match and stated after it is no conflict ("11 players per
      side, so 22 in total", "7 days, making 14 in a fortnight"); nor is the negative root
      beside the positive one when the question asks for a root ("12 (or -12)").
    * a gold with a unit matches the same quantity in another unit of its dimension when it
      converts to the gold within 1% (the rounding of a converted figure): "1500 g" and
      "3.3 pounds" pass for "1.5 kg", "6'1\\"" for "185 cm"; "6 ft" (182.9 cm, 1.1% off) does not.
    * **qualified golds**: a gold "more than X", "over X", "at least X", "about X", "nearly
      X", "up to X", "less than X", ... (one qualifier and one quantity) is graded on X. The
      rule chosen: the answer must state X itself, with the same qualifier, another one or none
      ("$1 billion" passes for "more than $1 billion"); a different specific value fails even
      when it satisfies the bound ("$1.3 billion" for "more than $1 billion": the source said
      what it said, and the answer claims a figure it did not); a bound in the other direction
      ("under $1 billion" for "more than $1 billion") fails as a contradiction.
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
    negation ("not Velmora"), offered as one of alternatives ("Velmora or Ostrin", "Velmora, but
    it might be Ostrin"), or - for a gold with a number - any conflicting quantity by the
    ``number`` rules above fails. An answer that is a truncation of the gold never contains it.
    The gold written another way counts as the gold (``variants.py``): a transliteration
    ("Tolstoi"), a plural, middle names ("Mary Wollstonecraft Shelley"), a substance's formula
    ("CO2"); a slip of spelling does not.
``fuzzy``
    rapidfuzz ``token_set_ratio`` of the normalized texts at or above ``fuzzy_threshold``.
``auto``
    Chosen from the gold's form by :func:`choose_matcher`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from rapidfuzz import fuzz

from ..cases.schema import MATCHERS
from .matching import Matcher, Verdict, custom
from .normalize import BOUND_PHRASES, analyze, fold, normalize
from .quantities import Context as _Context
from .quantities import Gold, check_quantities, numeric_gold, verdict
from .variants import align, without_middle_names

__all__ = ["Verdict", "choose_matcher", "grade", "normalize"]

LONG_TEXT_WORDS = 6  # a gold of this many normalized words or more is graded with ``fuzzy``

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
        (?:happen|happened|take\ place|taken\ place|occur|occurred|exist|
        been\ (?:announced|reported|released|disclosed|determined))
  | \bnot\ (?:yet\ )?(?:been\ )?(?:known|disclosed|reported|announced|recorded|documented)\b
    """,
    re.VERBOSE,
)
_GUESS = re.compile(
    r"\b(?:probably|likely|perhaps|maybe|possibly|approximately|roughly|my (?:best )?guess|i (?:would )?guess"
    r"|i think (?:it|the|that)|i believe (?:it|the|that)|could be|might be|estimated"
    r"|(?:believed|thought|said|expected|rumou?red|reported) to (?:be|have)|appears? to (?:be|have)|it seems)\b"
)
_NEGATED_BEFORE = re.compile(
    r"\b(?:not|never|no longer|rather than|instead of|isnt|wasnt|arent|werent|dont|doesnt|didnt|cant|cannot"
    r"|wont|hasnt|havent|hadnt)(?: (?:about|around|approximately|exactly|quite|really|just|only|even))? $"
)

# after the gold, another answer offered as possible: "Canberra, but it might be Sydney"
_ANOTHER_GUESS = re.compile(r" (?:but|or|though|although) (?:it |that |this )?(?:might|may|could) (?:also )?be \w")


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def choose_matcher(expected: str) -> str:
    """The matcher ``auto`` uses for this gold: abstain, yes_no, number, contains or fuzzy."""
    gold = analyze(expected)
    if gold.text == "none":
        return "abstain"
    if gold.text in ("yes", "no"):
        return "yes_no"
    if numeric_gold(expected) is not None:
        return "number"
    if len(gold.text.split()) >= LONG_TEXT_WORDS:
        return "fuzzy"
    return "contains"


def _miss(expected: str, answer: str, gold: str, got: str, matcher: str) -> Verdict:
    """A failed text match; a truncated gold is named as such."""
    if got and gold.startswith(got):
        return verdict(False, matcher, f"truncated name: {_clip(answer.strip())!r} is not {_clip(expected.strip())!r}")
    return verdict(False, matcher, f"expected {_clip(expected.strip())!r}, got {_clip(answer.strip())!r}")


def _exact(expected: str, answer: str, context: _Context) -> Verdict:
    gold, got = analyze(expected).text, analyze(answer).text
    if gold == got:
        return verdict(True, "exact", f"{_clip(got)!r} matches exactly")
    return _miss(expected, answer, gold, got, "exact")


def _number(expected: str, answer: str, context: _Context) -> Verdict:
    gold = numeric_gold(expected)
    if gold is None:
        raise ValueError(f"matcher `number` needs a numeric gold answer, got {expected!r}")
    return check_quantities(gold, analyze(answer).quantities, context, "number")


def _yes_no(expected: str, answer: str, context: _Context) -> Verdict:
    gold = analyze(expected).text
    if gold not in ("yes", "no"):
        raise ValueError(f"matcher `yes_no` needs a gold of Yes or No, got {expected!r}")
    words = set(analyze(answer).text.split())
    said_yes, said_no = bool(words & _YES), bool(words & _NO)
    if said_yes and said_no:
        return verdict(False, "yes_no", "says both yes and no")
    if not (said_yes or said_no):
        return verdict(False, "yes_no", f"says neither yes nor no: {_clip(answer.strip())!r}")
    said = "yes" if said_yes else "no"
    return verdict(said == gold, "yes_no", f"answered {said}" if said == gold else f"expected {gold}, got {said}")


def _abstain(expected: str, answer: str, context: _Context) -> Verdict:  # the gold is "None"; only the answer counts
    text = fold(answer).strip()
    declined = _DECLINE.search(text)
    if not declined:
        return verdict(False, "abstain", f"expected a decline, got {_clip(answer.strip())!r}")
    guess = _GUESS.search(text)
    if guess:
        return verdict(False, "abstain", f"declines but guesses: {guess.group(0)!r}")
    return verdict(True, "abstain", f"declined: {_clip(declined.group(0).strip(), 30)!r}")


def _occurrences(needle: str, text: str) -> list[int]:
    """Where ``needle`` occurs in ``text`` on word boundaries (both normalized: single spaces)."""
    padded, target = f" {text} ", f" {needle} "
    hits, at = [], padded.find(target) if needle else -1
    while at >= 0:
        hits.append(at)
        at = padded.find(target, at + 1)
    return hits


def _contains(expected: str, answer: str, context: _Context) -> Verdict:
    gold, got = analyze(expected), analyze(without_middle_names(expected, answer))
    text = align(gold.text, got.text, context)  # the gold written another way: "Tolstoi", "CO2" (variants.py)
    if gold.text == text:
        return verdict(True, "contains", f"{_clip(got.text)!r} matches")
    hits = _occurrences(gold.text, text)
    if not hits:
        return _miss(expected, answer, gold.text, got.text, "contains")
    for start in hits:
        before, after = text[:start], text[start + len(gold.text) :]
        if _NEGATED_BEFORE.search(before):
            return verdict(False, "contains", f"contradicted: the answer says not {_clip(gold.text)!r}")
        if before.endswith(" or ") or after.startswith(" or ") or _ANOTHER_GUESS.match(after):
            return verdict(False, "contains", f"hedged: {_clip(gold.text)!r} is one of alternatives")
    if gold.quantities:
        return check_quantities(Gold(gold.quantities[0], None), got.quantities, context, "contains")
    return verdict(True, "contains", f"answer contains {_clip(gold.text)!r}")


def _fuzzy(expected: str, answer: str, threshold: float) -> Verdict:
    ratio = fuzz.token_set_ratio(analyze(expected).text, analyze(answer).text)
    passed = ratio >= threshold
    return Verdict(
        passed, ratio / 100.0, "fuzzy", f"token_set_ratio {ratio:.0f} {'>=' if passed else '<'} {threshold:g}"
    )


def grade(
    expected: str,
    answer: str | None,
    matcher: str = "auto",
    *,
    question: str | None = None,
    fuzzy_threshold: float = 90.0,
    extra: Mapping[str, Matcher] | None = None,
) -> Verdict:
    """Grade ``answer`` against the gold ``expected`` with ``matcher`` (see the module docstring).

    ``question`` is the prompt the model was sent: the numbers it states are context that the
    answer may repeat, never a contradiction. ``extra``: matchers added through the
    ``pytest_ftb_matchers`` hook, by name (see :func:`custom`).
    """
    if extra and matcher in extra:
        return custom(matcher, extra[matcher], expected, answer, question)
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r}; use one of {', '.join(MATCHERS)}")
    if matcher == "auto":
        matcher = choose_matcher(expected)
    if answer is None or not answer.strip():
        return Verdict(False, 0.0, matcher, "no answer", in_form=False)
    if matcher == "fuzzy":
        verdict = _fuzzy(expected, answer, fuzzy_threshold)
    else:
        verdict = _MATCHERS[matcher](expected, answer, question)
    if in_form(matcher, expected, answer):
        return verdict
    return replace(verdict, reason=f"off-format: {verdict.reason}", in_form=False)


def in_form(matcher: str, expected: str, answer: str | None) -> bool:
    """Whether ``answer`` has the form the question asks for, whether or not it is right.

    A yes/no gold wants an answer that says yes or no; a number gold (a quantity, qualified or
    not), a number; a "None" gold (a date-changed question) a decline or a value; any other gold
    a value: something that does not open with yes or no ("No more than 5" opens with a bound,
    not a no). "50" to "Is she over 50?" is off-format (a knowledge-free failure of form), "No"
    to it is in form and wrong.
    """
    if answer is None or not answer.strip():
        return False
    got = analyze(answer)
    words = got.text.split()
    if matcher == "yes_no":
        return bool(set(words) & (_YES | _NO))
    opens_yes_no = (
        bool(words) and words[0] in _YES | _NO and " ".join(words[:3]) not in BOUND_PHRASES
    )  # "No more than 5"
    if matcher == "abstain":
        return bool(_DECLINE.search(fold(answer).strip())) or (bool(words) and not opens_yes_no)
    if matcher == "number" or (matcher != "exact" and numeric_gold(expected) is not None):
        return bool(got.quantities)
    return bool(words) and not opens_yes_no


_MATCHERS: dict[str, Callable[[str, str, _Context], Verdict]] = {
    "exact": _exact,
    "number": _number,
    "yes_no": _yes_no,
    "abstain": _abstain,
    "contains": _contains,
}
