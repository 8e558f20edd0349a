"""The number rules: whether the quantities an answer states agree with one gold quantity.

What :func:`check_quantities` decides is documented in :mod:`.grade` (the ``number`` matcher);
:func:`numeric_gold` reads a gold as one quantity, with a qualifier ("more than X") taken off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .matching import Verdict
from .normalize import Analyzed, Quantity, analyze, fold, normalize

Context = str | None  # the question; its quantities are read only when an answer states several
_CONVERSION_TOLERANCE = 0.015
_TEMPERATURE_TOLERANCE = 0.6  # degrees Celsius: a Fahrenheit figure rounded to the degree is within 0.56
_ASKS_FOR_A_ROOT = re.compile(r"\broots?\b")
_GOLD_CONVERSION_TOLERANCE = 0.01  # the gold itself in another unit: "6'1\"" is 185 cm (0.2% off), "6 ft" is not (1.1%)


def verdict(passed: bool, matcher: str, reason: str) -> Verdict:
    """A pass (score 1) or a fail (score 0) with its reason."""
    return Verdict(passed, 1.0 if passed else 0.0, matcher, reason)


def _pure_quantity(gold: Analyzed) -> bool:
    return len(gold.quantities) == 1 and gold.text == normalize(str(gold.quantities[0]))


_QUALIFIED = re.compile(
    r"^(?P<word>more than|greater than|over|above|at least|upwards of|in excess of|just over|just under|nearly"
    r"|almost|about|around|approximately|roughly|some|close to|up to|at most|less than|fewer than|under|below|~)"
    r"\s*(?P<rest>\S.*)$"
)
_LOWER_WORDS = frozenset(
    {"more than", "greater than", "over", "above", "at least", "upwards of", "in excess of", "just over"}
)
_UPPER_WORDS = frozenset({"up to", "at most", "less than", "fewer than", "under", "below", "just under"})


@dataclass(frozen=True, slots=True)
class Gold:
    """A numeric gold: its quantity and, for a qualified gold, the bound's direction."""

    quantity: Quantity
    bound: str | None  # "lower" (more than X), "upper" (up to X) or None (X, about X)


def numeric_gold(expected: str) -> Gold | None:
    """The gold as one quantity, with a leading qualifier taken off; None when it is not one."""
    gold = analyze(expected)
    if _pure_quantity(gold):
        return Gold(gold.quantities[0], None)
    m = _QUALIFIED.match(fold(expected).strip())
    if m and _counted_quantity(rest := analyze(m.group("rest"))):
        word = m.group("word")
        bound = "lower" if word in _LOWER_WORDS else "upper" if word in _UPPER_WORDS else None
        return Gold(rest.quantities[0], bound)
    return None


def _counted_quantity(gold: Analyzed) -> bool:
    """One quantity, alone or with the one word it counts ("500", "$1 billion", "500 people")."""
    if len(gold.quantities) != 1:
        return False
    q = gold.quantities[0]
    return _pure_quantity(gold) or bool(q.noun and gold.text == f"{normalize(str(q))} {gold.text.split()[-1]}")


_GENERIC_DEGREES = frozenset({"deg", "degc", "degf"})


def _units_agree(a: str | None, b: str | None) -> bool:
    """No unit on either side, the same unit, or plain "degrees" beside Celsius/Fahrenheit."""
    return not a or not b or a == b or ("deg" in (a, b) and {a, b} <= _GENERIC_DEGREES)


def _same_value(q: Quantity, gold: Quantity) -> bool:
    if q.unit and gold.unit and q.unit != gold.unit and q.dim == gold.dim:
        a, b = q.in_base(), gold.in_base()
        if a is not None and b is not None:  # the gold in another unit: "1500 g" for "1.5 kg"
            return abs(a - b) <= _GOLD_CONVERSION_TOLERANCE * abs(b)
    if not _units_agree(q.unit, gold.unit):
        return False
    return q.value == gold.value or (q.scaled != gold.scaled and q.mantissa == gold.mantissa)


def _kind(q: Quantity) -> str:
    return q.dim or ("year" if q.yearlike else "count")


def _in_question(q: Quantity, context: Context) -> bool:
    return bool(context) and any(
        p.value == q.value and _units_agree(p.unit, q.unit) for p in analyze(context).quantities
    )


def _counts_other_things(q: Quantity, match: Quantity) -> bool:
    return bool(q.noun and match.noun and q.noun != match.noun)


def _celsius(q: Quantity) -> float | None:
    """A temperature in degrees Celsius; None for another unit or plain "degrees"."""
    if q.unit == "degc":
        return float(q.value)
    return (float(q.value) - 32) * 5 / 9 if q.unit == "degf" else None


def _restates(q: Quantity, match: Quantity) -> bool:
    """``q`` is ``match`` in another unit: "3600 seconds" for "60 minutes", "32 °F" for "0 °C"."""
    c, d = _celsius(q), _celsius(match)
    if c is not None and d is not None:
        return abs(c - d) <= _TEMPERATURE_TOLERANCE
    a, b = q.in_base(), match.in_base()
    return a is not None and b is not None and q.dim == match.dim and abs(a - b) <= _CONVERSION_TOLERANCE * abs(b)


def _other_root(q: Quantity, match: Quantity, context: Context) -> bool:
    """The negative root beside the positive one when the question asks for a root: "12 (or -12)", "9 and -9"."""
    return bool(context) and q.value == -match.value != 0 and bool(_ASKS_FOR_A_ROOT.search(fold(context or "")))


def check_quantities(gold: Gold, stated: tuple[Quantity, ...], context: Context, matcher: str) -> Verdict:
    """The number rules (the `number` matcher in `grade`) for one gold quantity against an answer's quantities."""
    want = gold.quantity
    candidates = [q for q in stated if _same_value(q, want) and not _counts_other_things(q, want)]
    matches = [q for q in candidates if not q.calendar] or candidates
    if not matches:
        other = next((q for q in stated if _same_value(q, want)), None)
        if other is not None:  # the value, but of something else
            return verdict(False, matcher, f"expected {want.display()} {want.noun}, got {other.display()} {other.noun}")
        offered = [q for q in stated if not q.calendar and not _in_question(q, context)] or stated
        got = f"got {offered[0].display()}" if offered else "no number in the answer"
        return verdict(False, matcher, f"expected {want.display()}, {got}")
    match = matches[0]
    if any(q.negated for q in matches):
        return verdict(False, matcher, f"contradicted: the answer says not {match.display()}")
    if gold.bound and any(q.bound and q.bound != gold.bound for q in matches):
        theirs, ours = ("an upper", "a lower") if gold.bound == "lower" else ("a lower", "an upper")
        return verdict(
            False, matcher, f"contradicted: the answer makes {match.display()} {theirs} bound, the gold {ours} one"
        )
    kind = match.dim or want.dim or _kind(match)
    after = stated.index(match)
    for i, q in enumerate(stated):
        if q in matches or q.negated or q.calendar or _kind(q) != kind:
            continue
        if _restates(q, match) or _counts_other_things(q, match) or _in_question(q, context):
            continue
        if (q.derived and i > after) or _other_root(q, match, context):
            continue
        return verdict(False, matcher, f"states {match.display()} but also {q.display()}")
    return verdict(True, matcher, f"number {want.display()} matches {match.display()}")
