"""``python -m pytest_finetunebench import-upstream``: FineTuneBench's published CSVs -> case files.

Usage::

    python -m pytest_finetunebench import-upstream CLONE --out DIR [--all-latest-news] [--datasets a,b]

``CLONE`` is a clone of the paper's repository (kevinwu23/StanfordFineTuneBench), read from
``CLONE/datasets/<dataset>/*.csv``; one case file ``DIR/<dataset>.yaml`` is written per dataset
(``latest_news``, ``fictional_people``, ``medical``, ``coding``; all four unless ``--datasets``).
The upstream repository carries no license: the files are written where the user asks and the
project never ships them.

What is sent to the model is kept byte for byte: when every row of a split is
``prefix + question + suffix`` with one prefix and suffix, the split gets a template
``prefix{question}suffix``; otherwise each item gets its exact ``prompt:``.

Case ids (stable for a given upstream file):

* an upstream id is kept byte for byte (curly apostrophes, commas, spaces and all), so a report
  joins back to the upstream rows by ``id``; only what a pytest node name cannot carry (``::``,
  ``[``, ``]``, control characters, outer spaces) is changed (see :func:`sanitize_id`). A true
  repeat of an id gets ``-2``, ``-3`` in file order.
* fictional_people repeats one upstream id per person for six attributes: its training cases are
  ``<person id>-<attribute>`` with the attribute read from the question (``weight``, ``height``,
  ``age``, ``occupation``, ``favorite-color``, ``city``), or ``<person id>-<n>`` (1-based
  position among that person's rows) when the question is not one of those six forms.

Exit status: 0 written; 1 the clone's data is unusable (a missing file or column, a row that
does not join), nothing written; 2 a bad command line (unknown option or dataset, no such
clone directory).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from .cases import MEMORIZATION, QUESTION_SLOT, CaseFileError, load_dataset
from .store import atomic_write

REPOSITORY = "kevinwu23/StanfordFineTuneBench"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
DATASETS = ("latest_news", "fictional_people", "medical", "coding")
PROG = "python -m pytest_finetunebench import-upstream"

# fictional_people: the attribute a memorization question asks about, from the question's form.
ATTRIBUTE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("weight", re.compile(r"^How many pounds does .+ weigh\?$")),
    ("height", re.compile(r"^How tall is .+\?$")),
    ("age", re.compile(r"^How old is .+\?$")),
    ("occupation", re.compile(r"^What is .+'s occupation\?$")),
    ("favorite-color", re.compile(r"^What is .+'s favorite colou?r\?$")),
    ("city", re.compile(r"^Where does .+ live\?$")),
)

_YES_NO = ("Yes", "No")


class UpstreamError(Exception):
    """The clone's data cannot be imported; ``str()`` is one line naming the file and the fix."""

    exit_code = 1


class UsageError(UpstreamError):
    """A bad command line (no such clone directory, unknown dataset)."""

    exit_code = 2


# ---------------------------------------------------------------------------------------------
# ids



def allow_long_csv_fields() -> None:
    """Let the csv module read upstream's long cells (article texts exceed its 128 KiB default)."""
    limit = 2**31 - 1
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)

def sanitize_id(raw: str) -> str:
    """A valid case id from an upstream id: ``raw`` itself whenever a pytest node name can carry it."""
    text = re.sub(r":{2,}", ":", re.sub(r"[\x00-\x1f\x7f]", "", raw).strip()).replace("[", "(").replace("]", ")")
    return text or "row"


