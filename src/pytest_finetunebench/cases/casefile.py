"""Case files: the format and its validator (the YAML reading is :mod:`.yamltree`).

A case file is one dataset. Each case is one training pair (question, answer) and the
variants asked after tuning; the training question itself is the ``memorization`` variant.
See ``docs/case-format.md`` for the format, with an example.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import (
    BUILTIN_SPLITS,
    CASE_ID,
    CASE_KEYS,
    DATASET_KEYS,
    KINDS,
    LEAK_RATIO,
    MATCHERS,
    MEMORIZATION,
    NAME,
    QUESTION_SLOT,
    TRAIN_KEYS,
    VARIANT_KEYS,
    CaseFileError,
)
from .yamltree import Map, TreeError, clip, kind_of, read_tree, show


@dataclass(frozen=True, slots=True)
class Variant:
    """One question asked of the tuned model, graded against ``answer``."""

    split: str
    question: str
    answer: str
    matcher: str
    prompt: str
    line: int


@dataclass(frozen=True, slots=True)
class Phrasing:
    """One extra training question for the ``paraphrase:K`` recipes (never asked as a test)."""

    question: str
    answer: str
    prompt: str
    line: int


@dataclass(frozen=True, slots=True)
class Case:
    """A QA pair to train on (optional for derived-only cases) and its variants."""

    id: str
    line: int
    question: str | None = None
    answer: str | None = None
    prompt: str | None = None
    fact: str | None = None
    answer_before: str | None = None
    uses: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    train: tuple[Phrasing, ...] = ()
    subject: str | None = None

    @property
    def trains(self) -> bool:
        """Whether this case contributes a training pair."""
        return self.answer is not None


@dataclass(frozen=True, slots=True)
class Dataset:
    """A parsed, validated case file."""

    name: str
    kind: str
    path: Path
    cases: tuple[Case, ...]
    description: str = ""
    source: str = ""
    splits: tuple[str, ...] = BUILTIN_SPLITS
    templates: Mapping[str, str] = field(default_factory=dict)
    matcher: str = "auto"

    def case(self, case_id: str) -> Case:
        """The case with this id (KeyError if absent)."""
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(case_id)


def render_prompt(templates: Mapping[str, str], split: str, question: str) -> str:
    """The text sent to the model: the split's template (or ``default``) around the question."""
    template = templates.get(split, templates.get("default"))
    if not template:
        return question
    return template.replace(QUESTION_SLOT, question)


def load_dataset(path: Path | str, matchers: Collection[str] = MATCHERS) -> Dataset:
    """Parse and validate one case file; raise :class:`CaseFileError` on the first problem.

    ``matchers``: the names a case may use (the built-in ones and any added by hooks).

    Whatever goes wrong (see :mod:`.yamltree` for the limits on hostile files) becomes that
    one error naming the file and line.
    """
    path = Path(path)
    try:
        data = read_tree(path)
    except TreeError as exc:
        raise CaseFileError(path, exc.line, exc.message) from None
    return _Validator(path, matchers).dataset(data)


