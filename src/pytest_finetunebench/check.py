"""``python -m pytest_finetunebench check FILES_OR_DIRS...``: validity checks of case files.

Prints one line per problem, ``file:line: problem; fix: ...``, and exits 1 if there is any
(0 when all files pass, 2 on bad arguments). Checks:

* every file loads (:func:`load_dataset`, the format validator);
* questions are unique: within a file, and across the files of one directory (one suite);
* yes/no balance: in every split whose golds are Yes/No, the Yes share is within 40-60%
  (or off by one from even, for small splits);
* answerability, for generated files (``source`` names ``generate people|events|api``):
  every gold is re-derived from the case's ``fact`` with the generator's own rules (a rephrased
  gold equals the training answer, a secondary yes/no follows from the fact and the threshold,
  a comparison from the two used facts, date_changed golds are ``None``/abstain with only the
  year moved, a code gold is the new name's last part);
* leakage (:mod:`.run.leakage`): under each built-in recipe, no training text (a case's pair, its
  phrasings, its fact, the replay pairs) states the answer to a retention question of the files,
  and no replay pair the answer to any of their questions;
* contamination (needs the local model; ``--no-model`` skips it): the untuned local model must
  answer almost none of the ``new_knowledge`` memorization questions (at most ``--max-known``,
  default 10%). Skipped with a message when the local provider or its model is not installed.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from .cases.casefile import Dataset, load_dataset
from .cases.schema import MATCHERS, MEMORIZATION, CaseFileError

GENERATED = re.compile(r"generate (people|events|api)\b")
RECHECKERS = {
    "people": "pytest_finetunebench.cases.generate.people",
    "events": "pytest_finetunebench.cases.generate.events",
    "api": "pytest_finetunebench.cases.generate.api_updates",
}
BALANCE = (0.4, 0.6)


class Problem:
    """One line of the report."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path, self.line, self.message = path, line, message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def case_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files named, directories expanded (sorted, recursively)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out


def _key(question: str) -> str:
    return " ".join(question.casefold().split())


def check_unique(datasets: list[Dataset]) -> list[Problem]:
    """No question asked twice in a file, nor in two files of the same directory."""
    problems: list[Problem] = []
    seen: dict[tuple[Path, str], tuple[Path, int]] = {}
    for ds in datasets:
        for case in ds.cases:
            for v in case.variants:
                key = (ds.path.parent, _key(v.question))
                if key in seen:
                    where, line = seen[key]
                    first = f"line {line}" if where == ds.path else f"{where}:{line}"
                    problems.append(
                        Problem(
                            ds.path,
                            v.line,
                            f"duplicate question {v.question!r} (first at {first}); fix: reword one of them or drop it",
                        )
                    )
                else:
                    seen[key] = (ds.path, v.line)
    return problems


def yes_no_counts(ds: Dataset) -> dict[str, tuple[int, int, int]]:
    """split -> (yes, no, first line) over the variants whose gold is Yes or No."""
    counts: dict[str, list[int]] = {}
    for case in ds.cases:
        for v in case.variants:
            gold = v.answer.strip().casefold()
            if gold in ("yes", "no"):
                c = counts.setdefault(v.split, [0, 0, v.line])
                c[0 if gold == "yes" else 1] += 1
    return {split: (c[0], c[1], c[2]) for split, c in counts.items()}


def balanced(yes: int, no: int, low: float = BALANCE[0], high: float = BALANCE[1]) -> bool:
    """Yes share within ``low..high``, or off by one from an even split (3 items: 2/1 is fine)."""
    total = yes + no
    return abs(yes - no) <= 1 or low <= yes / total <= high


def check_balance(ds: Dataset) -> list[Problem]:
    problems = []
    for split, (yes, no, line) in yes_no_counts(ds).items():
        if not balanced(yes, no):
            share = 100 * yes / (yes + no)
            problems.append(
                Problem(
                    ds.path,
                    line,
                    f"split `{split}` has {yes} Yes / {no} No golds ({share:.0f}% Yes), "
                    f"outside {BALANCE[0]:.0%}-{BALANCE[1]:.0%}; fix: flip questions so about half "
                    "the answers are No",
                )
            )
    return problems


def generator_of(ds: Dataset) -> str | None:
    """The generator kind named in the dataset's ``source``, if it was generated."""
    m = GENERATED.search(ds.source)
    return m.group(1) if m else None


def check_answerable(ds: Dataset) -> list[Problem]:
    """Re-derive every gold of a generated file from its facts (other files: nothing to do)."""
    kind = generator_of(ds)
    if kind is None:
        return []
    module = importlib.import_module(RECHECKERS[kind])
    return [Problem(ds.path, line, message) for line, message in module.recheck(ds)]


def check_leakage(datasets: list[Dataset]) -> list[Problem]:
    """The leakage guard over every built-in recipe's training text (one problem per conflict, named once)."""
    from .items import QA
    from .run import leakage, recipes

    asked, problems, seen = leakage.asked_in(datasets), [], set()
    for name in (QA, "paraphrase:99", "document", "qa+replay"):
        recipe, label = recipes.parse(name), name.replace(":99", ":K")
        pairs = [p for ds in datasets for case in ds.cases if case.trains for p in _pairs(recipe, case, ds)]
        for c in leakage.conflicts([*pairs, *recipe.extra()], recipe.extra(), asked, label):
            if (c.asked, c.text) not in seen:
                seen.add((c.asked, c.text))
                problems.append(Problem(c.asked.path, c.asked.line, c.message))
    return problems


