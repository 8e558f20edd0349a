"""Building case-file data from the clone's tables: the shared pieces, latest_news, medical and coding.

Prompts are kept byte for byte: a split whose every prompt is ``prefix + question + suffix`` gets a
template, otherwise each item carries its exact ``prompt:``. Each built dataset lists the prompts
its file must render, for the importer's self-check. fictional_people is in :mod:`.people`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schema import MEMORIZATION, QUESTION_SLOT
from .tables import PROG, REPOSITORY, REPOSITORY_URL, Ids, Table, UpstreamError, read_table, require, sanitize_id

_YES_NO = ("Yes", "No")


@dataclass
class Built:
    """One dataset ready to write, with the prompts its file must render (for the self-check)."""

    name: str
    data: dict[str, Any]
    expected: list[tuple[str, str, str]] = field(default_factory=list)  # (case id, split, prompt)


class Quoted(str):
    """An answer: always written double-quoted (YAML would read a bare Yes/No as a boolean)."""


def template(rows: Sequence[dict[str, str]], qcol: str) -> str | None:
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


class Split:
    """How one split's items carry their prompt: via the template, or an exact ``prompt:``."""

    def __init__(self, name: str, rows: Sequence[dict[str, str]], qcol: str, templates: dict[str, str]) -> None:
        self.name = name
        self.template = template(rows, qcol)
        if self.template is not None and self.template != QUESTION_SLOT:
            templates[name] = self.template

    def prompt_field(self, row: dict[str, str], qcol: str) -> dict[str, str]:
        if self.template is not None or row["prompt"] == row[qcol]:
            return {}
        return {"prompt": row["prompt"]}


def matcher_for(answer: str) -> dict[str, str]:
    return {"matcher": "yes_no"} if answer.strip() in _YES_NO else {}


def variant(split: Split, row: dict[str, str], qcol: str, **extra: str) -> dict[str, Any]:
    out: dict[str, Any] = {"split": split.name, "question": row[qcol], "answer": Quoted(row["answer"])}
    out.update(extra or matcher_for(row["answer"]))
    out.update(split.prompt_field(row, qcol))
    return out


def source_line(*tables: Table, note: str = "") -> str:
    files = ", ".join(t.rel for t in tables)
    text = f"{REPOSITORY} ({REPOSITORY_URL}): {files}; imported with `{PROG}`"
    return f"{text} {note}".rstrip()


def dataset_data(
    name: str, kind: str, description: str, source: str, templates: dict[str, str], cases: list[dict[str, Any]]
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dataset": name,
        "kind": kind,
        "description": description,
        "source": source,
        "matcher": "auto",
    }
    if templates:
        data["templates"] = templates
    data["cases"] = cases
    return data


def build_latest_news(clone: Path, all_rows: bool) -> Built:
    base = "datasets/latest_news/latest_news_"
    common = ["id", "prompt", "answer"] + ([] if all_rows else ["used_in_analysis"])
    mem = read_table(clone, f"{base}memorization.csv", common + ["question", "fact"], "latest_news")
    reph = read_table(clone, f"{base}rephrased.csv", common + ["rephrased_question"], "latest_news")
    date = read_table(clone, f"{base}date_changed.csv", common + ["date_changed_question"], "latest_news")

    def chosen(table: Table) -> list[dict[str, str]]:
        if all_rows:
            return table.rows
        return [r for r in table.rows if r["used_in_analysis"].strip().lower() == "true"]

    rows = chosen(mem)
    if not rows:
        raise UpstreamError(
            f"{mem.path}: no row has used_in_analysis == True; fix: pass --all-latest-news to import every row"
        )
    by_id: dict[str, dict[str, str]] = {}
    for r in rows:
        require(mem, r, "id", "prompt", "question", "answer")
        if r["id"] in by_id:
            raise UpstreamError(
                f"{mem.path}: id `{r['id']}` appears twice; fix: use an unmodified copy of the upstream file"
            )
        by_id[r["id"]] = r

    def joined(table: Table, qcol: str) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for r in table.rows:
            if r["id"] in by_id and r["id"] not in out:
                require(table, r, "prompt", qcol, "answer")
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
    s_mem = Split(MEMORIZATION, rows, "question", templates)
    s_reph = Split("rephrased", list(reph_rows.values()), "rephrased_question", templates)
    s_date = Split("date_changed", list(date_rows.values()), "date_changed_question", templates)

    ids = Ids()
    built = Built("latest_news", {})
    cases: list[dict[str, Any]] = []
    for r in rows:
        cid = ids.take(sanitize_id(r["id"]))
        case: dict[str, Any] = {"id": cid}
        if r["fact"].strip():
            case["fact"] = r["fact"]
        case.update({"question": r["question"], "answer": Quoted(r["answer"])})
        case.update(s_mem.prompt_field(r, "question"))
        built.expected.append((cid, MEMORIZATION, r["prompt"]))
        variants = []
        if (rr := reph_rows.get(r["id"])) is not None:
            variants.append(variant(s_reph, rr, "rephrased_question"))
            built.expected.append((cid, "rephrased", rr["prompt"]))
        if (dr := date_rows.get(r["id"])) is not None:
            variants.append(variant(s_date, dr, "date_changed_question", matcher="abstain"))
            built.expected.append((cid, "date_changed", dr["prompt"]))
        if variants:
            case["variants"] = variants
        cases.append(case)
    which = (
        f"all {len(rows)} rows"
        if all_rows
        else f"the {len(rows)} rows with used_in_analysis == True (the paper's analysis set; --all-latest-news "
        f"imports all {len(mem.rows)})"
    )
    description = (
        "FineTuneBench latest_news: questions about news articles published after the models'"
        f" training cutoff; {which}. Splits: memorization (the training question), rephrased,"
        " and date_changed (the year moved to one where the event did not happen; gold None, graded as abstain)."
    )
    built.data = dataset_data(
        "latest_news", "new_knowledge", description, source_line(mem, reph, date), templates, cases
    )
    return built