def _plain(text: str) -> str:
    """Text as the leakage guard compares it: lowercase words and digits, single spaces."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class _Validator:
    """Turns the loaded YAML tree into a :class:`Dataset`, or raises on the first problem."""

    def __init__(self, path: Path, matchers: Collection[str] = MATCHERS) -> None:
        self.path, self.matchers = path, matchers

    def fail(self, line: int, message: str) -> CaseFileError:
        return CaseFileError(self.path, line, message)

    @staticmethod
    def line_of(mapping: Map, key: str) -> int:
        """The line of ``key`` in ``mapping`` (of the mapping itself where the key is absent)."""
        return mapping.key_lines.get(key, mapping.line)

    def required_text(self, mapping: Map, key: str, where: str) -> str:
        value = self.text(mapping, key, where)
        if value is None:
            raise self.fail(mapping.line, f"{where} has no `{key}`; fix: add `{key}: ...`")
        return value

    def text(self, mapping: Map, key: str, where: str) -> str | None:
        value = mapping.get(key)
        if value is None and key in mapping:  # `answer:` with nothing after it
            raise self.fail(self.line_of(mapping, key), f"{where}: `{key}` is empty; fix: give it a value")
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(
                self.line_of(mapping, key),
                f"{where}: `{key}` must be text, got {kind_of(value)}; fix: write it as a quoted string",
            )
        if not value.strip():
            raise self.fail(self.line_of(mapping, key), f"{where}: `{key}` is empty; fix: give it a value")
        return str(value)

    def unknown_keys(self, mapping: Map, allowed: set[str], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.fail(
                    self.line_of(mapping, str(key)),
                    f"{where}: unknown field `{show(key)}`; fix: use one of {', '.join(sorted(allowed))}",
                )

    def matcher(self, mapping: Map, where: str, default: str) -> str:
        value = self.text(mapping, "matcher", where) or default
        if value not in self.matchers:
            raise self.fail(
                self.line_of(mapping, "matcher"),
                f"{where}: unknown matcher `{show(value)}`; fix: use one of {', '.join(self.matchers)}",
            )
        return value

    def dataset(self, data: Any) -> Dataset:
        if data is None:
            raise self.fail(1, "the file is empty; fix: start it with `dataset: <name>` and a `cases:` list")
        if not isinstance(data, Map):
            raise self.fail(1, "the top level must be a mapping; fix: start with `dataset: <name>`")
        self.unknown_keys(data, DATASET_KEYS, "dataset")
        name = self.required_text(data, "dataset", "the file")
        if not NAME.match(name):
            raise self.fail(
                self.line_of(data, "dataset"),
                f"dataset name `{show(name)}` is not a lowercase identifier; fix: use letters, digits and _",
            )
        kind = self.text(data, "kind", "dataset") or "new_knowledge"
        if kind not in KINDS:
            raise self.fail(
                self.line_of(data, "kind"), f"unknown kind `{show(kind)}`; fix: use one of {', '.join(KINDS)}"
            )
        splits = self.custom_splits(data)
        templates = self.templates(data, splits)
        default_matcher = self.matcher(data, "dataset", "auto")
        raw_cases = data.get("cases")
        if not isinstance(raw_cases, list) or not raw_cases:
            raise self.fail(
                self.line_of(data, "cases"), "dataset has no cases; fix: add a `cases:` list with at least one case"
            )
        cases: list[Case] = []
        seen: dict[str, int] = {}
        for at, raw in enumerate(raw_cases):
            case = self.case(raw, raw_cases.lines[at], splits, templates, default_matcher, kind)
            if case.id in seen:
                raise self.fail(
                    case.line,
                    f"duplicate case id `{show(case.id)}` (first at line {seen[case.id]}); fix: make every id unique",
                )
            seen[case.id] = case.line
            cases.append(case)
        self.no_leaks(cases)
        for case in cases:
            for used in case.uses:
                if used not in seen:
                    raise self.fail(
                        case.line,
                        f"case `{show(case.id)}` uses unknown case `{show(used)}`; fix: name a case of this file",
                    )
        return Dataset(
            name=name,
            kind=kind,
            path=self.path,
            cases=tuple(cases),
            description=self.text(data, "description", "dataset") or "",
            source=self.text(data, "source", "dataset") or "",
            splits=splits,
            templates=templates,
            matcher=default_matcher,
        )

    def no_leaks(self, cases: list[Case]) -> None:
        """No training phrasing equals or nearly equals an evaluation question of any case here."""
        phrasings = [(case, t) for case in cases for t in case.train]
        if not phrasings:
            return
        from rapidfuzz import fuzz, process

        asked = [(case, v) for case in cases for v in case.variants]
        choices = [_plain(v.question) for _, v in asked]
        for case, t in phrasings:
            found = process.extractOne(_plain(t.question), choices, scorer=fuzz.ratio, score_cutoff=LEAK_RATIO)
            if found is not None:
                other, variant = asked[found[2]]
                raise self.fail(
                    t.line,
                    f"case `{show(case.id)}`: the training phrasing `{clip(t.question)}` is the {variant.split} "
                    "question of case"
                    f" `{show(other.id)}` (line {variant.line}) in other words ({found[1]:.0f}% alike); a recipe "
                    "would train on the test;"
                    " fix: word it differently",
                )

    def train(self, raw: Map, where: str, templates: Mapping[str, str], trains: bool) -> tuple[Phrasing, ...]:
        items = raw.get("train") or []
        if not isinstance(items, list):
            raise self.fail(
                self.line_of(raw, "train"),
                f"{where}: `train` must be a list; fix: `- question: ...` with `answer: ...`",
            )
        if items and not trains:
            raise self.fail(
                self.line_of(raw, "train"),
                f"{where} has `train` phrasings but no training `question`/`answer`; fix: add the pair they rephrase",
            )
        out = []
        for at, item in enumerate(items):
            line = items.lines[at]
            if not isinstance(item, Map):
                raise self.fail(
                    line, f"{where}: each `train` entry must be a mapping; fix: `- question: ...` with `answer: ...`"
                )
            self.unknown_keys(item, TRAIN_KEYS, f"{where} train entry")
            question = self.required_text(item, "question", f"{where} train entry")
            answer = self.required_text(item, "answer", f"{where} train entry")
            out.append(Phrasing(question, answer, render_prompt(templates, MEMORIZATION, question), item.line))
        return tuple(out)

    def custom_splits(self, data: Map) -> tuple[str, ...]:
        declared = data.get("splits") or []
        if not isinstance(declared, list):
            raise self.fail(self.line_of(data, "splits"), "`splits` must be a list of names; fix: `splits: [my_split]`")
        for at, name in enumerate(declared):
            if not isinstance(name, str) or not NAME.match(name):
                raise self.fail(
                    declared.lines[at],
                    f"split name `{show(name)}` is not a lowercase identifier; fix: use letters, digits and _",
                )
        return BUILTIN_SPLITS + tuple(n for n in declared if n not in BUILTIN_SPLITS)

    def templates(self, data: Map, splits: tuple[str, ...]) -> dict[str, str]:
        raw = data.get("templates") or {}
        if not isinstance(raw, dict):
            raise self.fail(
                self.line_of(data, "templates"),
                "`templates` must map split names to text; fix: `templates: {default: ...}`",
            )
        for split, template in raw.items():
            if split != "default":
                self.check_split(split, splits, self.line_of(raw, str(split)))
            if not isinstance(template, str) or QUESTION_SLOT not in template:
                raise self.fail(
                    self.line_of(raw, str(split)),
                    f"template `{show(split)}` must be text containing {QUESTION_SLOT}; fix: add {QUESTION_SLOT} "
                    "where the question goes",
                )
        return dict(raw)

    def check_split(self, split: Any, splits: tuple[str, ...], line: int) -> str:
        if not isinstance(split, str) or split not in splits:
            raise self.fail(
                line,
                f"unknown split `{show(split)}`; fix: use one of {', '.join(splits)} or declare it under `splits:`",
            )
        return split

    def case(
        self, raw: Any, line: int, splits: tuple[str, ...], templates: Mapping[str, str], default: str, kind: str
    ) -> Case:
        if not isinstance(raw, Map):
            raise self.fail(line, "each case must be a mapping; fix: start it with `- id: ...`")
        case_id = self.required_text(raw, "id", "case")
        if not CASE_ID.match(case_id):
            raise self.fail(
                self.line_of(raw, "id"),
                f"case id `{show(case_id)}` cannot name a test; fix: leave out `::`, `[`, `]`, control characters "
                "and outer spaces",
            )
        where = f"case `{show(case_id)}`"
        self.unknown_keys(raw, CASE_KEYS, where)
        pair = self.pair(raw, where)
        answer_before = self.text(raw, "answer_before", where)
        if kind == "updating_knowledge" and pair is not None and answer_before is None:
            raise self.fail(
                raw.line, f"{where} updates knowledge but has no `answer_before`; fix: add the answer before the update"
            )
        matcher = self.matcher(raw, where, default)
        uses = raw.get("uses") or []
        if not isinstance(uses, list) or not all(isinstance(u, str) for u in uses):
            raise self.fail(
                self.line_of(raw, "uses"), f"{where}: `uses` must be a list of case ids; fix: `uses: [id1, id2]`"
            )
        variants: list[Variant] = []
        prompt = None
        if pair is not None:
            prompt = self.text(raw, "prompt", where) or render_prompt(templates, MEMORIZATION, pair[0])
            variants.append(Variant(MEMORIZATION, *pair, matcher, prompt, raw.line))
        raw_variants = raw.get("variants") or []
        if not isinstance(raw_variants, list):
            raise self.fail(
                self.line_of(raw, "variants"), f"{where}: `variants` must be a list; fix: `- split: rephrased`"
            )
        for at, rv in enumerate(raw_variants):
            variants.append(self.variant(rv, raw_variants.lines[at], where, splits, templates, matcher))
        if not variants:
            raise self.fail(
                raw.line, f"{where} has nothing to ask; fix: add a training `question`/`answer` or `variants`"
            )
        return Case(
            id=case_id,
            line=raw.line,
            question=pair[0] if pair else None,
            answer=pair[1] if pair else None,
            prompt=prompt,
            fact=self.text(raw, "fact", where),
            answer_before=answer_before,
            uses=tuple(uses),
            variants=tuple(variants),
            train=self.train(raw, where, templates, pair is not None),
            subject=self.text(raw, "subject", where),
        )

    def pair(self, raw: Map, where: str) -> tuple[str, str] | None:
        """The case's training question and answer: both, or neither."""
        question = self.text(raw, "question", where)
        answer = self.text(raw, "answer", where)
        if question is None and answer is None:
            return None
        if question is None or answer is None:
            missing = "answer" if answer is None else "question"
            raise self.fail(
                raw.line,
                f"{where} has a training {'question' if answer is None else 'answer'} but no `{missing}`; fix: add "
                f"`{missing}: ...`",
            )
        return question, answer

    def variant(
        self, rv: Any, line: int, where: str, splits: tuple[str, ...], templates: Mapping[str, str], default: str
    ) -> Variant:
        if not isinstance(rv, Map):
            raise self.fail(line, f"{where}: each variant must be a mapping; fix: `- split: ...`")
        self.unknown_keys(rv, VARIANT_KEYS, f"{where} variant")
        split = self.check_split(self.required_text(rv, "split", f"{where} variant"), splits, self.line_of(rv, "split"))
        vwhere = f"{where} variant `{show(split)}`"
        question = self.required_text(rv, "question", vwhere)
        answer = self.required_text(rv, "answer", vwhere)
        prompt = self.text(rv, "prompt", vwhere) or render_prompt(templates, split, question)
        return Variant(split, question, answer, self.matcher(rv, vwhere, default), prompt, rv.line)