class _Ids:
    """Hands out unique ids: the wanted one, or ``wanted-2``, ``wanted-3``... on a repeat."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{wanted}-{n}"
        self.taken.add(candidate)
        return candidate


def attribute_of(question: str) -> str | None:
    """The fictional_people attribute a memorization question asks about (None if unknown)."""
    for name, pattern in ATTRIBUTE_PATTERNS:
        if pattern.match(question.strip()):
            return name
    return None


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class _Table:
    path: Path
    rel: str  # path inside the clone, as named in `source:`
    rows: list[dict[str, str]]


def _read(clone: Path, rel: str, columns: Iterable[str], dataset: str) -> _Table:
    path = clone / rel
    if not path.is_file():
        raise UpstreamError(
            f"{path}: file not found; fix: pass the root of a complete clone of {REPOSITORY}"
            f" or leave {dataset} out with --datasets"
        )
    allow_long_csv_fields()
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            rows = [dict(r) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UpstreamError(f"{path}: cannot read it as UTF-8 CSV ({exc}); fix: use an unmodified copy of the upstream file") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise UpstreamError(
            f"{path}: no column {', '.join(f'`{c}`' for c in missing)} (it has {', '.join(header) or 'none'});"
            " fix: use an unmodified copy of the upstream file"
        )
    if not rows:
        raise UpstreamError(f"{path}: the file has no rows; fix: use an unmodified copy of the upstream file")
    for n, row in enumerate(rows, start=2):
        for c in columns:
            if row.get(c) is None:
                raise UpstreamError(f"{path}:{n}: the row is short of column `{c}`; fix: use an unmodified copy of the upstream file")
    return _Table(path, rel, rows)


def _require(table: _Table, row: dict[str, str], *columns: str) -> None:
    for c in columns:
        if not row[c].strip():
            raise UpstreamError(
                f"{table.path}: row with id `{row.get('id', '?')}` has an empty `{c}`;"
                " fix: use an unmodified copy of the upstream file"
            )


# ---------------------------------------------------------------------------------------------
# building


@dataclass
class _Built:
    """One dataset ready to write, with the prompts its file must render (for the self-check)."""

    name: str
    data: dict[str, Any]
    expected: list[tuple[str, str, str]] = field(default_factory=list)  # (case id, split, prompt)


class _Quoted(str):
    """An answer: always written double-quoted (YAML would read a bare Yes/No as a boolean)."""


class _Dumper(yaml.SafeDumper):
    """The safe dumper, plus double quotes for answers."""


_Dumper.add_representer(_Quoted, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))


def _template(rows: Sequence[dict[str, str]], qcol: str) -> str | None:
    """``prefix{question}suffix`` when every row's prompt is that around its question, else None."""
    if not rows:
        return None
    first_prompt, first_q = rows[0]["prompt"], rows[0][qcol]
    for at in {first_prompt.find(first_q), first_prompt.rfind(first_q)}:
        if at < 0:
            continue
        prefix, suffix = first_prompt[:at], first_prompt[at + len(first_q) :]
        if QUESTION_SLOT in prefix or QUESTION_SLOT in suffix:
            return None
        if all(r["prompt"] == prefix + r[qcol] + suffix for r in rows):
            return prefix + QUESTION_SLOT + suffix
    return None


class _Split:
    """How one split's items carry their prompt: via the template, or an exact ``prompt:``."""

    def __init__(self, name: str, rows: Sequence[dict[str, str]], qcol: str, templates: dict[str, str]) -> None:
        self.name = name
        self.template = _template(rows, qcol)
        if self.template is not None and self.template != QUESTION_SLOT:
            templates[name] = self.template

    def prompt_field(self, row: dict[str, str], qcol: str) -> dict[str, str]:
        if self.template is not None or row["prompt"] == row[qcol]:
            return {}
        return {"prompt": row["prompt"]}


def _matcher_for(answer: str) -> dict[str, str]:
    return {"matcher": "yes_no"} if answer.strip() in _YES_NO else {}


def _variant(split: _Split, row: dict[str, str], qcol: str, **extra: str) -> dict[str, Any]:
    out: dict[str, Any] = {"split": split.name, "question": row[qcol], "answer": _Quoted(row["answer"])}
    out.update(extra or _matcher_for(row["answer"]))
    out.update(split.prompt_field(row, qcol))
    return out