def _build_updating(
    clone: Path, name: str, mem_rel: str, gen_rel: str, split: str, mem_required: bool, topic: str
) -> Built:
    gen = read_table(clone, gen_rel, ["id", "prompt", "answer"], name)
    mem = None
    if mem_required or (clone / mem_rel).is_file():
        mem = read_table(clone, mem_rel, ["id", "prompt", "answer", "answer_before"], name)
    templates: dict[str, str] = {}
    built = Built(name, {})
    cases: list[dict[str, Any]] = []
    ids = Ids()
    gen_by_id: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in gen.rows:
        require(gen, r, "id", "prompt", "answer")
        gen_by_id[r["id"]].append(r)
    if mem is not None:
        s_gen = Split(split, gen.rows, "prompt", templates)
        fact_col = "updated_fact_description" if mem.rows and "updated_fact_description" in mem.rows[0] else None
        mem_ids = set()
        for r in mem.rows:
            require(mem, r, "id", "prompt", "answer", "answer_before")
            if r["id"] in mem_ids:
                raise UpstreamError(
                    f"{mem.path}: id `{r['id']}` appears twice; fix: use an unmodified copy of the upstream file"
                )
            mem_ids.add(r["id"])
            cid = ids.take(sanitize_id(r["id"]))
            case: dict[str, Any] = {"id": cid}
            if fact_col and r[fact_col].strip():
                case["fact"] = r[fact_col]
            case.update(
                {"question": r["prompt"], "answer": Quoted(r["answer"]), "answer_before": Quoted(r["answer_before"])}
            )
            built.expected.append((cid, MEMORIZATION, r["prompt"]))
            variants = []
            for g in gen_by_id.get(r["id"], []):
                variants.append(variant(s_gen, g, "prompt"))
                built.expected.append((cid, split, g["prompt"]))
            if variants:
                case["variants"] = variants
            cases.append(case)
        orphans = [i for i in gen_by_id if i not in mem_ids]
        if orphans:
            raise UpstreamError(
                f"{gen.path}: id `{orphans[0]}` has no row in {mem.rel}; fix: use unmodified copies of the upstream "
                "files"
            )
        description = (
            f"FineTuneBench {name}: {len(mem.rows)} updates to {topic} (answer_before is the answer before the"
            f" update); memorization asks the training question, {split} asks {len(gen.rows)} new questions"
            " that need the update (joined by id)."
        )
        source = source_line(mem, gen)
    else:
        s_gen = Split(split, gen.rows, "prompt", templates)
        has_before = "answer_before" in (gen.rows[0] if gen.rows else {})
        for r in gen.rows:
            cid = ids.take(sanitize_id(r["id"]))
            case = {"id": cid}
            if has_before and r["answer_before"].strip():
                case["answer_before"] = Quoted(r["answer_before"])
            case["variants"] = [variant(s_gen, r, "prompt")]
            built.expected.append((cid, split, r["prompt"]))
            cases.append(case)
        description = (
            f"FineTuneBench {name}: {len(gen.rows)} {split} questions about {topic}. INCOMPLETE: {Path(mem_rel).name}"
            " (the training questions) is missing from the public repository, so no case here has a"
            " training pair: tuning on this file teaches nothing, and a run measures whether the model"
            " already gives the updated answer (answer_before holds the pre-update one). Put the"
            f" upstream {Path(mem_rel).name} into datasets/{name}/ and re-import to get the training pairs."
        )
        source = source_line(gen, note=f"({Path(mem_rel).name} is missing upstream)")
    built.data = dataset_data(name, "updating_knowledge", description, source, templates, cases)
    return built


def build_medical(clone: Path) -> Built:
    return _build_updating(
        clone,
        "medical",
        "datasets/medical/medical_memorization.csv",
        "datasets/medical/medical_generalization.csv",
        "vignette",
        True,
        "clinical guidelines",
    )


def build_coding(clone: Path) -> Built:
    return _build_updating(
        clone,
        "coding",
        "datasets/coding/coding_memorization.csv",
        "datasets/coding/coding_generalization.csv",
        "code",
        False,
        "library APIs (invented renames of real functions and methods)",
    )
