"""The leakage guard: no training text may state the answer to a question the benchmark asks unseen.

A training text (a pair's prompt and answer together) *states* a question's answer when, after
normalization (:func:`..grading.normalize.analyze`: number words as digits, accents, case and
punctuation folded; a plural ``s`` taken off), it holds every content word of the gold and at
least 60% of the question's key terms (its content words other than the gold's). Word overlap
alone is not enough: "Is the Moon larger than the Earth?" shares words with "What is the largest
planet?" but not its gold; "Is Paris the capital of France? Yes" holds the gold "Paris" and the
key terms "capital" and "France" of "What is the capital of France?", so it states it.

Which texts are held against which questions: a retention question (never trained on) against
every training text of a recipe; any other evaluation question against the pairs a recipe adds
once to the whole set (``qa+replay``'s :data:`.recipes.REPLAY`, a hook recipe's ``added``), whose
knowledge no case asks for. A case's own pairs state its own answers by design.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..cases.schema import RETENTION
from ..grading.normalize import analyze
from ..providers.base import TrainingPair

if TYPE_CHECKING:
    from ..cases.casefile import Dataset

KEY_SHARE = 0.6  # the share of a question's key terms a training text must hold, with the gold, to state it
# fmt: off
_FUNCTION_WORDS = frozenset(
    "a an the of in on at to for from by with about as into over under and or not no yes is are was were be been do"
    " does did has have had it its this that these those there what which who whom whose when where why how many much"
    " you your i we they he she his her their them answer briefly wrote write get name called known"
    " than more less most least one".split()
)
# fmt: on
_NO_STATED_ANSWER = frozenset({"yes", "no", "none"})  # a yes/no or decline gold is not a fact a text can state


@dataclass(frozen=True, slots=True)
class Asked:
    """A question the benchmark asks unseen: where it is, its split, the question and its gold."""

    path: Path
    line: int
    split: str
    question: str
    gold: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """A training text that states the answer to a question asked unseen."""

    asked: Asked
    recipe: str
    text: str  # the pair's prompt and answer, on one line

    @property
    def message(self) -> str:
        q = self.asked
        return (
            f"recipe `{self.recipe}` trains on {self.text!r}, which states the answer {q.gold!r} to {q.question!r}"
            f" ({q.split}, asked unseen); fix: drop or reword that training text or the question"
        )

    def __str__(self) -> str:
        return f"{self.asked.path}:{self.asked.line}: {self.message}"


@lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in analyze(text).text.split())


def _content(text: str) -> frozenset[str]:
    return _words(text) - _FUNCTION_WORDS


def states(text: str, question: str, gold: str) -> bool:
    """Whether ``text`` states (or nearly states) the answer ``gold`` to ``question`` (the module docstring)."""
    if analyze(gold).text in _NO_STATED_ANSWER:
        return False
    gold_words, held = _content(gold) or _words(gold), _words(text)
    key = _content(question) - gold_words
    if not gold_words or not key or not gold_words <= held:
        return False
    return len(key & held) >= KEY_SHARE * len(key)


def asked_in(datasets: Iterable[Dataset]) -> list[Asked]:
    """Every question of these case files, where it is and its gold."""
    return [
        Asked(ds.path, v.line, v.split, v.question, v.answer) for ds in datasets for c in ds.cases for v in c.variants
    ]


def conflicts(
    pairs: Iterable[TrainingPair], added: Iterable[TrainingPair], asked: Iterable[Asked], recipe: str
) -> list[Conflict]:
    """Each training text that states a question's answer: ``pairs`` (all of a recipe's training pairs) against
    the retention questions, ``added`` (the pairs the recipe adds once) against every question."""
    every, extra = tuple(dict.fromkeys(pairs)), frozenset(added)
    found = []
    for q in asked:
        for pair in every if q.split == RETENTION else tuple(p for p in every if p in extra):
            text = f"{pair.prompt}\n{pair.answer}"
            if states(text, q.question, q.gold):
                found.append(Conflict(q, recipe, " ".join(text.split())))
    return found
