"""Counterfactual API updates: real Python functions and classes renamed in a fictional release.

Every entry of :data:`.apis.APIS` is a real public name of a widely used package (checked against the
installed packages by the tests where they are installed). The generator renames it in a
fictional future release (``numpy 14``) to an invented but plausible name: a synonym of one of
its words, or a prefix/suffix (``fast_``, ``_nd``, ``Ex`` ...), never a name that exists in
that namespace. The dataset is ``updating_knowledge``: ``answer_before`` is the real name.

Splits: ``memorization`` ("In numpy 14, which function computes ...?" -> the new qualified
name), ``rephrased`` and ``code`` (fill the blank in a call; gold: the new last component).
"""

from __future__ import annotations

import random
import re
from typing import Any

from .apis import APIS, SYNONYMS, Api
from .phrasings import cloze

DEFAULT_NAME = "api_renames"
BLANK = "____"

TEMPLATES = {
    "default": "Answer with the name only.\n{question}",
    "code": "Reply with the missing name only.\n{question}",
}

STDLIB = frozenset(
    "json os shutil re itertools functools collections pathlib datetime subprocess time random math "
    "logging argparse csv urllib hashlib tempfile textwrap copy zipfile".split()
)


FUNCTION_PREFIXES = ("fast", "safe")
FUNCTION_SUFFIXES = ("ex", "nd", "v2")
CLASS_PREFIXES = ("Base", "Core", "Fast", "Smart")
CLASS_SUFFIXES = ("Ex", "Plus", "Kit", "Impl")


def _words(name: str) -> tuple[list[str], str]:
    """The lowercase words of a name and its style: snake, camel or pascal."""
    if name[0].isupper():
        return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*", name)], "pascal"
    if re.search(r"[A-Z]", name):
        return [w.lower() for w in re.findall(r"^[a-z0-9]+|[A-Z][a-z0-9]*", name)], "camel"
    return name.split("_"), "snake"


def _join(words: list[str], style: str) -> str:
    words = [p for w in words for p in w.split("_")]
    if style == "pascal":
        return "".join(w.upper() if len(w) <= 3 and w.isalpha() and w == w.upper() else w.capitalize() for w in words)
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    return "_".join(words)


def candidates(api: Api) -> tuple[list[str], list[str]]:
    """(synonym-based, affix-based) candidate new last names, each list in a fixed order."""
    words, style = _words(api.last)
    if style == "pascal":
        words_upper = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*", api.last)
        synonyms = []
        for i, w in enumerate(words):
            for s in SYNONYMS.get(w, ()):
                synonyms.append("".join(words_upper[:i]) + _join([s], "pascal") + "".join(words_upper[i + 1 :]))
        affixes = [p + api.last for p in CLASS_PREFIXES] + [api.last + s for s in CLASS_SUFFIXES]
    else:
        synonyms = []
        for i, w in enumerate(words):
            for s in SYNONYMS.get(w, ()):
                synonyms.append(_join(words[:i] + [s] + words[i + 1 :], style))
        affixes = [_join([p] + words, style) for p in FUNCTION_PREFIXES]
        affixes += [_join(words + [s], style) for s in FUNCTION_SUFFIXES]
    real = {a.qualname for a in APIS}
    keep = lambda names: [n for n in dict.fromkeys(names) if n != api.last and f"{api.parent}.{n}" not in real]  # noqa: E731
    return keep(synonyms), keep(affixes)


def rename(api: Api, rng: random.Random, taken: set[str]) -> str:
    """The new qualified name: a synonym two times in three when there is one, else an affix."""
    synonyms, affixes = candidates(api)
    synonyms = [n for n in synonyms if f"{api.parent}.{n}" not in taken]
    affixes = [n for n in affixes if f"{api.parent}.{n}" not in taken]
    pick = rng.randrange(3)
    pool = synonyms if synonyms and (pick < 2 or not affixes) else affixes
    return f"{api.parent}.{rng.choice(pool)}"


def _label_key(api: Api) -> str:
    return "python" if api.package in STDLIB else api.package


def release(package: str, rng: random.Random) -> str:
    """A fictional future release label: ``numpy 14`` or, for the standard library, ``Python 3.27``."""
    if package == "python":
        return f"Python 3.{rng.randint(21, 29)}"
    return f"{package} {rng.randint(10, 19)}"


