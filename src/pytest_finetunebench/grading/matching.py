"""What grading one answer returns (:class:`Verdict`), and the verdict of a matcher a team adds.

A team's matcher (the ``pytest_ftb_matchers`` hook) is a :data:`Matcher`; :func:`custom` asks it
the way :func:`.grade.grade` asks a built-in one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..usercode import brief, defined_at


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of grading one answer."""

    passed: bool
    score: float  # 0..1
    matcher: str  # the matcher actually used (for auto: the one it chose)
    reason: str  # short and human
    in_form: bool = True  # the answer has the form the question asks for, right or wrong (see in_form)


# A matcher a team adds (the pytest_ftb_matchers hook): (gold, answer, question sent) -> a verdict or a bool.
Matcher = Callable[[str, str, "str | None"], "Verdict | bool"]


def custom(name: str, matcher: Matcher, expected: str, answer: str | None, question: str | None) -> Verdict:
    """The verdict of a matcher a team added: a :class:`Verdict`, or a bool read as match / no match.

    An empty answer fails before the matcher is asked, as with the built-in matchers. Anything else
    it returns (a string such as ``"no"`` is truthy) is a :class:`MatcherError`, never a pass.
    """
    if answer is None or not answer.strip():
        return Verdict(False, 0.0, name, "no answer", in_form=False)
    got = matcher(expected, answer, question)
    if isinstance(got, Verdict):
        return got
    if not isinstance(got, bool):
        raise MatcherError(
            f"matcher `{name}` returned {brief(got)}, not a bool or a Verdict{defined_at(matcher)}; fix: return True,"
            " False or a Verdict"
        )
    return Verdict(got, float(got), name, f"{name}: {'match' if got else 'no match'}")


class MatcherError(TypeError):
    """A team's matcher returned something other than a bool or a :class:`Verdict`."""
