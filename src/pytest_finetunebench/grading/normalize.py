"""Text normalization and number/unit extraction for grading.

:func:`normalize` turns an answer into a canonical string: NFKC, accents folded, curly
quotes and dashes made plain, lower case, number words as digits (:mod:`.numbers`) ("twenty-one" -> "21"),
thousands separators dropped, every quantity rewritten as ``<value> <unit>`` with scale
words applied ("$150 million" and "150 million dollars" -> "150000000 usd", "126 lbs" ->
"126 lb"), possessive 's, punctuation and the articles a/an/the removed, whitespace collapsed.

:func:`analyze` returns that string together with the :class:`Quantity` list the number
and contains matchers reason about.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache

from .numbers import SCALE_WORDS, digits

_SPACES = re.compile(r"\s+")

# --- unicode folding -------------------------------------------------------------------

# fmt: off
_PLAIN = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
        "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    }
)
# fmt: on


def fold(text: str) -> str:
    """NFKC, plain quotes and dashes, accents removed, case folded (nothing else changed)."""
    text = unicodedata.normalize("NFKC", text).translate(_PLAIN)
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.casefold()


# --- quantities --------------------------------------------------------------------------

# canonical unit -> (dimension, size in the dimension's base unit, or None when not convertible)
# fmt: off
_UNITS: dict[str, tuple[str, float | None]] = {
    "mm": ("length", 0.1), "cm": ("length", 1.0), "m": ("length", 100.0), "km": ("length", 1e5),
    "in": ("length", 2.54), "ft": ("length", 30.48), "mi": ("length", 160934.4),
    "mg": ("mass", 1e-3), "g": ("mass", 1.0), "kg": ("mass", 1e3), "t": ("mass", 1e6),
    "lb": ("mass", 453.59237), "oz": ("mass", 28.349523125),
    "usd": ("money", None), "eur": ("money", None), "gbp": ("money", None), "jpy": ("money", None),
    "second": ("time", 1 / 86400), "minute": ("time", 1 / 1440), "hour": ("time", 1 / 24),
    "day": ("time", 1.0), "week": ("time", 7.0), "month": ("time", 30.4375), "year": ("time", 365.25),
    "percent": ("ratio", None), "degc": ("temperature", None), "degf": ("temperature", None),
    "deg": ("temperature", None),
}
# fmt: on
_UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "mm": ("mm", "millimeters", "millimeter", "millimetres", "millimetre"),
    "cm": ("cm", "cms", "centimeters", "centimeter", "centimetres", "centimetre"),
    "m": ("m", "meters", "meter", "metres", "metre"),
    "km": ("km", "kms", "kilometers", "kilometer", "kilometres", "kilometre"),
    "in": ('"', "''", "inches", "inch"),
    "ft": ("'", "ft", "feet", "foot"),
    "mi": ("mi", "miles", "mile"),
    "mg": ("mg", "milligrams", "milligram"),
    "g": ("g", "grams", "gram", "grammes", "gramme"),
    "kg": ("kg", "kgs", "kilograms", "kilogram", "kilos", "kilo"),
    "t": ("tonnes", "tonne", "tons", "ton", "metric tons", "metric ton"),
    "lb": ("lbs", "lb", "pounds", "pound"),
    "oz": ("oz", "ounces", "ounce"),
    "usd": ("usd", "us dollars", "dollars", "dollar", "bucks"),
    "eur": ("eur", "euros", "euro"),
    "gbp": ("gbp", "pounds sterling", "pound sterling", "sterling"),
    "jpy": ("jpy", "yen"),
    "second": ("seconds", "second", "secs", "sec"),
    "minute": ("minutes", "minute", "mins", "min"),
    "hour": ("hours", "hour", "hrs", "hr", "h"),
    "day": ("days", "day"),
    "week": ("weeks", "week", "wks", "wk"),
    "month": ("months", "month"),
    "year": ("years old", "year old", "years-old", "year-old", "y/o", "years", "year", "yrs", "yr"),
    "percent": ("%", "percent", "per cent", "pct"),
    "degc": ("°c", "° c", "degrees celsius", "degree celsius", "celsius", "degrees centigrade"),
    "degf": ("°f", "° f", "degrees fahrenheit", "degree fahrenheit", "fahrenheit"),
    "deg": ("°", "degrees", "degree"),
}
_ALIAS_TO_UNIT = {alias: unit for unit, aliases in _UNIT_ALIASES.items() for alias in aliases}
_CURRENCY_SIGNS = {"us$": "usd", "$": "usd", "€": "eur", "£": "gbp", "¥": "jpy"}
# fmt: off
_SCALES = {
    "thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12,
    "bn": 10**9, "mn": 10**6, "mln": 10**6, "k": 10**3, "m": 10**6, "b": 10**9,
}
# fmt: on


def _alias_pattern(
    alias: str,
) -> str:  # pragma: no mutate block (called once at import, before mutmut can switch a mutant on)
    body = re.escape(alias).replace(r"\ ", r"\s+")
    if alias == "'":
        return r"'(?![a-z'])"  # feet, not the "'s" of "the 90's"
    return body + r"\b" if alias[-1].isalnum() else body


_UNIT_RE = "|".join(_alias_pattern(a) for a in sorted(_ALIAS_TO_UNIT, key=len, reverse=True))
_QUANTITY = re.compile(
    rf"""
    (?<![\w.])
    (?:(?P<cur>us\$|\$|€|£|¥)\s?)?
    (?P<sign>-)?
    (?P<num>\d+(?:\.\d+)?|\.\d+)
    (?:
        \s?(?:'|ft\b|feet\b|foot\b)\s?(?P<inch>\d+(?:\.\d+)?)(?:\s?(?:"|''|in\b|inch(?:es)?\b))?
      | (?:[\s-]?(?P<scale>thousand|million|billion|trillion|bn|mln|mn)\b
           | (?(cur)(?P<short>[kmb])\b|(?!)))?
        (?:[\s-]?(?P<unit>{_UNIT_RE}))?
    )
    (?![\w.]\d)
    """,
    re.VERBOSE,
)
_JOINER = re.compile(r"\s*(?:-|to|and|or|/)\s*")
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# the numbers of a date or clock time that are not its year: "september 23", "23rd of september",
# "2024-09-23", "9/23/2024", "7:30"
_CALENDAR = re.compile(
    rf"""
    \b{_MONTH}\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\b
  | \b(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?![a-z])
  | \b\d{{4}}-(?P<m3>\d{{1,2}})-(?P<d3>\d{{1,2}})\b
  | \b(?P<a4>\d{{1,2}})/(?P<b4>\d{{1,2}})/\d{{2,4}}\b
  | \b(?P<h5>\d{{1,2}}):(?P<m5>\d{{2}})\b
    """,
    re.VERBOSE,
)
_NOUN_AFTER = re.compile(r"\s+([a-z]{3,})")
_NOT_A_NOUN = frozenset(
    "and or to in on at the of for with by from than as is was were are be been which that this its his her"
    " their who whom when while but so per each more less over under about after before during into".split()
)
# fmt: off
_LOWER_BOUND = frozenset({"more than", "greater than", "over", "above", "at least", "upwards of", "in excess of",
                          "exceeding", ">", ">=", "no less than", "not less than", "no fewer than", "not fewer than"})
# fmt: on
_UPPER_BOUND = frozenset(
    {"less than", "fewer than", "under", "below", "at most", "up to", "no more than", "not more than", "<", "<="}
)
BOUND_PHRASES = _LOWER_BOUND | _UPPER_BOUND
# "not 12", "never about 12", and a negated verb before it: "did not have 12 cats", "wasn't 150"
_NEGATION = re.compile(
    r"(?:\bnot|\bnever|\bno longer|\brather than|\binstead of|n't)\s+(?:(?!than\b)[a-z]+\s+)?"
    r"(?:(?:about|around|approximately|exactly|quite|really|just|only|even|over|under)\s+)?$"
)


# a number worked out from an earlier one: "..., so 22", "making 14", "for a total of 22"; "22 in total"
_DERIVED_BEFORE = re.compile(r"\b(?:so|thus|hence|therefore|making|giving|makes|gives|total of|totall?ing)\W*$")
_DERIVED_AFTER = re.compile(r"\s*(?:[a-z]+\s+)?(?:in total|total|altogether|in all|combined)\b")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number stated in a text, with its scale word and unit if any."""

    value: Decimal
    mantissa: Decimal  # the number as written, before any scale word
    scaled: bool
    unit: str | None
    negated: bool  # written right after "not", "never", "rather than", ...
    calendar: bool = False  # the day or month of a date, or a clock time ("September 23", "2024-09-23", "7:30")
    noun: str | None = None  # for a unitless number, the word it counts ("38 points" -> "point")
    derived: bool = False  # introduced as worked out from another ("so 22 in total", "making 14", "22 altogether")
    bound: str | None = None  # "lower" after "more than/over/at least", "upper" after "less than/under/up to"

    @property
    def dim(self) -> str | None:
        """The unit's dimension (length, mass, money, time, ...), None when unitless."""
        return _UNITS[self.unit][0] if self.unit else None

    @property
    def yearlike(self) -> bool:
        """A bare integer that reads as a calendar year (1000-2100)."""
        return self.unit is None and not self.scaled and self.value == int(self.value) and 1000 <= self.value <= 2100

    def in_base(self) -> float | None:
        """The value in the dimension's base unit, None when not convertible."""
        size = _UNITS[self.unit][1] if self.unit else None
        return None if size is None else float(self.value) * size

    def __str__(self) -> str:
        return f"{fmt(self.value)} {self.unit}" if self.unit else fmt(self.value)

    def display(self) -> str:
        """For people: large round values with a scale word ("150 million usd")."""
        number = fmt(self.value)
        for word in ("trillion", "billion", "million"):
            size = SCALE_WORDS[word]
            if size <= abs(self.value) < 1000 * size and (self.value * 1000 / size) % 1 == 0:
                number = f"{fmt(self.value / size)} {word}"
                break
        return f"{number} {self.unit}" if self.unit else number


def fmt(value: Decimal) -> str:
    """A plain decimal string: no exponent, no trailing zeros."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _negative(text: str, sign_at: int) -> bool:
    """A '-' before a number is a minus sign unless it joins a range ("120 - 150")."""
    before = text[:sign_at].rstrip()
    return not before or not (before[-1].isdigit() or before[-1] in "%'\"")


def _calendar_starts(text: str) -> set[int]:
    """Where the day/month numbers of dates and the numbers of clock times start in ``text``."""
    starts: set[int] = set()
    for m in _CALENDAR.finditer(text):
        starts.update(m.start(g) for g, v in m.groupdict().items() if v is not None)
    return starts


def _bound(words: list[str]) -> str | None:
    """The bound the last words before a number put on it; the longest phrase wins ("no more than" is not "more
    than")."""
    for n in (3, 2, 1):
        last = " ".join(words[-n:])
        if last in _LOWER_BOUND:
            return "lower"
        if last in _UPPER_BOUND:
            return "upper"
    return None


def _noun(text: str, end: int) -> str | None:
    m = _NOUN_AFTER.match(text, end)
    if not m or m.group(1) in _NOT_A_NOUN:
        return None
    word = m.group(1)
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _extract(text: str) -> tuple[str, list[Quantity]]:
    """Rewrite every quantity in ``text`` to canonical form; return the text and the quantities."""
    found: list[tuple[int, int, Quantity]] = []
    calendar = _calendar_starts(text)
    for m in _QUANTITY.finditer(text):
        num = Decimal(m.group("num"))
        start = m.start()
        if m.group("sign"):
            if m.group("cur") or _negative(text, m.start("sign")):
                num = -num
            else:
                start = m.start("num")  # the '-' stays in the text, joining a range
        unit = _CURRENCY_SIGNS.get(m.group("cur") or "")
        scale_word = m.group("scale") or m.group("short")
        if m.group("inch") is not None:
            num, unit = num * 12 + Decimal(m.group("inch")), "in"
        elif m.group("unit"):
            alias = _SPACES.sub(" ", m.group("unit"))
            quoted = alias in ("'", '"', "''") and text[start - 1 : start] in ("'", '"')
            if not quoted:
                unit = _ALIAS_TO_UNIT[alias]
        scale = _SCALES[scale_word] if scale_word else 1
        # the last four words before the number, however much space lies between (a negation is at most four)
        before = text[:start].rsplit(maxsplit=4)[-4:]
        negated = bool(_NEGATION.search(" ".join(before) + (" " if text[start - 1 : start].isspace() else "")))
        noun = None if unit else _noun(text, m.end())
        derived = bool(_DERIVED_BEFORE.search(" ".join(before)) or _DERIVED_AFTER.match(text, m.end()))
        q = Quantity(
            num * scale, num, bool(scale_word), unit, negated, m.start("num") in calendar, noun, derived, _bound(before)
        )
        found.append((start, m.end(), q))
    if not found:
        return text, []
    # a range or list shares its scale and unit: "between 120 and 150 million", "$120 to 150 million"
    for i in range(len(found) - 1, 0, -1):
        (s0, e0, a), (s1, _e1, b) = found[i - 1], found[i]
        if not _JOINER.fullmatch(text, e0, s1):
            continue
        if a.unit is None and b.unit:
            a = replace(a, unit=b.unit, noun=None)
        if b.unit is None and a.unit:
            b = replace(b, unit=a.unit, noun=None)
        if not a.scaled and b.scaled and b.mantissa and a.unit == b.unit:
            a = replace(a, value=a.value * (b.value / b.mantissa), scaled=True)
        found[i - 1], found[i] = (s0, e0, a), (s1, _e1, b)
    pieces: list[str] = []
    pos = 0
    for start, end, q in found:
        pieces.append(text[pos:start])
        pieces.append(f" {q} ")
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), [q for _, _, q in found]


# --- the public functions ------------------------------------------------------------------

_APOSTROPHE = re.compile(r"(?<=\w)'s\b|(?<=\w)'(?=\w)")  # "Velmora's" -> "velmora", "don't" -> "dont"
_PUNCT = re.compile(r"[^\w\s.-]|_|(?<!\d)\.|\.(?!\d)|-(?!\d)")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


@dataclass(frozen=True, slots=True)
class Analyzed:
    """A text's normalized form and the quantities it states, in order."""

    text: str
    quantities: tuple[Quantity, ...]


@lru_cache(maxsize=8192)
def analyze(text: str) -> Analyzed:
    """Normalize ``text`` and extract its quantities (cached: gold answers repeat)."""
    text = fold(text)
    text = digits(text)
    text, quantities = _extract(text)
    if "'" in text:
        text = _APOSTROPHE.sub("", text)
    text = _PUNCT.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return Analyzed(_SPACES.sub(" ", text).strip(), tuple(quantities))


def normalize(text: str) -> str:
    """The canonical form used for exact comparison (see the module docstring)."""
    return analyze(text).text
