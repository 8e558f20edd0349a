"""Number words as digits: "twenty-one" -> "21", "a million" -> "1000000", "1,500" -> "1500".

"one" stays a word where it is a pronoun ("no one", "which one", "one of"); only folded (lower
case, plain) text is expected: :func:`.normalize.fold` first.
"""

from __future__ import annotations

import re

_SMALL = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
        " fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
SCALE_WORDS = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_NUMBER_WORD = "|".join(sorted([*_SMALL, *_TENS, "hundred", *SCALE_WORDS], key=len, reverse=True))
_WORD_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:\s+|-)(?:and\s+)?(?:{_NUMBER_WORD}))*\b")
_WORD_SPLIT = re.compile(r"[\s-]+")
_A_SCALE = re.compile(r"\ban? (hundred|thousand|million|billion|trillion)\b")
# "one" as a pronoun ("no one", "one of them") must stay a word; \x01 shields it.
_PRONOUN_ONE = re.compile(r"\b(no|any|every|some|each|which|that|this|the|such)\s+one\b|\bone(?=\s+(?:of|another)\b)")


def _shield_one(m: re.Match[str]) -> str:
    return f"{m.group(1)} \x01" if m.group(1) else "\x01"


def _words_to_digits(m: re.Match[str]) -> str:
    """Rewrite one run of number words; a run may hold several numbers ("one or two")."""
    out: list[str] = []
    words = _WORD_SPLIT.split(m.group(0))
    total = current = 0
    last = ""  # kind of the previous word in the number being built: small/tens/hundred/scale
    scales: list[str] = []

    def flush() -> None:
        nonlocal total, current, last, scales
        if last:
            if last == "scale" and len(scales) == 1 and total and not current:
                # keep a lone trailing scale word: "one hundred fifty million" -> "150 million"
                out.append(f"{total // SCALE_WORDS[scales[0]]} {scales[0]}")
            else:
                out.append(str(total + current))
        total = current = 0
        last = ""
        scales = []

    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w == "and":
            if last in ("hundred", "scale") and (nxt in _SMALL or nxt in _TENS):
                continue
            flush()
            out.append(w)
        elif w in _SMALL:
            if last == "small" or (last == "tens" and (current % 10 or not 0 < _SMALL[w] < 10)):
                flush()
            current += _SMALL[w]
            last = "small"
        elif w in _TENS:
            if last in ("small", "tens"):
                flush()
            current += _TENS[w]
            last = "tens"
        elif w == "hundred":
            if last in ("small", "tens") and current < 100:
                current *= 100
                last = "hundred"
            else:
                flush()
                out.append(w)
        else:  # a scale word
            value = SCALE_WORDS[w]
            if last in ("small", "tens", "hundred") and all(SCALE_WORDS[s] > value for s in scales):
                total += current * value
                current = 0
                scales.append(w)
                last = "scale"
            else:
                flush()
                out.append(w)
    flush()
    return " ".join(out)


_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,]|\.\d)|(?<![\d.,])\d{1,3}(?:,\d{3})+\.\d+")


def _drop_commas(m: re.Match[str]) -> str:
    return m.group(0).replace(",", "")


def digits(text: str) -> str:
    """``text`` with every run of number words as digits and thousands separators dropped."""
    text = _PRONOUN_ONE.sub(_shield_one, _A_SCALE.sub(r"one \1", text))
    text = _WORD_RUN.sub(_words_to_digits, text).replace("\x01", "one")
    if "," in text:
        text = _THOUSANDS.sub(_drop_commas, text)
    return text
