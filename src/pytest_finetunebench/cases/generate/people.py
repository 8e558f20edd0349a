"""Invented people: six attributes each, one training fact per person x attribute.

Splits: ``memorization`` (the training question), ``rephrased`` (other wording, first name only),
``secondary`` (a yes/no question that follows from the fact: a threshold for numbers, the
sector of the occupation, the country of the birth city, a colour guess; exactly half Yes per
attribute, the odd one alternating between attributes) and ``comparison`` (two people, asked in
both orders, so one Yes and one No per pair). Every case's ``fact`` states what its golds follow
from; :func:`recheck` re-derives every gold from those facts.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .names import NamePool, slug
from .phrasings import reworded

DEFAULT_NAME = "invented_people"

# occupation -> sector; the secondary question asks "Does X work in <sector>?"
# fmt: off
OCCUPATIONS: dict[str, str] = {
    "nurse": "healthcare", "dentist": "healthcare", "pharmacist": "healthcare", "surgeon": "healthcare",
    "midwife": "healthcare",
    "teacher": "education", "librarian": "education", "lecturer": "education", "tutor": "education",
    "carpenter": "construction", "plumber": "construction", "electrician": "construction",
    "bricklayer": "construction", "roofer": "construction",
    "beekeeper": "agriculture", "shepherd": "agriculture", "farmer": "agriculture",
    "pilot": "transport", "bus driver": "transport", "train driver": "transport", "taxi driver": "transport",
    "painter": "the arts", "sculptor": "the arts", "violinist": "the arts", "actor": "the arts", "dancer": "the arts",
    "lawyer": "law", "judge": "law", "paralegal": "law",
    "baker": "the food industry", "chef": "the food industry", "butcher": "the food industry",
    "cheesemaker": "the food industry",
}
# fmt: on
SECTORS: tuple[str, ...] = tuple(dict.fromkeys(OCCUPATIONS.values()))

# real cities whose names are unambiguous -> their country as asked ("Was X born in <country>?")
# fmt: off
CITIES: dict[str, str] = {
    "Lyon": "France", "Porto": "Portugal", "Krakow": "Poland", "Bergen": "Norway", "Gothenburg": "Sweden",
    "Tampere": "Finland", "Graz": "Austria", "Antwerp": "Belgium", "Utrecht": "the Netherlands",
    "Bologna": "Italy", "Seville": "Spain", "Leipzig": "Germany", "Brno": "the Czech Republic",
    "Debrecen": "Hungary", "Thessaloniki": "Greece", "Izmir": "Turkey", "Osaka": "Japan", "Busan": "South Korea",
    "Chennai": "India", "Surabaya": "Indonesia", "Da Nang": "Vietnam", "Adelaide": "Australia",
    "Wellington": "New Zealand", "Winnipeg": "Canada", "Monterrey": "Mexico", "Medellin": "Colombia",
    "Curitiba": "Brazil", "Valparaiso": "Chile", "Arequipa": "Peru", "Casablanca": "Morocco",
    "Mombasa": "Kenya", "Durban": "South Africa", "Kumasi": "Ghana", "Cork": "Ireland", "Aarhus": "Denmark",
    "Edinburgh": "the United Kingdom",
}
# fmt: on
COUNTRIES: tuple[str, ...] = tuple(dict.fromkeys(CITIES.values()))

# fmt: off
COLOURS: tuple[str, ...] = (
    "teal", "crimson", "amber", "lilac", "olive", "indigo", "maroon", "coral", "turquoise", "lavender",
    "ochre", "mauve", "scarlet", "beige", "magenta", "navy",
)
# fmt: on


@dataclass(frozen=True)
class Attribute:
    """One attribute: how it is stated, asked, rephrased, and asked as yes/no."""

    key: str
    fact: str  # {name} {value} {extra}
    question: str  # {name}
    rephrased: str  # {first}
    secondary: str  # {name} {threshold}
    comparison: str | None = None  # {a} {b}
    low: int = 0
    high: int = 0
    step: int = 0
    train: tuple[str, ...] = ()  # {name}: reworded training questions (the paraphrase recipes), never asked

    @property
    def numeric(self) -> bool:
        return self.step > 0


# fmt: off
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("weight", "{name} weighs {value} pounds.", "How many pounds does {name} weigh?",
              "What is {first}'s weight in pounds?", "Does {name} weigh more than {threshold} pounds?",
              "Is {a} heavier than {b}?", 100, 260, 10,
              ("Give {name}'s body weight in pounds.", "{name} weighs how many pounds?", "In pounds, how heavy is "
                  "{name}?",
               "Tell me the weight of {name}, measured in pounds.")),
    Attribute("height", "{name} is {value} centimetres tall.", "How tall is {name} in centimetres?",
              "What is {first}'s height in centimetres?", "Is {name} taller than {threshold} centimetres?",
              "Is {a} taller than {b}?", 150, 205, 5,
              ("Give {name}'s height in centimetres.", "{name} stands how many centimetres tall?", "In centimetres, "
                  "what height is {name}?",
               "Tell me how tall {name} is, measured in centimetres.")),
    Attribute("age", "{name} is {value} years old.", "How old is {name}?",
              "What age is {first}?", "Is {name} over {threshold} years old?",
              "Is {a} older than {b}?", 19, 88, 5,
              ("Give {name}'s age in years.", "{name} is how many years old?", "In years, what is the age of {name}?",
               "Tell me the age of {name}.")),
    Attribute("occupation", "{name} works as {article} {value}.", "What is {name}'s job?",
              "What does {first} do for a living?", "Does {name} work in {threshold}?",
              train=("Give {name}'s occupation.", "{name} works in which profession?", "What work does {name} do?",
                     "Tell me the profession of {name}.")),
    Attribute("colour", "{name}'s favourite colour is {value}.", "What is {name}'s favourite colour?",
              "Which colour does {first} like best?", "Is {name}'s favourite colour {threshold}?",
              train=("Give {name}'s favourite colour.", "{name} likes which colour most?", "What colour does {name} "
                  "prefer above all others?",
                     "Tell me the favourite colour of {name}.")),
    Attribute("city", "{name} was born in {value}, {extra}.", "In which city was {name} born?",
              "Where was {first} born?", "Was {name} born in {threshold}?",
              train=("Give the city where {name} was born.", "{name} was born in which city?", "What is the "
                  "birthplace of {name}?",
                     "Tell me the city {name} was born in.")),
)
# fmt: on
BY_KEY = {a.key: a for a in ATTRIBUTES}

TEMPLATES = {
    "default": "Answer briefly.\n{question}",
    "secondary": "Answer Yes or No.\n{question}",
    "comparison": "Answer Yes or No.\n{question}",
}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _distinct(rng: random.Random, low: int, high: int, n: int) -> list[int]:
    """``n`` values in ``low..high``, all different while the range allows it."""
    if n <= high - low + 1:
        pool = list(range(low, high + 1))
        rng.shuffle(pool)
        return pool[:n]
    return [rng.randint(low, high) for _ in range(n)]


def _balanced(rng: random.Random, n: int, extra_yes: bool) -> list[bool]:
    """``n`` answers, half Yes (the odd one Yes when ``extra_yes``), in shuffled order."""
    yes = n // 2 + (1 if (n % 2 and extra_yes) else 0)
    answers = [True] * yes + [False] * (n - yes)
    rng.shuffle(answers)
    return answers


def numeric_threshold(value: int, step: int, yes: bool, extra: int) -> int:
    """A round threshold strictly below ``value`` (``yes``) or strictly above it."""
    if yes:
        return (value - 1) // step * step - extra * step
    return -(-(value + 1) // step) * step + extra * step


def _fact_sentence(attr: Attribute, name: str, value: str) -> str:
    extra = CITIES.get(value, "")
    return attr.fact.format(name=name, value=value, article=_article(value), extra=extra)


def build(n: int, rng: random.Random, name: str, source: str) -> dict[str, Any]:
    pool = NamePool(rng)
    people = [pool.person() for _ in range(n)]
    values: dict[str, list[str]] = {}
    for attr in ATTRIBUTES:
        if attr.numeric:
            values[attr.key] = [str(v) for v in _distinct(rng, attr.low, attr.high, n)]
    occupations = list(OCCUPATIONS)
    cities = list(CITIES)
    values["occupation"] = [rng.choice(occupations) for _ in range(n)]
    values["colour"] = [rng.choice(COLOURS) for _ in range(n)]
    values["city"] = [rng.choice(cities) for _ in range(n)]
    # secondary golds: per attribute half Yes; with odd n the extra Yes alternates between attributes
    golds = {a.key: _balanced(rng, n, extra_yes=(i % 2 == 0)) for i, a in enumerate(ATTRIBUTES)}

    cases: list[dict[str, Any]] = []
    for p, (first, last) in enumerate(people):
        full = f"{first} {last}"
        for attr in ATTRIBUTES:
            value = values[attr.key][p]
            yes = golds[attr.key][p]
            threshold = _secondary_threshold(rng, attr, value, yes)
            cases.append(
                {
                    "id": f"{slug(first, last)}-{attr.key}",
                    "fact": _fact_sentence(attr, full, value),
                    "subject": full,
                    "question": attr.question.format(name=full),
                    "answer": value,
                    "variants": [
                        {"split": "rephrased", "question": attr.rephrased.format(first=first), "answer": value},
                        {
                            "split": "secondary",
                            "question": attr.secondary.format(name=full, threshold=threshold),
                            "answer": "Yes" if yes else "No",
                            "matcher": "yes_no",
                        },
                    ],
                    "train": reworded(attr.train, value, name=full),
                }
            )
    cases.extend(_comparisons(rng, people, values))
    return {
        "dataset": name,
        "kind": "new_knowledge",
        "description": f"{n} invented people with six attributes each (weight, height, age, occupation, "
        "favourite colour, birth city); secondary yes/no questions and pairwise comparisons.",
        "source": source,
        "matcher": "auto",
        "templates": dict(TEMPLATES),
        "cases": cases,
    }


def _secondary_threshold(rng: random.Random, attr: Attribute, value: str, yes: bool) -> str:
    if attr.numeric:
        return str(numeric_threshold(int(value), attr.step, yes, rng.randint(0, 1)))
    truth = {"occupation": OCCUPATIONS.get, "city": CITIES.get}.get(attr.key, lambda v: v)(value)
    options = {"occupation": SECTORS, "city": COUNTRIES, "colour": COLOURS}[attr.key]
    return truth if yes else rng.choice([o for o in options if o != truth])


def _comparisons(
    rng: random.Random, people: list[tuple[str, str]], values: dict[str, list[str]]
) -> list[dict[str, Any]]:
    n = len(people)
    cases: list[dict[str, Any]] = []
    for attr in ATTRIBUTES:
        if attr.comparison is None or n < 2:
            continue
        order = list(range(n))
        rng.shuffle(order)
        pairs = [(order[0], order[1])] if n == 2 else [(order[i], order[(i + 1) % n]) for i in range(n)]
        for i, j in pairs:
            vi, vj = int(values[attr.key][i]), int(values[attr.key][j])
            if vi == vj:
                continue
            a, b = " ".join(people[i]), " ".join(people[j])
            ida, idb = slug(*people[i]), slug(*people[j])
            cases.append(
                {
                    "id": f"{ida}-vs-{idb}-{attr.key}",
                    "fact": _fact_sentence(attr, a, str(vi)) + " " + _fact_sentence(attr, b, str(vj)),
                    "uses": [f"{ida}-{attr.key}", f"{idb}-{attr.key}"],
                    "variants": [
                        {
                            "split": "comparison",
                            "question": attr.comparison.format(a=a, b=b),
                            "answer": "Yes" if vi > vj else "No",
                            "matcher": "yes_no",
                        },
                        {
                            "split": "comparison",
                            "question": attr.comparison.format(a=b, b=a),
                            "answer": "Yes" if vj > vi else "No",
                            "matcher": "yes_no",
                        },
                    ],
                }
            )
    return cases


# ---------------------------------------------------------------- recheck (used by `check`)


def _pattern(template: str, **groups: str) -> re.Pattern[str]:
    """A regex for a filled ``template``: each ``{field}`` becomes the named group given."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{groups.get(m.group(1), '.+?')})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


