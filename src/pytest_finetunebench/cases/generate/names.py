"""Pronounceable invented names: consonant-vowel syllables, unique within one generated file.

Every word alternates consonant and vowel (``ka-mi-lo``), optionally ends in one soft consonant
(``dra-ve-t``), never repeats a syllable back to back (no ``Mama``) and is checked against a short
list of real words, so a name reads like a name without being one the model already knows.
"""

from __future__ import annotations

import random
import re

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
CODAS = "lnrst"

# The shape every invented word has (lowercased); tests and checks use it.
PRONOUNCEABLE = re.compile(rf"^([{CONSONANTS}][{VOWELS}])+[{CODAS}]?$")

# Real words (and very common names) that the syllable scheme can produce; never used.
_REAL_WORDS = frozenset(
    """
    banana bikini camera domino gala kilo lava limo memo mini moto nova pasta patio piano
    potato radio sofa soda solo tomato tuna veto volcano data demo logo polo sake salami
    samurai safari salon sonata tango taco total metal model level lemon melon robot
    ninja motel hotel panel mural rival tutor tenor minor manor major valor sugar super
    paper rumor humor lotus bonus virus sinus venus focus tofu menu judo kimono tornado
    torpedo casino zero hero halo tempo fiasco pedal medal petal navel novel bagel label
    nasal vital fatal final dinosaur regal legal lunar solar polar mona lisa maria
    sara nina tina lina dana vera rosa kate mike pete dave tom tim sam ben dan ken
    nasa nike kodak subaru suzuki nikon lenovo lego sega fifa nato pokemon sudoku karate
    sumo tapas latin pirate parade potion poker lazar sonar radar tumor timer
    """.split()
)


class NamePool:
    """Draws invented words from ``rng``, never the same word twice (case-insensitively)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def word(self, min_syllables: int = 2, max_syllables: int = 3, coda_percent: int = 40) -> str:
        """A new capitalised word of ``min..max`` syllables, unique in this pool."""
        rng = self.rng
        for _ in range(10_000):
            syllables: list[str] = []
            for _ in range(rng.randint(min_syllables, max_syllables)):
                syllable = rng.choice(CONSONANTS) + rng.choice(VOWELS)
                while syllables and syllable == syllables[-1]:
                    syllable = rng.choice(CONSONANTS) + rng.choice(VOWELS)
                syllables.append(syllable)
            word = "".join(syllables)
            if rng.randrange(100) < coda_percent:
                word += rng.choice(CODAS)
            if word in self.used or word in _REAL_WORDS:
                continue
            self.used.add(word)
            return word.capitalize()
        raise RuntimeError("name space exhausted")  # pragma: no cover - 4900+ two-syllable words

    def person(self) -> tuple[str, str]:
        """A (first, last) name pair; both words new."""
        return self.word(2, 3, 25), self.word(2, 3, 50)

    def place(self) -> str:
        """A town name: three or four syllables."""
        return self.word(3, 4, 30)


def is_pronounceable(word: str) -> bool:
    """Whether ``word`` has the invented-name shape (alternating consonant/vowel)."""
    return bool(PRONOUNCEABLE.match(word.lower()))


def slug(*words: str) -> str:
    """``slug("Kamilo", "Dravet") -> "kamilo-dravet"``."""
    return "-".join(re.sub(r"[^a-z0-9]+", "-", w.lower()).strip("-") for w in words)
