"""Case files: the YAML format, its loader and its validator.

A case file is one dataset. Each case is one training pair (question, answer) and the
variants asked after tuning; the training question itself is the ``memorization`` variant.
See ``docs/case-format.md`` for the format, with an example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

try:  # the C loader is 5-10x faster on large suites
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml built without libyaml
    _BaseLoader = yaml.SafeLoader

MEMORIZATION = "memorization"
BUILTIN_SPLITS = (
    MEMORIZATION,
    "rephrased",
    "date_changed",
    "secondary",
    "comparison",
    "vignette",
    "code",
)
MATCHERS = ("auto", "exact", "number", "yes_no", "abstain", "contains", "fuzzy")
KINDS = ("new_knowledge", "updating_knowledge")
QUESTION_SLOT = "{question}"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# any text a pytest node name can carry: no `::`, brackets, control characters or outer spaces
_CASE_ID = re.compile(r"^(?!.*::)[^\s\[\]\x00-\x1f\x7f](?:[^\[\]\x00-\x1f\x7f]*[^\s\[\]\x00-\x1f\x7f])?$")

_DATASET_KEYS = {"dataset", "kind", "description", "source", "splits", "templates", "matcher", "cases"}
_CASE_KEYS = {"id", "fact", "question", "answer", "answer_before", "matcher", "prompt", "uses", "variants"}
_VARIANT_KEYS = {"split", "question", "answer", "matcher", "prompt"}


class CaseFileError(Exception):
    """A case file that cannot be used; ``str()`` is one line naming file:line, field and fix."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path, self.line, self.message = Path(path), line, message
        super().__init__(f"{path}:{line}: {message}")


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


class _Map(dict):
    """A mapping that remembers the line of itself and of each key."""

    line: int
    key_lines: dict[str, int]


class _Seq(list):
    """A list that remembers the line of each item."""

    lines: list[int]


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class _Composer(_BaseLoader):  # type: ignore[misc, valid-type]
    """The C-accelerated parser and composer, resolving only booleans and null.

    Numbers, dates and times stay the text they were written as (``0123`` is not 83, ``12:30``
    is not 750), so a bare Yes/No is the only scalar that is not text and can be refused clearly.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":bool", ":null"))]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


_BOOL, _NULL = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"
_IN_PROGRESS = object()

# Limits on hostile or runaway files; each is one error line, reached in well under a second.
MAX_FILE_BYTES = 16 * 2**20  # a case file larger than 16 MiB is refused unread
MAX_DEPTH = 64  # mappings and lists nested deeper than this (a case file needs about 6)
MAX_VALUES = 1_000_000  # values in the file with every alias expanded ("billion laughs")


class _BadNode(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


class _Builder:
    """Python data from a composed node; mappings and lists remember their lines.

    An alias is the node it names: built once and shared, so it costs nothing extra to build.
    Its *expanded* size is still counted against :data:`MAX_VALUES`, so no later message or repr
    can be made to expand an alias bomb; an alias inside its own anchor is refused.
    """

    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}
        self.sizes: dict[int, int] = {}  # expanded value count of each built collection
        self.total = 0

    def build(self, node: yaml.Node, depth: int = 0, used_at: int = 1) -> Any:
        """Build ``node``; ``used_at`` is the line of its parent, where an alias to it is written."""
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise _BadNode(line, f"values nested deeper than {MAX_DEPTH} levels; fix: flatten the structure")
        key = id(node)
        if key in self.memo:  # an alias: the anchored node itself, so report the line that uses it
            if self.memo[key] is _IN_PROGRESS:
                raise _BadNode(used_at, "an alias refers to itself; fix: remove the recursive alias")
            self._count(self.sizes.get(key, 1), used_at)
            return self.memo[key]
        if isinstance(node, yaml.ScalarNode):
            self._count(1, line)
            return self._scalar(node)
        self.memo[key] = _IN_PROGRESS
        before = self.total
        if isinstance(node, yaml.SequenceNode):
            result: Any = _Seq(self.build(child, depth + 1, line) for child in node.value)
            result.lines = [child.start_mark.line + 1 for child in node.value]
        else:
            result = self._mapping(node, depth)
        self._count(1, line)
        self.memo[key], self.sizes[key] = result, self.total - before
        return result

    def _count(self, n: int, line: int) -> None:
        self.total += n
        if self.total > MAX_VALUES:
            raise _BadNode(line, f"aliases expand to more than {MAX_VALUES:,} values; fix: write the data out without nested aliases")

    @staticmethod
    def _scalar(node: yaml.ScalarNode) -> Any:
        if node.tag == _BOOL:
            value = yaml.constructor.SafeConstructor.bool_values.get(node.value.lower())
            if value is None:
                raise _BadNode(node.start_mark.line + 1, f"`{_clip(node.value)}` is not a boolean; fix: quote it as text")
            return value
        return None if node.tag == _NULL else node.value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> _Map:
        result = _Map()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                key_text = _clip(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "[...]"
                raise _BadNode(line, f"key `{key_text}` is not a name; fix: use a plain field name")
            if key_node.value == "<<":
                raise _BadNode(line, "merge keys (<<) are not supported; fix: write the fields out")
            key = key_node.value
            if key in result:
                raise _DuplicateKey(_clip(key), line, result.key_lines[key])
            result[key] = self.build(value_node, depth + 1, line)
            result.key_lines[key] = line
        return result


def _clip(text: str, limit: int = 60) -> str:
    """Text from the file as an error message shows it: one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CaseFileError(path, line, f"byte 0x{raw[exc.start]:02x} is not UTF-8; fix: save the file as UTF-8 text") from None