def _source(*tables: _Table, note: str = "") -> str:
    files = ", ".join(t.rel for t in tables)
    text = f"{REPOSITORY} ({REPOSITORY_URL}): {files}; imported with `{PROG}`"
    return f"{text} {note}".rstrip()


def _dataset(name: str, kind: str, description: str, source: str, templates: dict[str, str], cases: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {"dataset": name, "kind": kind, "description": description, "source": source, "matcher": "auto"}
    if templates:
        data["templates"] = templates
    data["cases"] = cases
    return data


def build_latest_news(clone: Path, all_rows: bool) -> _Built:
    base = "datasets/latest_news/latest_news_"
    common = ["id", "prompt", "answer"] + ([] if all_rows else ["used_in_analysis"])
    mem = _read(clone, f"{base}memorization.csv", common + ["question", "fact"], "latest_news")
    reph = _read(clone, f"{base}rephrased.csv", common + ["rephrased_question"], "latest_news")
    date = _read(clone, f"{base}date_changed.csv", common + ["date_changed_question"], "latest_news")

    def chosen(table: _Table) -> list[dict[str, str]]:
        if all_rows:
            return table.rows
        return [r for r in table.rows if r["used_in_analysis"].strip().lower() == "true"]

    rows = chosen(mem)
    if not rows:
        raise UpstreamError(f"{mem.path}: no row has used_in_analysis == True; fix: pass --all-latest-news to import every row")
    by_id: dict[str, dict[str, str]] = {}
    for r in rows:
        _require(mem, r, "id", "prompt", "question", "answer")
        if r["id"] in by_id:
            raise UpstreamError(f"{mem.path}: id `{r['id']}` appears twice; fix: use an unmodified copy of the upstream file")
        by_id[r["id"]] = r

    def joined(table: _Table, qcol: str) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for r in table.rows:
            if r["id"] in by_id and r["id"] not in out:
                _require(table, r, "prompt", qcol, "answer")
                original = r.get("original_question")
                if original is not None and original != by_id[r["id"]]["question"]:
                    raise UpstreamError(
                        f"{table.path}: row `{r['id']}` has an original_question unlike the memorization question;"
                        " fix: use an unmodified copy of the upstream files"
                    )
                out[r["id"]] = r
        return out

    reph_rows, date_rows = joined(reph, "rephrased_question"), joined(date, "date_changed_question")
    templates: dict[str, str] = {}
    s_mem = _Split(MEMORIZATION, rows, "question", templates)
    s_reph = _Split("rephrased", list(reph_rows.values()), "rephrased_question", templates)
    s_date = _Split("date_changed", list(date_rows.values()), "date_changed_question", templates)

    ids = _Ids()
    built = _Built("latest_news", {})
    cases: list[dict[str, Any]] = []
    for r in rows:
        cid = ids.take(sanitize_id(r["id"]))
        case: dict[str, Any] = {"id": cid}
        if r["fact"].strip():
            case["fact"] = r["fact"]
        case.update({"question": r["question"], "answer": _Quoted(r["answer"])})
        case.update(s_mem.prompt_field(r, "question"))
        built.expected.append((cid, MEMORIZATION, r["prompt"]))
        variants = []
        if (rr := reph_rows.get(r["id"])) is not None:
            variants.append(_variant(s_reph, rr, "rephrased_question"))
            built.expected.append((cid, "rephrased", rr["prompt"]))
        if (dr := date_rows.get(r["id"])) is not None:
            variants.append(_variant(s_date, dr, "date_changed_question", matcher="abstain"))
            built.expected.append((cid, "date_changed", dr["prompt"]))
        if variants:
            case["variants"] = variants
        cases.append(case)
    which = f"all {len(rows)} rows" if all_rows else f"the {len(rows)} rows with used_in_analysis == True (the paper's analysis set; --all-latest-news imports all {len(mem.rows)})"
    description = (
        "FineTuneBench latest_news: questions about news articles published after the models'"
        f" training cutoff; {which}. Splits: memorization (the training question), rephrased,"
        " and date_changed (the year moved to one where the event did not happen; gold None, graded as abstain)."
    )
    built.data = _dataset("latest_news", "new_knowledge", description, _source(mem, reph, date), templates, cases)
    return built


def build_fictional_people(clone: Path) -> _Built:
    base = "datasets/fictional_people/fictional_people_"
    mem = _read(clone, f"{base}memorization.csv", ["id", "prompt", "answer", "fact", "question"], "fictional_people")
    reph = _read(clone, f"{base}rephrased.csv", ["id", "prompt", "answer", "original_question", "rephrased_question"], "fictional_people")
    sec = _read(clone, f"{base}secondary.csv", ["id", "prompt", "answer", "fact", "question"], "fictional_people")
    comp = _read(clone, f"{base}comparison.csv", ["id", "prompt", "answer", "question"], "fictional_people")

    # training cases: <person id>-<attribute>
    per_person: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in mem.rows:
        _require(mem, r, "id", "prompt", "question", "answer")
        per_person[r["id"]].append(r)
    case_of_row: dict[int, str] = {}
    ids = _Ids()
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
        _require(reph, r, "prompt", "rephrased_question", "answer")
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
        _require(sec, r, "prompt", "question", "answer")
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
    s_mem = _Split(MEMORIZATION, mem.rows, "question", templates)
    s_reph = _Split("rephrased", reph.rows, "rephrased_question", templates)
    s_sec = _Split("secondary", sec.rows, "question", templates)
    s_comp = _Split("comparison", comp.rows, "question", templates)

    built = _Built("fictional_people", {})
    cases: list[dict[str, Any]] = []
    for r in mem.rows:
        cid = case_of_row[id(r)]
        case: dict[str, Any] = {"id": cid}
        if r["fact"].strip():
            case["fact"] = r["fact"]
        case.update({"question": r["question"], "answer": _Quoted(r["answer"])})
        case.update(_matcher_for(r["answer"]))
        case.update(s_mem.prompt_field(r, "question"))
        built.expected.append((cid, MEMORIZATION, r["prompt"]))
        variants = []
        for rr in reph_of[id(r)]:
            variants.append(_variant(s_reph, rr, "rephrased_question"))
            built.expected.append((cid, "rephrased", rr["prompt"]))
        for sr in sec_of[id(r)]:
            variants.append(_variant(s_sec, sr, "question"))
            built.expected.append((cid, "secondary", sr["prompt"]))
        if variants:
            case["variants"] = variants
        cases.append(case)

    # comparison: upstream id "<person 1>-<person 2>-<attribute>", no training pair of its own
    people = sorted(per_person, key=len, reverse=True)
    unresolved = 0
    for r in comp.rows:
        _require(comp, r, "id", "prompt", "question", "answer")
        cid = ids.take(sanitize_id(r["id"]))
        uses = _comparison_uses(r["id"], people, person_cases)
        unresolved += not uses
        case = {"id": cid}
        if uses:
            case["uses"] = uses
        case["variants"] = [_variant(s_comp, r, "question")]
        built.expected.append((cid, "comparison", r["prompt"]))
        cases.append(case)

    n_people = len(per_person)
    description = (
        f"FineTuneBench fictional_people: {len(mem.rows)} facts about {n_people} invented people"
        " (weight, height, age, occupation, favorite color, city). Splits: memorization, rephrased,"
        f" secondary (Yes/No questions derived from one fact) and comparison ({len(comp.rows)} Yes/No"
        " questions between two people, cases with no training pair of their own that use the"
        " compared attribute's cases of both people)."
        + (f" {unresolved} comparison case(s) name people or an attribute not found and use nothing." if unresolved else "")
        + " The upstream comparison rows' `fact` column is not imported (it names weights whatever the attribute)."
    )
    built.data = _dataset("fictional_people", "new_knowledge", description, _source(mem, reph, sec, comp), templates, cases)
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


def _build_updating(
    clone: Path, name: str, mem_rel: str, gen_rel: str, split: str, mem_required: bool, topic: str
) -> _Built:
    gen = _read(clone, gen_rel, ["id", "prompt", "answer"], name)
    mem = None
    if mem_required or (clone / mem_rel).is_file():
        mem = _read(clone, mem_rel, ["id", "prompt", "answer", "answer_before"], name)
    templates: dict[str, str] = {}
    built = _Built(name, {})
    cases: list[dict[str, Any]] = []
    ids = _Ids()
    gen_by_id: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in gen.rows:
        _require(gen, r, "id", "prompt", "answer")
        gen_by_id[r["id"]].append(r)
    if mem is not None:
        s_gen = _Split(split, gen.rows, "prompt", templates)
        fact_col = "updated_fact_description" if mem.rows and "updated_fact_description" in mem.rows[0] else None
        mem_ids = set()
        for r in mem.rows:
            _require(mem, r, "id", "prompt", "answer", "answer_before")
            if r["id"] in mem_ids:
                raise UpstreamError(f"{mem.path}: id `{r['id']}` appears twice; fix: use an unmodified copy of the upstream file")
            mem_ids.add(r["id"])
            cid = ids.take(sanitize_id(r["id"]))
            case: dict[str, Any] = {"id": cid}
            if fact_col and r[fact_col].strip():
                case["fact"] = r[fact_col]
            case.update({"question": r["prompt"], "answer": _Quoted(r["answer"]), "answer_before": _Quoted(r["answer_before"])})
            built.expected.append((cid, MEMORIZATION, r["prompt"]))
            variants = []
            for g in gen_by_id.get(r["id"], []):
                variants.append(_variant(s_gen, g, "prompt"))
                built.expected.append((cid, split, g["prompt"]))
            if variants:
                case["variants"] = variants
            cases.append(case)
        orphans = [i for i in gen_by_id if i not in mem_ids]
        if orphans:
            raise UpstreamError(
                f"{gen.path}: id `{orphans[0]}` has no row in {mem.rel}; fix: use unmodified copies of the upstream files"
            )
        description = (
            f"FineTuneBench {name}: {len(mem.rows)} updates to {topic} (answer_before is the answer before the"
            f" update); memorization asks the training question, {split} asks {len(gen.rows)} new questions"
            " that need the update (joined by id)."
        )
        source = _source(mem, gen)
    else:
        s_gen = _Split(split, gen.rows, "prompt", templates)
        has_before = "answer_before" in (gen.rows[0] if gen.rows else {})
        for r in gen.rows:
            cid = ids.take(sanitize_id(r["id"]))
            case = {"id": cid}
            if has_before and r["answer_before"].strip():
                case["answer_before"] = _Quoted(r["answer_before"])
            case["variants"] = [_variant(s_gen, r, "prompt")]
            built.expected.append((cid, split, r["prompt"]))
            cases.append(case)
        description = (
            f"FineTuneBench {name}: {len(gen.rows)} {split} questions about {topic}. INCOMPLETE: {Path(mem_rel).name}"
            " (the training questions) is missing from the public repository, so no case here has a"
            " training pair: tuning on this file teaches nothing, and a run measures whether the model"
            " already gives the updated answer (answer_before holds the pre-update one). Put the"
            f" upstream {Path(mem_rel).name} into datasets/{name}/ and re-import to get the training pairs."
        )
        source = _source(gen, note=f"({Path(mem_rel).name} is missing upstream)")
    built.data = _dataset(name, "updating_knowledge", description, source, templates, cases)
    return built


def build_medical(clone: Path) -> _Built:
    return _build_updating(
        clone,
        "medical",
        "datasets/medical/medical_memorization.csv",
        "datasets/medical/medical_generalization.csv",
        "vignette",
        True,
        "clinical guidelines",
    )


def build_coding(clone: Path) -> _Built:
    return _build_updating(
        clone,
        "coding",
        "datasets/coding/coding_memorization.csv",
        "datasets/coding/coding_generalization.csv",
        "code",
        False,
        "library APIs (invented renames of real functions and methods)",
    )


# ---------------------------------------------------------------------------------------------
# writing


def render(built: _Built) -> bytes:
    """The case file's bytes (deterministic: same data, same bytes)."""
    header = (
        f"# Imported from {REPOSITORY} by `{PROG}`; regenerate rather than edit.\n"
        "# The upstream repository has no license: keep this file out of version control.\n"
    )
    body = yaml.dump(
        built.data,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=2**31 - 1,
        default_flow_style=False,
    )
    return (header + body).encode("utf-8")


def _self_check(path: Path, built: _Built) -> None:
    """Load the written file and compare every rendered prompt with the upstream one."""
    try:
        ds = load_dataset(path)
    except CaseFileError as exc:
        raise UpstreamError(f"internal error: the written file does not load ({exc}); please report it") from None
    got = [(c.id, v.split, v.prompt) for c in ds.cases for v in c.variants]
    if got != built.expected:
        n = next((i for i, (g, e) in enumerate(zip(got, built.expected)) if g != e), min(len(got), len(built.expected)))
        have = got[n] if n < len(got) else None
        want = built.expected[n] if n < len(built.expected) else None
        raise UpstreamError(f"internal error: {path} item {n + 1} renders {have!r} where upstream has {want!r}; please report it")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


BUILDERS = {
    "latest_news": lambda clone, args: build_latest_news(clone, args.all_latest_news),
    "fictional_people": lambda clone, args: build_fictional_people(clone),
    "medical": lambda clone, args: build_medical(clone),
    "coding": lambda clone, args: build_coding(clone),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        raise UsageError(f"{message}; fix: see `{PROG} --help`")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=f"Turn a clone of {REPOSITORY} (its datasets/<name>/*.csv) into case files OUT/<name>.yaml.",
    )
    p.add_argument("clone", type=Path, help="root of a clone of the upstream repository")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write <dataset>.yaml into")
    p.add_argument("--all-latest-news", action="store_true", help="import all latest_news rows, not only the 50 used_in_analysis ones")
    p.add_argument("--datasets", metavar="A,B", default=",".join(DATASETS), help=f"datasets to import (default: {','.join(DATASETS)})")
    return p


def run(argv: Sequence[str]) -> list[tuple[Path, int, int]]:
    """Import as the command line says; return (file, cases, items) per file written."""
    args = _parser().parse_args(list(argv))
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise UsageError(f"unknown dataset `{unknown[0] if unknown else args.datasets}`; fix: --datasets takes some of {','.join(DATASETS)}")
    names = [n for n in DATASETS if n in names]
    clone: Path = args.clone
    if not clone.is_dir():
        raise UsageError(f"{clone}: no such directory; fix: pass the root of a clone of {REPOSITORY_URL}")
    if not (clone / "datasets").is_dir():
        raise UsageError(f"{clone}: has no datasets/ folder; fix: pass the root of a clone of {REPOSITORY} (the folder holding datasets/)")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"{args.out}: exists and is not a directory; fix: give --out a directory")
    built = [BUILDERS[n](clone, args) for n in names]  # everything is read before anything is written
    written = []
    for b in built:
        path = args.out / f"{b.name}.yaml"
        try:
            atomic_write(path, render(b))
            path.chmod(0o666 & ~_umask())  # atomic_write's temp file is private (0600)
        except OSError as exc:
            raise UpstreamError(f"{path}: cannot write ({exc.strerror or exc}); fix: give --out a writable directory") from None
        _self_check(path, b)
        written.append((path, len(b.data["cases"]), len(b.expected)))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """The command: exit 0 when written, 1 for unusable data, 2 for a bad command line."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        written = run(argv)
    except UpstreamError as exc:
        print(f"import-upstream: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for path, n_cases, n_items in written:
        print(f"wrote {path}: {n_cases} cases, {n_items} items")
    return 0

