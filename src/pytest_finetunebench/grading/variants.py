"""Other written forms of a text gold that a careful reader accepts: spellings, names, formulas.

:func:`align` rewrites an answer so that the ``contains`` matcher finds the gold where the answer
writes it in another form, and nowhere else:

* **transliterations and plurals**: a run of answer words that reads as the gold under a
  transliteration key (y/j/i, ye/yo/ie/e, w/v, ph/f, kh/h, ks/x: "Dostoyevsky", "Dostoievski"
  and "Dostoevsky"; "Tolstoi" and "Tolstoy"), for a gold of 4 letters or more, or is the gold
  with a plural ending ("Diamonds"). A slip of spelling is not a variant: the new-knowledge
  splits grade invented names, where "Velmorra" for "Velmora" or "Hanzipo" for "Hanzipor" is
  not knowing the name, and the grader cannot tell an invented name from a real one, so
  "Camberra" fails for Canberra too (a cost the calibration measures);
* **a person's middle names**: a two-word gold "First Last" is found in "First Middle Last" when
  the one or two words between are capitalized names ("Mary Wollstonecraft Shelley"), never
  across "and" ("Charlotte and Emily Brontë" names two people);
* **the formula of a named substance**: "CO2"/"CO₂" for carbon dioxide, "H2O" for water, from a
  small table of common compounds; an element's symbol ("Hg" for mercury) only when the
  question asks about a substance (an element, a metal, a gas, ...), so "Hg" never names the
  planet Mercury.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_KEY_MIN_LETTERS = 4  # golds this long may differ by transliteration
_TRANSLITERATION = (
    ("yo", "e"),
    ("ye", "e"),
    ("ie", "e"),
    ("y", "i"),
    ("j", "i"),
    ("w", "v"),
    ("ph", "f"),
    ("kh", "h"),
    ("ks", "x"),
    ("ck", "k"),
)

# compounds by their usual name (normalized) -> formula (normalized); an element's symbol needs the question's word
# fmt: off
COMPOUNDS = {
    "carbon dioxide": "co2", "carbon monoxide": "co", "water": "h2o", "methane": "ch4", "ammonia": "nh3",
    "ozone": "o3", "sodium chloride": "nacl", "hydrogen peroxide": "h2o2", "sulfuric acid": "h2so4",
    "hydrochloric acid": "hcl", "glucose": "c6h12o6", "ethanol": "c2h5oh", "calcium carbonate": "caco3",
}
ELEMENTS = {
    "hydrogen": "h", "helium": "he", "carbon": "c", "nitrogen": "n", "oxygen": "o", "neon": "ne", "sodium": "na",
    "magnesium": "mg", "aluminium": "al", "aluminum": "al", "silicon": "si", "sulfur": "s", "sulphur": "s",
    "chlorine": "cl", "argon": "ar", "potassium": "k", "calcium": "ca", "iron": "fe", "copper": "cu", "zinc": "zn",
    "silver": "ag", "tin": "sn", "iodine": "i", "platinum": "pt", "gold": "au", "mercury": "hg", "lead": "pb",
    "uranium": "u",
}
# fmt: on
_ABOUT_A_SUBSTANCE = re.compile(r"\b(?:elements?|metals?|gas(?:es)?|substances?|compounds?|chemicals?|liquid)\b")


def key(text: str) -> str:
    """``text`` (normalized) under the transliteration key: variants of one name share it."""
    for a, b in _TRANSLITERATION:
        text = text.replace(a, b)
    return text


def _same_name(words: str, gold: str) -> bool:
    if words == gold or any(c.isdigit() for c in words + gold):
        return words == gold
    if words in (f"{gold}s", f"{gold}es"):
        return True
    return len(gold.replace(" ", "")) >= _KEY_MIN_LETTERS and key(words) == key(gold)


def _formula(gold: str, question: str | None) -> str | None:
    if gold in COMPOUNDS:
        return COMPOUNDS[gold]
    if gold in ELEMENTS and question and _ABOUT_A_SUBSTANCE.search(question.casefold()):
        return ELEMENTS[gold]
    return None


def _plain_case(text: str) -> str:
    """Accents removed, case kept."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=4096)
def _middle_names(first: str, last: str) -> re.Pattern[str]:
    return re.compile(rf"(?i:\b{re.escape(first)})(?:\s+(?!and\b|or\b)[A-Z][\w.'-]*){{1,2}}\s+(?i:{re.escape(last)}\b)")


def without_middle_names(gold: str, answer: str) -> str:
    """``answer`` with one or two capitalized names between the gold's first and last name dropped."""
    words = _plain_case(gold).split()
    if len(words) != 2 or not all(w[:1].isupper() for w in words):
        return answer
    return _middle_names(*words).sub(f"{words[0]} {words[1]}", _plain_case(answer))


def align(gold: str, answer: str, question: str | None) -> str:
    """The normalized ``answer`` with each run of words that writes the normalized ``gold`` another way replaced by
    the gold (see the module docstring)."""
    formula = _formula(gold, question)
    if formula:
        answer = re.sub(rf"(?<!\S){re.escape(formula)}(?!\S)", gold, answer)
    n, tokens = len(gold.split()), answer.split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        window = " ".join(tokens[i : i + n])
        if len(tokens) - i >= n and _same_name(window, gold):
            out.append(gold)
            i += n
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)