def load_dataset(path: Path | str) -> Dataset:
    """Parse and validate one case file; raise :class:`CaseFileError` on the first problem.

    Whatever goes wrong, including the limits above, an exhausted stack or memory, becomes that
    one error naming the file and line.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaseFileError(path, 1, f"the file has {size:,} bytes, over the {MAX_FILE_BYTES:,} a case file may have; fix: split it into several files")
        text = _decode(path, path.read_bytes())
    except OSError as exc:
        raise CaseFileError(path, 1, f"cannot read the file ({exc.strerror or exc}); fix: make it a readable file") from None
    try:
        node = yaml.compose(text, Loader=_Composer)
        data = None if node is None else _Builder().build(node)
    except _BadNode as exc:
        raise CaseFileError(path, exc.line, exc.message) from None
    except _DuplicateKey as exc:
        raise CaseFileError(
            path, exc.line, f"`{exc.key}` is given twice (first at line {exc.first}); fix: keep one"
        ) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        if "nesting depth" in (exc.problem or ""):  # libyaml's own limit, below ours for flow collections
            raise CaseFileError(path, line, f"values nested deeper than {MAX_DEPTH} levels; fix: flatten the structure") from None
        raise CaseFileError(path, line, f"invalid YAML ({exc.problem}); fix the syntax at this line") from None
    except yaml.YAMLError as exc:  # e.g. a control character the reader refuses
        line = getattr(exc, "position", None)
        where = text.count("\n", 0, line) + 1 if isinstance(line, int) else 1
        reason = _clip(str(exc).splitlines()[0], 100)
        raise CaseFileError(path, where, f"unreadable YAML ({reason}); fix: remove the offending character") from None
    except (RecursionError, MemoryError) as exc:
        raise CaseFileError(path, 1, f"the YAML is too large or too deep to load ({type(exc).__name__}); fix: simplify the file") from None
    return _Validator(path).dataset(data)


def _item_line(items: list[Any], at: int, parent: Any) -> int:
    """The line of a list's item (of its parent mapping where the list kept none)."""
    if isinstance(items, _Seq):
        return items.lines[at]
    return parent.line if isinstance(parent, _Map) else 1


def _show(value: Any) -> str:
    """A value from the file inside an error message: clipped text, or what kind of thing it is."""
    return _clip(value) if isinstance(value, str) else _kind(value)


def _kind(value: Any) -> str:
    """What a YAML value is, in the words of the file (for error messages)."""
    if isinstance(value, bool):
        return "a boolean (bare yes/no/true/false)"
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else "nothing"


