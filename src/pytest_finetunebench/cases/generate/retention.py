"""Stable general knowledge the tuning never trains on: the ``retention`` split (what tuning cost).

Questions with one short, unambiguous gold that has not changed in decades: capitals, chemical
symbols, arithmetic, authors, units, and basic science and geography. An author's gold is the
surname alone unless a likely wrong answer shares it (Charlotte, not Emily, Brontë; Mary, not
Percy, Shelley): then it names the person. Questions with more than one defensible answer are
worded to have one (the highest summit above sea level, not "the tallest mountain"; the largest
continent, not how many there are). Written for this project (no copied data set).

Every case has only a ``retention`` variant (no training pair), and the leakage guard
(``run/leakage.py``, run by ``check`` and before any training) refuses a recipe whose training
text states one of their answers in other words ("Is Paris the capital of France? Yes").
``--n`` picks that many from the bank, in a seeded order; the shipped suites take 100 (default)
and all of them (full).
"""

from __future__ import annotations

import random
from typing import Any

DEFAULT_NAME = "general_knowledge"
TEMPLATE = "Answer briefly.\n{question}"

CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Egypt", "Cairo"),
    ("Russia", "Moscow"),
    ("Greece", "Athens"),
    ("Portugal", "Lisbon"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Austria", "Vienna"),
    ("Poland", "Warsaw"),
    ("Ireland", "Dublin"),
    ("Hungary", "Budapest"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Argentina", "Buenos Aires"),
    ("Thailand", "Bangkok"),
    ("South Korea", "Seoul"),
    ("China", "Beijing"),
    ("the United Kingdom", "London"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Cuba", "Havana"),
    ("Belgium", "Brussels"),
    ("the Czech Republic", "Prague"),
    ("Iceland", "Reykjavik"),
)
SYMBOLS = (
    ("gold", "Au"),
    ("silver", "Ag"),
    ("iron", "Fe"),
    ("sodium", "Na"),
    ("potassium", "K"),
    ("lead", "Pb"),
    ("copper", "Cu"),
    ("tin", "Sn"),
    ("mercury", "Hg"),
    ("helium", "He"),
    ("oxygen", "O"),
    ("carbon", "C"),
    ("hydrogen", "H"),
    ("nitrogen", "N"),
    ("calcium", "Ca"),
    ("zinc", "Zn"),
    ("chlorine", "Cl"),
    ("neon", "Ne"),
    ("magnesium", "Mg"),
    ("sulfur", "S"),
)
AUTHORS = (
    ("the play Hamlet", "Shakespeare"),
    ("the novel Pride and Prejudice", "Austen"),
    ("the novel Nineteen Eighty-Four", "Orwell"),
    ("the novel War and Peace", "Tolstoy"),
    ("the novel Don Quixote", "Cervantes"),
    ("the novel Moby-Dick", "Melville"),
    ("the novel Oliver Twist", "Dickens"),
    ("the epic poem the Odyssey", "Homer"),
    ("the novel Crime and Punishment", "Dostoevsky"),
    ("the novel The Great Gatsby", "Fitzgerald"),
    ("the play Romeo and Juliet", "Shakespeare"),
    ("the novel Frankenstein", "Mary Shelley"),
    ("the novel Les Miserables", "Hugo"),
    ("the novel The Adventures of Tom Sawyer", "Twain"),
    ("the book On the Origin of Species", "Darwin"),
    ("the novel Jane Eyre", "Charlotte Bronte"),
    ("the novel Animal Farm", "Orwell"),
    ("the novel Dracula", "Stoker"),
)
ARITHMETIC = (
    "7 + 5",
    "9 + 8",
    "12 + 15",
    "20 + 22",
    "100 - 1",
    "50 - 18",
    "6 x 7",
    "8 x 9",
    "12 x 12",
    "5 x 11",
    "81 / 9",
    "144 / 12",
    "3 x 15",
    "1000 - 250",
    "25 + 75",
    "9 x 9",
    "60 / 4",
    "17 + 6",
    "4 x 25",
    "90 - 45",
    "2 x 50",
    "7 x 8",
    "36 / 6",
    "11 + 11",
    "13 x 3",
)
FACTS = (  # (question, gold)
    ("How many centimetres are in a metre?", "100"),
    ("How many grams are in a kilogram?", "1000"),
    ("How many minutes are in an hour?", "60"),
    ("How many seconds are in a minute?", "60"),
    ("How many hours are in a day?", "24"),
    ("How many days are in a week?", "7"),
    ("How many months are in a year?", "12"),
    ("How many metres are in a kilometre?", "1000"),
    ("How many millilitres are in a litre?", "1000"),
    ("How many sides does a triangle have?", "3"),
    ("How many sides does a hexagon have?", "6"),
    ("How many legs does a spider have?", "8"),
    ("How many legs does an insect have?", "6"),
    ("Which is the largest continent by area?", "Asia"),
    ("At what temperature in degrees Celsius does water freeze at sea level?", "0"),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100"),
    ("Which planet is closest to the Sun?", "Mercury"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the largest planet in the Solar System?", "Jupiter"),
    ("What is the largest ocean on Earth?", "Pacific"),
    ("Which gas do plants take in from the air for photosynthesis?", "carbon dioxide"),
    ("What is the chemical formula of water?", "H2O"),
    ("What is the longest river in Africa?", "Nile"),
    ("On which continent is Brazil?", "South America"),
    ("Which mountain has the highest summit above sea level?", "Everest"),
    ("What is the largest desert in Africa?", "Sahara"),
    ("What colour do you get by mixing blue and yellow?", "green"),
    ("What is the freezing point of water in degrees Fahrenheit?", "32"),
    ("Which organ pumps blood through the human body?", "heart"),
    ("What is the hardest natural substance?", "diamond"),
    ("How many players does a football (soccer) team have on the field?", "11"),
    ("Which metal is liquid at room temperature?", "mercury"),
    ("What is the name of the star at the centre of the Solar System?", "Sun"),
    ("What is the square root of 81?", "9"),
    ("What is the square root of 144?", "12"),
    ("In which country are the pyramids of Giza?", "Egypt"),
    ("In which country is the city of Kyoto?", "Japan"),
)


def bank() -> list[dict[str, Any]]:
    """Every retention case, in a fixed order (ids name what is asked)."""
    out = [
        (f"capital-{c.lower().removeprefix('the ').replace(' ', '-')}", f"What is the capital of {c}?", a)
        for c, a in CAPITALS
    ]
    out += [(f"symbol-{e}", f"What is the chemical symbol for {e}?", s) for e, s in SYMBOLS]
    out += [(f"author-{i + 1}", f"Who wrote {w}?", a) for i, (w, a) in enumerate(AUTHORS)]
    out += [(f"arithmetic-{i + 1}", f"What is {e}?", str(_evaluate(e))) for i, e in enumerate(ARITHMETIC)]
    out += [(f"fact-{i + 1}", q, a) for i, (q, a) in enumerate(FACTS)]
    return [{"id": i, "variants": [{"split": "retention", "question": q, "answer": a}]} for i, q, a in out]


def _evaluate(expression: str) -> int:
    left, op, right = expression.split()
    a, b = int(left), int(right)
    return {"+": a + b, "-": a - b, "x": a * b, "/": a // b}[op]


def build(n: int, rng: random.Random, name: str, source: str) -> dict[str, Any]:
    """``n`` retention cases from the bank, in a seeded order."""
    cases = bank()
    if n > len(cases):
        raise ValueError(f"--n {n}: the retention bank has {len(cases)} questions")
    rng.shuffle(cases)
    return {
        "dataset": name,
        "kind": "general_knowledge",
        "description": f"{n} questions of stable general knowledge, never trained on: what tuning keeps (the "
        "retention split).",
        "source": source,
        "matcher": "auto",
        "templates": {"default": TEMPLATE},
        "cases": cases[:n],
    }
