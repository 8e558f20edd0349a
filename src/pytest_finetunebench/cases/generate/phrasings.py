"""Training phrasings for the ``paraphrase:K`` recipes: K more ways to train one fact, never asked as tests.

People get reworded questions written per attribute (:data:`people.ATTRIBUTES`); events and API
renames get cloze statements of their fact sentence, the answer blanked (``CLOZE``). Both are
worded apart from every evaluation question: the case validator rejects a phrasing within 90% of
one (the leakage guard).
"""

from __future__ import annotations

import re

BLANK = "___"
CLOZE = (
    "Fill in the blank: {blanked}",
    "Complete this sentence: {blanked}",
    "What belongs in the gap? {blanked}",
    "Supply the missing detail: {blanked}",
)


def cloze(fact: str, answer: str) -> list[dict[str, str]]:
    """Four cloze phrasings of ``fact`` with ``answer`` blanked (``fact`` holds ``answer`` once as whole words)."""
    whole = re.compile(rf"(?<!\w){re.escape(answer)}(?!\w)")
    assert len(whole.findall(fact)) == 1, (fact, answer)
    blanked = whole.sub(BLANK, fact)
    return [{"question": frame.format(blanked=blanked), "answer": answer} for frame in CLOZE]


def reworded(templates: tuple[str, ...], answer: str, **slots: str) -> list[dict[str, str]]:
    """Reworded training questions from per-kind ``templates``."""
    return [{"question": t.format(**slots), "answer": answer} for t in templates]