class _Validator:
    """Turns the loaded YAML tree into a :class:`Dataset`, or raises on the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> CaseFileError:
        return CaseFileError(self.path, line, message)

    def line_of(self, mapping: Any, key: str | None = None) -> int:
        if isinstance(mapping, _Map):
            return mapping.key_lines.get(key, mapping.line) if key else mapping.line
        return 1

    def text(self, mapping: _Map, key: str, where: str, required: bool = False) -> str | None:
        value = mapping.get(key)
        if value is None:
            if required:
                raise self.fail(self.line_of(mapping), f"{where} has no `{key}`; fix: add `{key}: ...`")
            return None
        if not isinstance(value, str):
            raise self.fail(
                self.line_of(mapping, key),
                f"{where}: `{key}` must be text, got {_kind(value)}; fix: write it as a quoted string",
            )
        if isinstance(value, str) and not value.strip():
            raise self.fail(self.line_of(mapping, key), f"{where}: `{key}` is empty; fix: give it a value")
        return str(value)

    def unknown_keys(self, mapping: _Map, allowed: set[str], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.fail(
                    self.line_of(mapping, str(key)),
                    f"{where}: unknown field `{_show(key)}`; fix: use one of {', '.join(sorted(allowed))}",
                )

    def matcher(self, mapping: _Map, where: str, default: str) -> str:
        value = self.text(mapping, "matcher", where) or default
        if value not in MATCHERS:
            raise self.fail(
                self.line_of(mapping, "matcher"),
                f"{where}: unknown matcher `{_show(value)}`; fix: use one of {', '.join(MATCHERS)}",
            )
        return value

    def dataset(self, data: Any) -> Dataset:
        if data is None:
            raise self.fail(1, "the file is empty; fix: start it with `dataset: <name>` and a `cases:` list")
        if not isinstance(data, _Map):
            raise self.fail(1, "the top level must be a mapping; fix: start with `dataset: <name>`")
        self.unknown_keys(data, _DATASET_KEYS, "dataset")
        name = self.text(data, "dataset", "the file", required=True)
        assert name is not None
        if not _NAME.match(name):
            raise self.fail(
                self.line_of(data, "dataset"),
                f"dataset name `{_show(name)}` is not a lowercase identifier; fix: use letters, digits and _",
            )
        kind = self.text(data, "kind", "dataset") or "new_knowledge"
        if kind not in KINDS:
            raise self.fail(self.line_of(data, "kind"), f"unknown kind `{_show(kind)}`; fix: use one of {', '.join(KINDS)}")
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
            case = self.case(raw, _item_line(raw_cases, at, data), splits, templates, default_matcher, kind)
            if case.id in seen:
                raise self.fail(
                    case.line,
                    f"duplicate case id `{_show(case.id)}` (first at line {seen[case.id]}); fix: make every id unique",
                )
            seen[case.id] = case.line
            cases.append(case)
        for case in cases:
            for used in case.uses:
                if used not in seen:
                    raise self.fail(
                        case.line, f"case `{_show(case.id)}` uses unknown case `{_show(used)}`; fix: name a case of this file"
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

    def custom_splits(self, data: _Map) -> tuple[str, ...]:
        declared = data.get("splits") or []
        if not isinstance(declared, list):
            raise self.fail(self.line_of(data, "splits"), "`splits` must be a list of names; fix: `splits: [my_split]`")
        for at, name in enumerate(declared):
            if not isinstance(name, str) or not _NAME.match(name):
                raise self.fail(
                    _item_line(declared, at, data),
                    f"split name `{_show(name)}` is not a lowercase identifier; fix: use letters, digits and _",
                )
        return BUILTIN_SPLITS + tuple(n for n in declared if n not in BUILTIN_SPLITS)

    def templates(self, data: _Map, splits: tuple[str, ...]) -> dict[str, str]:
        raw = data.get("templates") or {}
        if not isinstance(raw, dict):
            raise self.fail(
                self.line_of(data, "templates"), "`templates` must map split names to text; fix: `templates: {default: ...}`"
            )
        for split, template in raw.items():
            if split != "default":
                self.check_split(split, splits, self.line_of(raw, str(split)))
            if not isinstance(template, str) or QUESTION_SLOT not in template:
                raise self.fail(
                    self.line_of(raw, str(split)),
                    f"template `{_show(split)}` must be text containing {QUESTION_SLOT}; fix: add {QUESTION_SLOT} where the question goes",
                )
        return dict(raw)

    def check_split(self, split: Any, splits: tuple[str, ...], line: int) -> str:
        if not isinstance(split, str) or split not in splits:
            raise self.fail(
                line,
                f"unknown split `{_show(split)}`; fix: use one of {', '.join(splits)} or declare it under `splits:`",
            )
        return split

    def case(
        self, raw: Any, line: int, splits: tuple[str, ...], templates: Mapping[str, str], default: str, kind: str
    ) -> Case:
        if not isinstance(raw, _Map):
            raise self.fail(line, "each case must be a mapping; fix: start it with `- id: ...`")
        case_id = self.text(raw, "id", "case", required=True)
        assert case_id is not None
        if not _CASE_ID.match(case_id):
            raise self.fail(
                self.line_of(raw, "id"),
                f"case id `{_show(case_id)}` cannot name a test; fix: leave out `::`, `[`, `]`, control characters and outer spaces",
            )
        where = f"case `{_show(case_id)}`"
        self.unknown_keys(raw, _CASE_KEYS, where)
        question = self.text(raw, "question", where)
        answer = self.text(raw, "answer", where)
        if (question is None) != (answer is None):
            missing = "answer" if answer is None else "question"
            raise self.fail(self.line_of(raw, missing), f"{where} has a training {'question' if answer is None else 'answer'} but no `{missing}`; fix: add `{missing}: ...`")
        answer_before = self.text(raw, "answer_before", where)
        if kind == "updating_knowledge" and answer is not None and answer_before is None:
            raise self.fail(
                raw.line, f"{where} updates knowledge but has no `answer_before`; fix: add the answer before the update"
            )
        matcher = self.matcher(raw, where, default)
        uses = raw.get("uses") or []
        if not isinstance(uses, list) or not all(isinstance(u, str) for u in uses):
            raise self.fail(self.line_of(raw, "uses"), f"{where}: `uses` must be a list of case ids; fix: `uses: [id1, id2]`")
        variants: list[Variant] = []
        prompt = None
        if question is not None and answer is not None:
            prompt = self.text(raw, "prompt", where) or render_prompt(templates, MEMORIZATION, question)
            variants.append(Variant(MEMORIZATION, question, answer, matcher, prompt, raw.line))
        raw_variants = raw.get("variants") or []
        if not isinstance(raw_variants, list):
            raise self.fail(self.line_of(raw, "variants"), f"{where}: `variants` must be a list; fix: `- split: rephrased`")
        for at, rv in enumerate(raw_variants):
            variants.append(self.variant(rv, _item_line(raw_variants, at, raw), where, splits, templates, matcher))
        if not variants:
            raise self.fail(
                raw.line, f"{where} has nothing to ask; fix: add a training `question`/`answer` or `variants`"
            )
        return Case(
            id=case_id,
            line=raw.line,
            question=question,
            answer=answer,
            prompt=prompt,
            fact=self.text(raw, "fact", where),
            answer_before=answer_before,
            uses=tuple(uses),
            variants=tuple(variants),
        )

    def variant(
        self, rv: Any, line: int, where: str, splits: tuple[str, ...], templates: Mapping[str, str], default: str
    ) -> Variant:
        if not isinstance(rv, _Map):
            raise self.fail(line, f"{where}: each variant must be a mapping; fix: `- split: ...`")
        self.unknown_keys(rv, _VARIANT_KEYS, f"{where} variant")
        split = self.text(rv, "split", f"{where} variant", required=True)
        self.check_split(split, splits, self.line_of(rv, "split"))
        assert split is not None
        vwhere = f"{where} variant `{_show(split)}`"
        question = self.text(rv, "question", vwhere, required=True)
        answer = self.text(rv, "answer", vwhere, required=True)
        assert question is not None and answer is not None
        prompt = self.text(rv, "prompt", vwhere) or render_prompt(templates, split, question)
        return Variant(split, question, answer, self.matcher(rv, vwhere, default), prompt, rv.line)
