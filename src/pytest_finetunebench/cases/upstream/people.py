"""Building fictional_people: six facts per invented person, their rephrasings, derived and comparison questions.

Training cases are ``<person id>-<attribute>``, the attribute read from the question's form; each
comparison case uses the compared attribute's case of both people.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..schema import MEMORIZATION
from .build import Built, Quoted, Split, dataset_data, matcher_for, source_line, variant
from .tables import Ids, UpstreamError, read_table, require, sanitize_id

# fictional_people: the attribute a memorization question asks about, from the question's form.
ATTRIBUTE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("weight", re.compile(r"^How many pounds does .+ weigh\?$")),
    ("height", re.compile(r"^How tall is .+\?$")),
    ("age", re.compile(r"^How old is .+\?$")),
    ("occupation", re.compile(r"^What is .+'s occupation\?$")),
    ("favorite-color", re.compile(r"^What is .+'s favorite colou?r\?$")),
    ("city", re.compile(r"^Where does .+ live\?$")),
)


def attribute_of(question: str) -> str | None:
    """The fictional_people attribute a memorization question asks about (None if unknown)."""
    for name, pattern in ATTRIBUTE_PATTERNS:
        if pattern.match(question.strip()):
            return name
    return None


def build_fictional_people(clone: Path) -> Built:
    base = "datasets/fictional_people/fictional_people_"
    mem = read_table(
        clone, f"{base}memorization.csv", ["id", "prompt", "answer", "fact", "question"], "fictional_people"
    )
    reph = read_table(
        clone,
        f"{base}rephrased.csv",
        ["id", "prompt", "answer", "original_question", "rephrased_question"],
        "fictional_people",
    )
    sec = read_table(clone, f"{base}secondary.csv", ["id", "prompt", "answer", "fact", "question"], "fictional_people")
    comp = read_table(clone, f"{base}comparison.csv", ["id", "prompt", "answer", "question"], "fictional_people")

    # training cases: <person id>-<attribute>
    per_person: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in mem.rows:
        require(mem, r, "id", "prompt", "question", "answer")
        per_person[r["id"]].append(r)
    case_of_row: dict[int, str] = {}
    ids = Ids()
    person_cases: dict[str, dict[str, str]] = {}  # person id -> attribute -> case id
    for person, prows in per_person.items():
        attrs = [attribute_of(r["question"]) for r in prows]
        counts = Counter(attrs)
        person_cases[person] = {}
        for n, (r, attr) in enumerate(zip(prows, attrs), start=1):
            suffix = attr if attr is not None and counts[attr] == 1 else str(n)
            cid = ids.take(f"{sanitize_id(person)}-{suffix}")
            case_of_row[id(r)] = cid
            person_cases[person][suffix] = cid

    # rephrased: original_question == memorization question
    by_question: dict[str, dict[str, str]] = {}
    for r in mem.rows:
        by_question.setdefault(r["question"], r)
    reph_of: dict[int, list[dict[str, str]]] = defaultdict(list)
    for r in reph.rows:
        require(reph, r, "prompt", "rephrased_question", "answer")
        target = by_question.get(r["original_question"])
        if target is None:
            raise UpstreamError(
                f"{reph.path}: row `{r['id']}` has an original_question that no memorization row asks;"
                " fix: use an unmodified copy of the upstream files"
            )
        reph_of[id(target)].append(r)

    # secondary: same person id, then the same fact, else the same position among that person's rows
    sec_of: dict[int, list[dict[str, str]]] = defaultdict(list)
    seen: Counter[str] = Counter()
    for r in sec.rows:
        require(sec, r, "prompt", "question", "answer")
        prows = per_person.get(r["id"], [])
        position = seen[r["id"]]
        seen[r["id"]] += 1
        same_fact = [m for m in prows if r["fact"].strip() and m["fact"] == r["fact"]]
        if len(same_fact) == 1:
            target = same_fact[0]
        elif position < len(prows):
            target = prows[position]
        else:
            raise UpstreamError(
                f"{sec.path}: row `{r['id']}` (number {position + 1} of that id) matches no memorization row;"
                " fix: use an unmodified copy of the upstream files"
            )
        sec_of[id(target)].append(r)

    templates: dict[str, str] = {}
    s_mem = Split(MEMORIZATION, mem.rows, "question", templates)
    s_reph = Split("rephrased", reph.rows, "rephrased_question", templates)
    s_sec = Split("secondary", sec.rows, "question", templates)
    s_comp = Split("comparison", comp.rows, "question", templates)

    built = Built("fictional_people", {})
    cases: list[dict[str, Any]] = []
    for r in mem.rows:
        cid = case_of_row[id(r)]
        case: dict[str, Any] = {"id": cid}
        if r["fact"].strip():
            case["fact"] = r["fact"]
        case.update({"question": r["question"], "answer": Quoted(r["answer"])})
        case.update(matcher_for(r["answer"]))
        case.update(s_mem.prompt_field(r, "question"))
        built.expected.append((cid, MEMORIZATION, r["prompt"]))
        variants = []
        for rr in reph_of[id(r)]:
            variants.append(variant(s_reph, rr, "rephrased_question"))
            built.expected.append((cid, "rephrased", rr["prompt"]))
        for sr in sec_of[id(r)]:
            variants.append(variant(s_sec, sr, "question"))
            built.expected.append((cid, "secondary", sr["prompt"]))
        if variants:
            case["variants"] = variants
        cases.append(case)

    # comparison: upstream id "<person 1>-<person 2>-<attribute>", no training pair of its own
    people = sorted(per_person, key=len, reverse=True)
    unresolved = 0
    for r in comp.rows:
        require(comp, r, "id", "prompt", "question", "answer")
        cid = ids.take(sanitize_id(r["id"]))
        uses = _comparison_uses(r["id"], people, person_cases)
        unresolved += not uses
        case = {"id": cid}
        if uses:
            case["uses"] = uses
        case["variants"] = [variant(s_comp, r, "question")]
        built.expected.append((cid, "comparison", r["prompt"]))
        cases.append(case)

    n_people = len(per_person)
    description = (
        f"FineTuneBench fictional_people: {len(mem.rows)} facts about {n_people} invented people"
        " (weight, height, age, occupation, favorite color, city). Splits: memorization, rephrased,"
        f" secondary (Yes/No questions derived from one fact) and comparison ({len(comp.rows)} Yes/No"
        " questions between two people, cases with no training pair of their own that use the"
        " compared attribute's cases of both people)."
        + (
            f" {unresolved} comparison case(s) name people or an attribute not found and use nothing."
            if unresolved
            else ""
        )
        + " The upstream comparison rows' `fact` column is not imported (it names weights whatever the attribute)."
    )
    built.data = dataset_data(
        "fictional_people", "new_knowledge", description, source_line(mem, reph, sec, comp), templates, cases
    )
    return built


def _comparison_uses(raw_id: str, people: Sequence[str], person_cases: dict[str, dict[str, str]]) -> list[str]:
    """The training cases a comparison relies on: the compared attribute's case of each person."""
    for p1 in people:
        if not raw_id.startswith(p1 + "-"):
            continue
        rest = raw_id[len(p1) + 1 :]
        for p2 in people:
            if not rest.startswith(p2 + "-"):
                continue
            attr = re.sub(r"\s+", "-", rest[len(p2) + 1 :].strip().lower())
            uses: list[str] = []
            for person in (p1, p2):
                cases = person_cases[person]
                wanted = [cases[attr]] if attr in cases else list(cases.values())
                uses.extend(c for c in wanted if c not in uses)
            return uses
    return []