def _pairs(recipe: Any, case: Any, ds: Dataset) -> list[Any]:
    """What ``case`` trains on under ``recipe``; a case the recipe cannot feed (too few phrasings, no fact) gives
    what it has."""
    from .run import recipes
    from .run.recipes import Recipe

    try:
        return recipe.pairs(case, ds)
    except recipes.RecipeError:
        return Recipe("partial", paraphrases=min(len(case.train), recipe.paraphrases), document=False).pairs(case, ds)


# --------------------------------------------------------------------------- contamination


def _contains(answer: str, gold: str) -> bool:
    from .grading.normalize import normalize

    a, g = normalize(answer), normalize(gold)
    return bool(g) and re.search(rf"(?<![\w.]){re.escape(g)}(?![\w])", a) is not None


def check_contamination(datasets: list[Dataset], store: Path, max_known: float, out: Any) -> list[Problem]:
    """The untuned local model must not already know the new-knowledge memorization answers."""
    items = [(ds, case) for ds in datasets if ds.kind == "new_knowledge" for case in ds.cases if case.trains]
    if not items:
        return []
    try:
        from .items import BASE
        from .providers import RunContext
        from .providers.base import Prompt, TuneRequest
        from .providers.local.provider import create
        from .store.jobstore import JobStore

        provider = create(RunContext(store=JobStore(store), progress=lambda line: print(line, file=out)))
        endpoint = provider.endpoints(TuneRequest("local:smollm2-135m", ()), [BASE])[BASE]
        prompts = [Prompt(f"{i}", case.prompt or case.question or "") for i, (_, case) in enumerate(items)]
        answers = provider.answer(endpoint, prompts)
    except Exception as exc:  # noqa: BLE001 - optional check: any missing piece skips it
        print(f"check: contamination check skipped: local model not available ({type(exc).__name__}: {exc})", file=out)
        return []
    known: dict[Path, list[str]] = defaultdict(list)
    totals: dict[Path, int] = defaultdict(int)
    for (ds, case), answer in zip(items, answers):
        totals[ds.path] += 1
        if answer.text and _contains(answer.text, case.answer or ""):
            known[ds.path].append(case.id)
    problems = []
    for path, total in totals.items():
        share = len(known[path]) / total
        print(f"check: {path}: untuned local model answers {len(known[path])}/{total} memorization questions", file=out)
        if share > max_known:
            problems.append(
                Problem(
                    path,
                    1,
                    f"the untuned model already answers {len(known[path])}/{total} "
                    f"({share:.0%}) {MEMORIZATION} questions (e.g. {', '.join(known[path][:3])}); "
                    "these facts are not new; fix: regenerate with another seed or other values",
                )
            )
    return problems


# --------------------------------------------------------------------------- entry point


def check(
    paths: Iterable[str | Path],
    model: bool = False,
    store: Path = Path(".ftb"),
    max_known: float = 0.1,
    out: Any = None,
    matchers: Collection[str] = MATCHERS,
) -> list[Problem]:
    """Every problem of these files (and directories), in file order; ``matchers``: the names a
    case may use (the built-in ones and those a team's ``pytest_ftb_matchers`` hook adds)."""
    out = out or sys.stderr
    problems: list[Problem] = []
    datasets: list[Dataset] = []
    for path in case_files(paths):
        try:
            datasets.append(load_dataset(path, matchers))
        except CaseFileError as exc:
            problems.append(Problem(exc.path, exc.line, exc.message))
    problems += check_unique(datasets)
    for ds in datasets:
        problems += check_balance(ds)
        problems += check_answerable(ds)
    problems += check_leakage(datasets)
    if model:
        problems += check_contamination(datasets, store, max_known, out)
    order = {ds.path: i for i, ds in enumerate(datasets)}
    problems.sort(key=lambda p: (order.get(p.path, -1), p.line))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_finetunebench check", description="Validity checks of case files; one line per problem."
    )
    parser.add_argument("paths", nargs="+", help="case files or directories of them")
    parser.add_argument("--no-model", action="store_true", help="skip the contamination check with the local model")
    parser.add_argument("--store", type=Path, default=Path(".ftb"), help="job store for the local model (default .ftb)")
    parser.add_argument(
        "--max-known",
        type=float,
        default=0.1,
        help="largest share of new-knowledge memorization questions the untuned model may answer",
    )
    parser.add_argument(
        "--matcher",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="a matcher your conftest.py adds (the pytest_ftb_matchers hook) that case files may name; repeatable",
    )
    args = parser.parse_args(argv)
    added = [name.strip() for arg in args.matcher for name in arg.split(",") if name.strip()]
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"check: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    problems = check(
        args.paths, not args.no_model, args.store, args.max_known, matchers=(*MATCHERS, *dict.fromkeys(added))
    )
    for p in problems:
        print(p)
    if not problems:
        print(f"check: {len(case_files(args.paths))} file(s), no problems", file=sys.stderr)
    return 1 if problems else 0