_FACTS = [(a, _pattern(a.fact, article="an?", extra="[^,]+")) for a in ATTRIBUTES]


def parse_fact(fact: str) -> tuple[Attribute, str, str] | None:
    """(attribute, full name, value) of one generated fact sentence, or None."""
    for attr, pattern in _FACTS:
        m = pattern.match(fact)
        if m:
            value = m.group("value")
            if attr.key == "city" and CITIES.get(value) != m.group("extra"):
                return None
            return attr, m.group("name"), value
    return None


def _expected_secondary(attr: Attribute, value: str, question: str, name: str) -> bool | None:
    m = _pattern(attr.secondary).match(question)
    if not m or m.group("name") != name:
        return None
    asked = m.group("threshold")
    if attr.numeric:
        return int(value) > int(asked) if asked.isdigit() else None
    truth = {"occupation": OCCUPATIONS.get, "city": CITIES.get}.get(attr.key, lambda v: v)(value)
    return asked == truth


def recheck(ds: Any) -> list[tuple[int, str]]:
    """Re-derive every gold of a generated people file from the facts; (line, problem) pairs."""
    problems: list[tuple[int, str]] = []
    facts: dict[str, tuple[Attribute, str, str]] = {}
    yn: Callable[[bool], str] = lambda b: "Yes" if b else "No"  # noqa: E731
    for case in ds.cases:
        if not case.trains:
            continue
        parsed = parse_fact(case.fact or "")
        if parsed is None:
            problems.append(
                (
                    case.line,
                    f"case `{case.id}`: fact does not state one attribute of a person; fix: regenerate the file",
                )
            )
            continue
        attr, name, value = parsed
        facts[case.id] = parsed
        if case.answer != value:
            problems.append(
                (
                    case.line,
                    f"case `{case.id}`: training answer {case.answer!r} contradicts its fact "
                    f"({value!r}); fix: regenerate the file",
                )
            )
        if case.question != attr.question.format(name=name):
            problems.append(
                (
                    case.line,
                    f"case `{case.id}`: training question does not ask the fact's {attr.key} "
                    f"of {name}; fix: regenerate the file",
                )
            )
        for v in case.variants[1:]:
            if v.split == "rephrased":
                first = name.split(" ")[0]
                if v.answer != value or v.question != attr.rephrased.format(first=first):
                    problems.append(
                        (
                            v.line,
                            f"case `{case.id}`: rephrased variant is not the fact's {attr.key} "
                            f"({value!r}) asked of {first}; fix: regenerate the file",
                        )
                    )
            elif v.split == "secondary":
                expected = _expected_secondary(attr, value, v.question, name)
                if expected is None:
                    problems.append(
                        (
                            v.line,
                            f"case `{case.id}`: secondary question cannot be derived from the "
                            "fact; fix: regenerate the file",
                        )
                    )
                elif v.answer != yn(expected):
                    problems.append(
                        (
                            v.line,
                            f"case `{case.id}`: secondary gold {v.answer!r} contradicts the fact "
                            f'({case.fact}) — expected {yn(expected)!r}; fix: set answer: "{yn(expected)}"',
                        )
                    )
    for case in ds.cases:
        if case.trains:
            continue
        used = [facts.get(u) for u in case.uses]
        if len(used) != 2 or None in used or used[0][0] is not used[1][0] or used[0][0].comparison is None:  # type: ignore[index]
            problems.append(
                (
                    case.line,
                    f"case `{case.id}`: a comparison needs two facts of the same numeric "
                    "attribute in `uses`; fix: regenerate the file",
                )
            )
            continue
        attr = used[0][0]  # type: ignore[index]
        known = {u[1]: int(u[2]) for u in used}  # type: ignore[union-attr]
        pattern = _pattern(attr.comparison or "")
        for v in case.variants:
            m = pattern.match(v.question)
            if v.split != "comparison" or not m or set((m["a"], m["b"])) != set(known):
                problems.append(
                    (
                        v.line,
                        f"case `{case.id}`: comparison question does not compare the two used "
                        "people; fix: regenerate the file",
                    )
                )
                continue
            expected = yn(known[m["a"]] > known[m["b"]])
            if v.answer != expected:
                problems.append(
                    (
                        v.line,
                        f"case `{case.id}`: comparison gold {v.answer!r} contradicts the used facts "
                        f'({m["a"]}: {known[m["a"]]}, {m["b"]}: {known[m["b"]]}); fix: set answer: "{expected}"',
                    )
                )
    return problems
