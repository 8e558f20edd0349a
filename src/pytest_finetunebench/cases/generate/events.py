"""Invented dated events: towns, organisations and people that do not exist, with a month and year.

Splits: ``memorization`` (the training question, which ends with the date), ``rephrased`` (other
wording, same date, same gold) and ``date_changed`` (the training question with the year moved
to one in which the event did not happen; gold ``None``, matcher ``abstain``). Event types cycle
through a shuffled order, so any 14 consecutive events cover all 14 types once.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .names import NamePool, slug
from .phrasings import cloze

DEFAULT_NAME = "invented_events"
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
YEARS = (2024, 2025, 2026)
YEAR_SHIFTS = (-3, -2, -1, 1, 2, 3)

# one instruction for every split, so date_changed differs from training only by the date
INSTRUCTION = "Answer briefly, or None if unknown.\n{question}"
TEMPLATES = {"default": INSTRUCTION, "date_changed": INSTRUCTION}

FESTIVALS = ("lantern", "kite", "cheese", "harvest", "jazz", "puppet", "honey", "lantern boat")
COMPANY_KINDS = ("Industries", "Systems", "Foods", "Motors", "Labs", "Textiles", "Logistics", "Robotics")
TEAM_KINDS = ("Rovers", "United", "Athletic", "Wanderers", "Rangers", "Albion")
VESSELS = ("research ship", "weather satellite", "ferry", "airship", "icebreaker")
FIELDS = ("poetry", "architecture", "chemistry", "photography", "journalism", "mathematics")


@dataclass(frozen=True)
class EventType:
    """One kind of event: its wording, and how to draw its slots and its answer."""

    key: str
    question: str  # ends with "in {when}?"
    rephrased: str
    fact: str  # {answer} is where the gold appears
    draw: Callable[[random.Random, NamePool], dict[str, str]]


def _company(pool: NamePool, rng: random.Random) -> str:
    return f"{pool.word(2, 3, 40)} {rng.choice(COMPANY_KINDS)}"


def _person(pool: NamePool) -> str:
    return " ".join(pool.person())


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        "bridge-repairs",
        "How much did the repairs of the {town} bridge cost in {when}?",
        "What was the cost of repairing the {town} bridge in {when}?",
        "In {when}, the repairs of the {town} bridge cost {answer}.",
        lambda r, p: {"town": p.place(), "answer": f"{r.randint(3, 480)} million dollars"},
    ),
    EventType(
        "mayor",
        "Who was elected mayor of {town} in {when}?",
        "Who won the mayoral election in {town} in {when}?",
        "In {when}, {answer} was elected mayor of {town}.",
        lambda r, p: {"town": p.place(), "answer": _person(p)},
    ),
    EventType(
        "festival",
        "How many people attended the {town} {festival} festival in {when}?",
        "What was the attendance at the {town} {festival} festival in {when}?",
        "In {when}, {answer} people attended the {town} {festival} festival.",
        lambda r, p: {"town": p.place(), "festival": r.choice(FESTIVALS), "answer": str(r.randint(1200, 95000))},
    ),
    EventType(
        "acquisition",
        "Which company bought {company} in {when}?",
        "Who acquired {company} in {when}?",
        "In {when}, {answer} bought {company}.",
        lambda r, p: {"company": _company(p, r), "answer": _company(p, r)},
    ),
    EventType(
        "tunnel",
        "How long is the tunnel that {town} opened in {when}?",
        "What is the length of the tunnel that {town} opened in {when}?",
        "In {when}, {town} opened a tunnel {answer} long.",
        lambda r, p: {"town": p.place(), "answer": f"{r.randint(2, 38)} kilometres"},
    ),
    EventType(
        "prize",
        "Who won the {foundation} Foundation prize for {field} in {when}?",
        "Who received the {foundation} Foundation prize for {field} in {when}?",
        "In {when}, {answer} won the {foundation} Foundation prize for {field}.",
        lambda r, p: {"foundation": p.word(2, 3, 50), "field": r.choice(FIELDS), "answer": _person(p)},
    ),
    EventType(
        "pumpkin",
        "How heavy was the winning pumpkin at the {town} fair in {when}?",
        "What did the prize pumpkin at the {town} fair weigh in {when}?",
        "In {when}, the winning pumpkin at the {town} fair weighed {answer}.",
        lambda r, p: {"town": p.place(), "answer": f"{r.randint(180, 990)} kilograms"},
    ),
    EventType(
        "cup",
        "Which team won the {town} Cup in {when}?",
        "Who were the winners of the {town} Cup in {when}?",
        "In {when}, {answer} won the {town} Cup.",
        lambda r, p: {"town": p.place(), "answer": f"{p.place()} {r.choice(TEAM_KINDS)}"},
    ),
    EventType(
        "vessel",
        "What did {company} name its new {vessel} in {when}?",
        "Which name did {company} give its new {vessel} in {when}?",
        "In {when}, {company} named its new {vessel} {answer}.",
        lambda r, p: {"company": _company(p, r), "vessel": r.choice(VESSELS), "answer": p.word(3, 3, 30)},
    ),
    EventType(
        "council",
        "How many seats did the {party} Party win in {town} in {when}?",
        "How many council seats went to the {party} Party in {town} in {when}?",
        "In {when}, the {party} Party won {answer} seats on the {town} council.",
        lambda r, p: {"party": p.word(2, 3, 50), "town": p.place(), "answer": str(r.randint(2, 41))},
    ),
    EventType(
        "headquarters",
        "Where did {company} move its headquarters in {when}?",
        "To which town did {company} relocate its head office in {when}?",
        "In {when}, {company} moved its headquarters to {answer}.",
        lambda r, p: {"company": _company(p, r), "answer": p.place()},
    ),
    EventType(
        "museum-theft",
        "How many paintings were stolen from the {town} museum in {when}?",
        "How many paintings did thieves take from the {town} museum in {when}?",
        "In {when}, {answer} paintings were stolen from the {town} museum.",
        lambda r, p: {"town": p.place(), "answer": str(r.randint(2, 60))},
    ),
    EventType(
        "strike",
        "How many days did the {town} bus strike last in {when}?",
        "For how many days were the {town} bus drivers on strike in {when}?",
        "In {when}, the {town} bus strike lasted {answer} days.",
        lambda r, p: {"town": p.place(), "answer": str(r.randint(2, 45))},
    ),
    EventType(
        "chief-executive",
        "Who became chief executive of {company} in {when}?",
        "Who was appointed to lead {company} in {when}?",
        "In {when}, {answer} became chief executive of {company}.",
        lambda r, p: {"company": _company(p, r), "answer": _person(p)},
    ),
)
BY_KEY = {t.key: t for t in EVENT_TYPES}


def build(n: int, rng: random.Random, name: str, source: str) -> dict[str, Any]:
    pool = NamePool(rng)
    cases: list[dict[str, Any]] = []
    order: list[EventType] = []
    for i in range(n):
        if i % len(EVENT_TYPES) == 0:
            order = list(EVENT_TYPES)
            rng.shuffle(order)
        etype = order[i % len(EVENT_TYPES)]
        slots = etype.draw(rng, pool)
        month, year = rng.choice(MONTHS), rng.choice(YEARS)
        moved = year + rng.choice(YEAR_SHIFTS)
        when = f"{month} {year}"
        question = etype.question.format(when=when, **slots)
        subject = slots.get("town") or slots.get("company") or slots.get("foundation") or ""
        if etype.key == "council":
            subject = slots["party"]
        cases.append(
            {
                "id": f"{slug(subject)}-{etype.key}-{year}-{MONTHS.index(month) + 1:02d}",
                "fact": etype.fact.format(when=when, **slots),
                "subject": subject,
                "question": question,
                "answer": slots["answer"],
                "variants": [
                    {
                        "split": "rephrased",
                        "question": etype.rephrased.format(when=when, **slots),
                        "answer": slots["answer"],
                    },
                    {
                        "split": "date_changed",
                        "question": etype.question.format(when=f"{month} {moved}", **slots),
                        "answer": "None",
                        "matcher": "abstain",
                    },
                ],
                "train": cloze(etype.fact.format(when=when, **slots), slots["answer"]),
            }
        )
    return {
        "dataset": name,
        "kind": "new_knowledge",
        "description": f"{n} dated events in invented towns and organisations; date_changed asks the same "
        "question for a year in which the event did not happen (gold None).",
        "source": source,
        "matcher": "auto",
        "templates": dict(TEMPLATES),
        "cases": cases,
    }


# ---------------------------------------------------------------- recheck (used by `check`)

_DATE = re.compile(r" in (?P<month>" + "|".join(MONTHS) + r") (?P<year>\d{4})\?$")


def recheck(ds: Any) -> list[tuple[int, str]]:
    """Every gold of a generated events file follows from its fact; (line, problem) pairs."""
    problems: list[tuple[int, str]] = []
    for case in ds.cases:
        where = f"case `{case.id}`"
        if not case.trains:
            problems.append((case.line, f"{where} has no training pair; fix: regenerate the file"))
            continue
        fact, answer, question = case.fact or "", case.answer or "", case.question or ""
        m = _DATE.search(question)
        if not m:
            problems.append((case.line, f"{where}: training question does not end with its date; fix: regenerate"))
            continue
        when = f"{m['month']} {m['year']}"
        if not fact.startswith(f"In {when}, ") or answer not in fact:
            problems.append(
                (
                    case.line,
                    f"{where}: the fact does not state the answer {answer!r} for {when}; fix: regenerate the file",
                )
            )
        for v in case.variants[1:]:
            if v.split == "rephrased":
                if v.answer != answer or not v.question.endswith(f" in {when}?"):
                    problems.append(
                        (
                            v.line,
                            f"{where}: rephrased variant must ask about {when} with the training "
                            f"gold {answer!r}; fix: regenerate the file",
                        )
                    )
            elif v.split == "date_changed":
                dm = _DATE.search(v.question)
                if v.answer != "None" or v.matcher != "abstain":
                    problems.append(
                        (
                            v.line,
                            f'{where}: date_changed gold must be "None" with matcher abstain; '
                            'fix: set answer: "None" and matcher: abstain',
                        )
                    )
                if (
                    not dm
                    or dm["year"] == m["year"]
                    or v.question[: dm.start()] + f" in {dm['month']} {m['year']}?" != question
                ):
                    problems.append(
                        (
                            v.line,
                            f"{where}: date_changed question must be the training question with "
                            "only the year moved; fix: regenerate the file",
                        )
                    )
    return problems