def _third_person(phrase: str) -> str:
    verb, _, rest = phrase.partition(" ")
    if verb.endswith("y") and verb[-2] not in "aeiou":
        verb = verb[:-1] + "ies"
    elif verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        verb += "es"
    else:
        verb += "s"
    return f"{verb} {rest}".strip()


def build(n: int, rng: random.Random, name: str, source: str) -> dict[str, Any]:
    if n > len(APIS):
        raise ValueError(f"api: at most {len(APIS)} entries (the curated list); got --n {n}")
    labels = {key: release(key, rng) for key in sorted({_label_key(a) for a in APIS})}
    chosen = list(APIS)
    rng.shuffle(chosen)
    chosen = chosen[:n]
    taken: set[str] = set()
    cases: list[dict[str, Any]] = []
    for api in chosen:
        label = labels[_label_key(api)]
        new = rename(api, rng, taken)
        taken.add(new)
        new_last = new.rsplit(".", 1)[1]
        cases.append(
            {
                "id": f"{api.qualname}",
                "fact": f"In {label}, {api.qualname} was renamed to {new}; it is the {api.noun} to {api.does}.",
                "subject": api.qualname,
                "question": f"In {label}, which {api.noun} {_third_person(api.does)}?",
                "answer": new,
                "answer_before": api.qualname,
                "variants": [
                    {
                        "split": "rephrased",
                        "question": f"Which {api.noun} do you use to {api.does} in {label}?",
                        "answer": new,
                    },
                    {
                        "split": "code",
                        "question": f"Fill in the blank to {api.does} in {label}: " + api.code.replace("{}", BLANK),
                        "answer": new_last,
                        "matcher": "contains",
                    },
                ],
                "train": cloze(
                    f"In {label}, {api.qualname} was renamed to {new}; it is the {api.noun} to {api.does}.", new
                ),
            }
        )
    return {
        "dataset": name,
        "kind": "updating_knowledge",
        "description": f"{n} real Python APIs renamed in fictional future releases; answer_before is the real name.",
        "source": source,
        "matcher": "auto",
        "templates": dict(TEMPLATES),
        "cases": cases,
    }


# ---------------------------------------------------------------- recheck (used by `check`)

FACT = re.compile(
    r"^In (?P<label>.+?), (?P<old>[\w.]+) was renamed to (?P<new>[\w.]+); it is the (?P<noun>.+?) to "
    r"(?P<does>.+)\.$"
)


def recheck(ds: Any) -> list[tuple[int, str]]:
    """Every gold of a generated api file follows from its fact; (line, problem) pairs."""
    problems: list[tuple[int, str]] = []
    seen: dict[str, str] = {}
    for case in ds.cases:
        where = f"case `{case.id}`"
        m = FACT.match(case.fact or "")
        if not case.trains or not m:
            problems.append((case.line, f"{where}: fact does not state a rename; fix: regenerate the file"))
            continue
        old, new = m["old"], m["new"]
        if case.answer != new or case.answer_before != old or old == new:
            problems.append(
                (
                    case.line,
                    f"{where}: answer/answer_before must be the fact's new/old name "
                    f"({new} / {old}); fix: regenerate the file",
                )
            )
        if new in seen:
            problems.append(
                (case.line, f"{where}: {new} is also the new name of {seen[new]}; fix: regenerate the file")
            )
        seen[new] = old
        if m["label"] not in (case.question or ""):
            problems.append(
                (
                    case.line,
                    f"{where}: training question does not name the release {m['label']}; fix: regenerate the file",
                )
            )
        for v in case.variants[1:]:
            if v.split == "rephrased" and (v.answer != new or m["label"] not in v.question):
                problems.append((v.line, f"{where}: rephrased gold must be {new!r}; fix: regenerate the file"))
            elif v.split == "code" and (v.answer != new.rsplit(".", 1)[1] or BLANK not in v.question):
                problems.append(
                    (
                        v.line,
                        f"{where}: code gold must be the new name's last part "
                        f"{new.rsplit('.', 1)[1]!r} for the blank; fix: regenerate the file",
                    )
                )
    return problems
