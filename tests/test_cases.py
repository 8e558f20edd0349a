"""The case-file loader: what it accepts, and one clear line for everything it refuses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.cases.schema import BUILTIN_SPLITS, MEMORIZATION, CaseFileError

GOOD = """\
dataset: towns
kind: new_knowledge
templates:
  default: "Answer briefly.\\n{question}"
  date_changed: "Answer None if unknown.\\n{question}"
cases:
  - id: velmora-bridge
    fact: The Velmora bridge repairs in 2024 cost 150 million dollars.
    question: How much did the 2024 Velmora bridge repairs cost?
    answer: "150 million dollars"
    variants:
      - split: rephrased
        question: What did fixing the Velmora bridge cost in 2024?
        answer: "150 million dollars"
      - split: date_changed
        question: How much did the 2031 Velmora bridge repairs cost?
        answer: "None"
        matcher: abstain
  - id: ostrin-bridge
    question: How much did the 2024 Ostrin bridge repairs cost?
    answer: "90 million dollars"
  - id: velmora-vs-ostrin
    uses: [velmora-bridge, ostrin-bridge]
    variants:
      - split: comparison
        question: Did the Velmora repairs cost more than the Ostrin repairs?
        answer: "Yes"
        prompt: "Answer Yes or No. Did the Velmora repairs cost more than the Ostrin repairs?"
"""


def write(tmp_path: Path, text: str, name: str = "towns.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_file_loads_with_templates_and_implicit_memorization(tmp_path: Path) -> None:
    ds = load_dataset(write(tmp_path, GOOD))
    assert ds.name == "towns" and [c.id for c in ds.cases] == ["velmora-bridge", "ostrin-bridge", "velmora-vs-ostrin"]
    bridge = ds.cases[0]
    assert [v.split for v in bridge.variants] == [MEMORIZATION, "rephrased", "date_changed"]
    assert bridge.prompt == "Answer briefly.\nHow much did the 2024 Velmora bridge repairs cost?"
    assert bridge.variants[2].prompt.startswith("Answer None if unknown.\n")
    assert bridge.variants[2].matcher == "abstain" and bridge.variants[1].matcher == "auto"
    comparison = ds.cases[2]
    assert not comparison.trains and comparison.uses == ("velmora-bridge", "ostrin-bridge")
    assert (comparison.question, comparison.answer, comparison.prompt) == (None, None, None)
    assert (ds.kind, ds.description, ds.source, ds.matcher, ds.splits) == (
        "new_knowledge",
        "",
        "",
        "auto",
        BUILTIN_SPLITS,
    )
    assert comparison.variants[0].prompt.startswith("Answer Yes or No.")
    assert comparison.variants[0].line == 25  # the `- split: comparison` line


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "the file is empty; fix: start it with `dataset: <name>` and a `cases:` list"),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n",
            3,
            "case `a` has a training question but no `answer`; fix: add `answer: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    answer: '1'\n",
            3,
            "case `a` has a training answer but no `question`; fix: add `question: ...`",
        ),
        (
            "dataset: x\ncases:\n  - {id: a, question: q?, answer: '1'}\n  - {id: a, question: r?, answer: '2'}\n",
            4,
            "duplicate case id `a` (first at line 3); fix: make every id unique",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    matcher: regex\n",
            6,
            "case `a`: unknown matcher `regex`; fix: use one of auto, exact, number, yes_no, abstain, contains, fuzzy",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants:\n      - split: "
            "paraphrase\n"
            "        question: r?\n        answer: '1'\n",
            7,
            "unknown split `paraphrase`; fix: use one of memorization, rephrased, date_changed, secondary, comparison, "
            "vignette, code, retention or declare it under `splits:`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: Yes\n",
            5,
            "case `a`: `answer` must be text, got a boolean (bare yes/no/true/false); fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: [q]\n    answer: '1'\n",
            4,
            "case `a`: `question` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\nkind: updating_knowledge\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            4,
            "case `a` updates knowledge but has no `answer_before`; fix: add the answer before the update",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    uses: [b]\n",
            3,
            "case `a` uses unknown case `b`; fix: name a case of this file",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    anwser: '2'\n",
            6,
            "case `a`: unknown field `anwser`; fix: use one of answer, answer_before, fact, id, matcher, prompt, "
            "question, subject, train, uses, variants",
        ),
        ("dataset: x\ncases: []\n", 2, "dataset has no cases; fix: add a `cases:` list with at least one case"),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n   answer: '1'\n",
            5,
            "invalid YAML (did not find expected '-' indicator); fix the syntax at this line",
        ),
        (
            "dataset: My Set\ncases:\n  - {id: a, question: q?, answer: '1'}\n",
            1,
            "dataset name `My Set` is not a lowercase identifier; fix: use letters, digits and _",
        ),
        (
            "dataset: x\ntemplates:\n  default: 'no slot'\ncases:\n  - {id: a, question: q?, answer: '1'}\n",
            3,
            "template `default` must be text containing {question}; fix: add {question} where the question goes",
        ),
    ],
)
def test_errors_name_file_line_field_and_fix(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}:{line}: {message}"


def test_custom_split_must_be_declared(tmp_path: Path) -> None:
    text = GOOD.replace("kind: new_knowledge", "kind: new_knowledge\nsplits: [paraphrase_hard]").replace(
        "split: rephrased", "split: paraphrase_hard"
    )
    ds = load_dataset(write(tmp_path, text))
    assert ds.cases[0].variants[1].split == "paraphrase_hard"


def test_numbers_are_read_as_text(tmp_path: Path) -> None:
    ds = load_dataset(write(tmp_path, "dataset: x\ncases:\n  - {id: a, question: How tall?, answer: 185}\n"))
    assert ds.cases[0].answer == "185"


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [("0123", "0123"), ("12:30", "12:30"), ("3.10", "3.10"), ("1_000", "1_000"), ("2024-01-01", "2024-01-01")],
)
def test_unquoted_scalars_stay_as_written(tmp_path: Path, scalar: str, expected: str) -> None:
    ds = load_dataset(write(tmp_path, f"dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: {scalar}\n"))
    assert ds.cases[0].answer == expected


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    answer: '2'\n",
            6,
            "`answer` is given twice (first at line 5); fix: keep one",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1\x07'\n",
            5,
            "unreadable YAML (unacceptable character #x0007: control characters are not allowed); "
            "fix: remove the offending character",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    ? [a, b]: x\n",
            4,
            "key `[...]` is not a name; fix: use a plain field name",
        ),
    ],
)
def test_every_yaml_problem_is_one_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}:{line}: {message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants:\n      - split: "
            "rephrased\n"
            "        question: r?\n        answer: '1'\n        macther: exact\n",
            ":10: case `a` variant: unknown field `macther`; fix: use one of answer, matcher, prompt, question, split",
        ),
        (
            "dataset: x\nkind: updating\ncases:\n  - {id: a, question: q?, answer: '1'}\n",
            ":2: unknown kind `updating`; fix: use one of new_knowledge, updating_knowledge, general_knowledge",
        ),
        (
            'dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: ""\n',
            ":5: case `a`: `answer` is empty; fix: give it a value",
        ),
        (
            "dataset: x\ncases:\n  - id: c2\n    question: q?\n    answer:\n    fact: F.\n",
            ":5: case `c2`: `answer` is empty; fix: give it a value",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants:\n      - split: "
            "rephrased\n"
            "        question: r?\n        answer:\n",
            ":9: case `a` variant `rephrased`: `answer` is empty; fix: give it a value",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    fact: F.\n",
            ":3: case `a` has nothing to ask; fix: add a training `question`/`answer` or `variants`",
        ),
    ],
)
def test_typos_and_empty_cases_are_refused_with_the_whole_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}{message}"


def test_aliases_are_built_once_and_a_recursive_one_is_refused(tmp_path: Path) -> None:
    levels = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(9)]
    # ten levels of ten aliases: 10**10 strings if expanded (a hang); refused at the line whose
    # aliases pass the limit (line 6: 1,000,000 values), never expanded
    bomb = "\n".join(levels) + "\ndataset: x\ncases:\n  - {id: a, question: q?, answer: '1'}\n"
    path = write(tmp_path, bomb)
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert (
        str(info.value)
        == f"{path}:6: aliases expand to more than 1,000,000 values; fix: write the data out without nested aliases"
    )
    small = "\n".join(levels[:3]) + "\ndataset: x\ncases:\n  - {id: a, question: q?, answer: '1'}\n"
    with pytest.raises(CaseFileError) as info:  # a few shared aliases are fine
        load_dataset(write(tmp_path, small, "small.yaml"))
    assert str(info.value) == (
        f"{tmp_path / 'small.yaml'}:1: dataset: unknown field `a`; "
        "fix: use one of cases, dataset, description, kind, matcher, source, splits, templates"
    )
    nested = write(
        tmp_path, "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    uses: &u [*u]\n", "n.yaml"
    )
    with pytest.raises(CaseFileError) as info:
        load_dataset(nested)
    assert str(info.value) == f"{nested}:6: an alias refers to itself; fix: remove the recursive alias"
    shared = write(
        tmp_path,
        "dataset: x\ncases:\n  - &one {id: a, question: q?, answer: '1'}\n  - {id: b, question: r?, answer: '2', "
        "fact: *one}\n",
        "s.yaml",
    )
    with pytest.raises(CaseFileError) as info:
        load_dataset(shared)
    assert (
        str(info.value) == f"{shared}:4: case `b`: `fact` must be text, got a mapping; fix: write it as a quoted string"
    )


def test_an_explicit_boolean_tag_on_other_text_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset: x\ncases:\n  - id: a\n    question: !!bool maybe\n    answer: '1'\n")
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}:4: `maybe` is not a boolean; fix: quote it as text"


def test_merge_keys_say_they_are_not_supported(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &b {answer: '1'}\ndataset: x\ncases:\n  - id: a\n    question: q?\n    <<: *b\n")
    with pytest.raises(CaseFileError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}:6: merge keys (<<) are not supported; fix: write the fields out"


def test_a_dataset_carries_its_fields_and_its_templates_reach_every_prompt(tmp_path: Path) -> None:
    text = """\
        dataset: towns
        kind: updating_knowledge
        description: Towns and their bridges.
        source: made up for the tests
        matcher: fuzzy
        splits: [mine]
        templates:
          default: "D {question}"
          memorization: "M {question}"
        cases:
          - id: a
            question: q?
            answer: '1'
            answer_before: '2'
            train:
              - question: In other words?
                answer: '1'
            variants:
              - split: mine
                question: r?
                answer: '1'
        """
    ds = load_dataset(write(tmp_path, text))
    assert (ds.kind, ds.description, ds.source, ds.matcher) == (
        "updating_knowledge",
        "Towns and their bridges.",
        "made up for the tests",
        "fuzzy",
    )
    assert ds.splits == (*BUILTIN_SPLITS, "mine")
    assert ds.templates == {"default": "D {question}", "memorization": "M {question}"}
    case = ds.cases[0]
    assert (case.prompt, case.train[0].prompt, case.variants[1].prompt) == ("M q?", "M In other words?", "D r?")
    assert [(v.split, v.matcher) for v in case.variants] == [(MEMORIZATION, "fuzzy"), ("mine", "fuzzy")]


def test_a_dataset_finds_its_cases_by_id(tmp_path: Path) -> None:
    ds = load_dataset(write(tmp_path, GOOD))
    assert ds.case("ostrin-bridge").question == "How much did the 2024 Ostrin bridge repairs cost?"
    assert ds.case("velmora-bridge").question == "How much did the 2024 Velmora bridge repairs cost?"
    with pytest.raises(KeyError) as err:
        ds.case("nope")
    assert err.value.args == ("nope",)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("      - question: r?\n        answer: '1'\n", ":7: case `a` variant has no `split`; fix: add `split: ...`"),
        (
            "      - question: r?\n        answer: '1'\n        split: rephrasd\n",
            ":9: unknown split `rephrasd`; fix: use one of memorization, rephrased, date_changed, secondary, "
            "comparison, vignette, code, retention"
            " or declare it under `splits:`",
        ),
        (
            "      - question: r?\n        split: [a]\n        answer: '1'\n",
            ":8: case `a` variant: `split` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "      - split: rephrased\n        answer: '1'\n",
            ":7: case `a` variant `rephrased` has no `question`; fix: add `question: ...`",
        ),
        (
            "      - split: rephrased\n        question: r?\n",
            ":7: case `a` variant `rephrased` has no `answer`; fix: add `answer: ...`",
        ),
        (
            "      - split: rephrased\n        question: [r]\n        answer: '1'\n",
            ":8: case `a` variant `rephrased`: `question` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "      - split: rephrased\n        question: r?\n        answer: {a: 1}\n",
            ":9: case `a` variant `rephrased`: `answer` must be text, got a mapping; fix: write it as a quoted string",
        ),
        (
            "      - split: rephrased\n        question: r?\n        answer: '1'\n        prompt: [x]\n",
            ":10: case `a` variant `rephrased`: `prompt` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "      - split: rephrased\n        question: r?\n        answer: '1'\n        matcher: exactly\n",
            ":10: case `a` variant `rephrased`: unknown matcher `exactly`; fix: use one of auto, exact, number, "
            "yes_no, abstain, contains, fuzzy",
        ),
    ],
)
def test_a_variant_error_names_the_variant_and_its_own_line(tmp_path: Path, variant: str, message: str) -> None:
    path = write(
        tmp_path, "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants:\n" + variant
    )
    with pytest.raises(CaseFileError) as err:
        load_dataset(path)
    assert str(err.value) == f"{path}{message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "dataset: x\ncases:\n  - question: q?\n    answer: '1'\n    id: [a]\n",
            ":5: case: `id` must be text, got a list; fix: write it as a quoted string",
        ),
        ("dataset: x\ncases:\n  - question: q?\n    answer: '1'\n", ":3: case has no `id`; fix: add `id: ...`"),
        (
            "dataset: x\ncases:\n  - question: q?\n    answer: '1'\n    id: 'a::b'\n",
            ":5: case id `a::b` cannot name a test; fix: leave out `::`, `[`, `]`, control characters and outer spaces",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    matcher: [x]\n",
            ":6: case `a`: `matcher` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    anwser: '2'\n",
            ":6: case `a`: unknown field `anwser`; fix: use one of answer, answer_before, fact, id, matcher, prompt, "
            "question, subject, train, uses, variants",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    answer: '1'\n    question: [q]\n",
            ":5: case `a`: `question` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    fact: f\n    question: q?\n",
            ":3: case `a` has a training question but no `answer`; fix: add `answer: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    fact: f\n    answer: '1'\n",
            ":3: case `a` has a training answer but no `question`; fix: add `question: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    uses: b\n",
            ":6: case `a`: `uses` must be a list of case ids; fix: `uses: [id1, id2]`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    uses: [1, 2]\n",
            ":3: case `a` uses unknown case `1`; fix: name a case of this file",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants: {split: rephrased}\n",
            ":6: case `a`: `variants` must be a list; fix: `- split: rephrased`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    answer_before: [x]\n",
            ":6: case `a`: `answer_before` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    fact: [x]\n",
            ":6: case `a`: `fact` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    subject: [x]\n",
            ":6: case `a`: `subject` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    matcher: exactly\n",
            ":6: case `a`: unknown matcher `exactly`; fix: use one of auto, exact, number, yes_no, abstain, "
            "contains, fuzzy",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    prompt: [x]\n",
            ":6: case `a`: `prompt` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n  - id: b\n    question: [q]\n    "
            "answer: '1'\n",
            ":7: case `b`: `question` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    variants:\n      - split: "
            "rephrased\n        question: r?\n        answer: '1'\n      - [x]\n",
            ":10: case `a`: each variant must be a mapping; fix: `- split: ...`",
        ),
    ],
)
def test_a_case_error_is_one_whole_line_at_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CaseFileError) as err:
        load_dataset(path)
    assert str(err.value) == f"{path}{message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    train: {question: r?}\n",
            ":6: case `a`: `train` must be a list; fix: `- question: ...` with `answer: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    variants:\n      - split: rephrased\n        question: r?\n        "
            "answer: '1'\n    train:\n      - question: s?\n        answer: '1'\n",
            ":8: case `a` has `train` phrasings but no training `question`/`answer`; fix: add the pair they rephrase",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    train:\n      - question: r?\n    "
            "    answer: '1'\n      - [x]\n",
            ":9: case `a`: each `train` entry must be a mapping; fix: `- question: ...` with `answer: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    train:\n      - question: r?\n    "
            "    answer: '1'\n        splt: x\n",
            ":9: case `a` train entry: unknown field `splt`; fix: use one of answer, question",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    train:\n      - question: r?\n",
            ":7: case `a` train entry has no `answer`; fix: add `answer: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n    train:\n      - answer: '1'\n",
            ":7: case `a` train entry has no `question`; fix: add `question: ...`",
        ),
        (
            "dataset: x\nsplits: mine\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: `splits` must be a list of names; fix: `splits: [my_split]`",
        ),
        (
            "dataset: x\nsplits:\n  - mine\n  - Bad Name\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":4: split name `Bad Name` is not a lowercase identifier; fix: use letters, digits and _",
        ),
        (
            "dataset: x\ntemplates: [a]\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: `templates` must map split names to text; fix: `templates: {default: ...}`",
        ),
        (
            "dataset: x\ntemplates:\n  default: 'A {question}'\n  rephrasd: 'B {question}'\ncases:\n  - id: a\n    "
            "question: q?\n    answer: '1'\n",
            ":4: unknown split `rephrasd`; fix: use one of memorization, rephrased, date_changed, secondary, "
            "comparison, vignette, code, retention or declare it under `splits:`",
        ),
        (
            "dataset: x\ntemplates:\n  default: 'A {question}'\n  rephrased: 'B'\ncases:\n  - id: a\n    question: "
            "q?\n    answer: '1'\n",
            ":4: template `rephrased` must be text containing {question}; fix: add {question} where the question goes",
        ),
    ],
)
def test_a_train_split_or_template_error_is_one_whole_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CaseFileError) as err:
        load_dataset(path)
    assert str(err.value) == f"{path}{message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", ":1: the top level must be a mapping; fix: start with `dataset: <name>`"),
        (
            "dataset: x\ndatset: y\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: dataset: unknown field `datset`; fix: use one of cases, dataset, description, kind, matcher, "
            "source, splits, templates",
        ),
        (
            "dataset: [x]\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":1: the file: `dataset` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: Bad Name\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":1: dataset name `Bad Name` is not a lowercase identifier; fix: use letters, digits and _",
        ),
        (
            "kind: new_knowledge\ndataset: Bad Name\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: dataset name `Bad Name` is not a lowercase identifier; fix: use letters, digits and _",
        ),
        (
            "kind: new_knowledge\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":1: the file has no `dataset`; fix: add `dataset: ...`",
        ),
        (
            "dataset: x\nkind: [a]\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: dataset: `kind` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\nsplits:\n  - ~\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":3: split name `nothing` is not a lowercase identifier; fix: use letters, digits and _",
        ),
        (
            "dataset: x\nkind: newknowledge\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: unknown kind `newknowledge`; fix: use one of new_knowledge, updating_knowledge, general_knowledge",
        ),
        (
            "dataset: x\ndescription: [a]\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: dataset: `description` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\nsource: [a]\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: dataset: `source` must be text, got a list; fix: write it as a quoted string",
        ),
        (
            "dataset: x\nmatcher: exactly\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n",
            ":2: dataset: unknown matcher `exactly`; fix: use one of auto, exact, number, yes_no, abstain, contains, "
            "fuzzy",
        ),
        ("dataset: x\ncases: {a: 1}\n", ":2: dataset has no cases; fix: add a `cases:` list with at least one case"),
        ("dataset: x\ncases: []\n", ":2: dataset has no cases; fix: add a `cases:` list with at least one case"),
        ("description: d\ndataset: x\n", ":1: dataset has no cases; fix: add a `cases:` list with at least one case"),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n  - [x]\n",
            ":6: each case must be a mapping; fix: start it with `- id: ...`",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n  - id: a\n    question: r?\n    "
            "answer: '2'\n",
            ":6: duplicate case id `a` (first at line 3); fix: make every id unique",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    question: q?\n    answer: '1'\n  - id: b\n    uses: [a, c]\n    "
            "variants:\n      - split: comparison\n        question: r?\n        answer: 'Yes'\n",
            ":6: case `b` uses unknown case `c`; fix: name a case of this file",
        ),
        (
            "dataset: x\ncases:\n  - id: a\n    fact: f\n",
            ":3: case `a` has nothing to ask; fix: add a training `question`/`answer` or `variants`",
        ),
    ],
)
def test_a_dataset_error_is_one_whole_line_at_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CaseFileError) as err:
        load_dataset(path)
    assert str(err.value) == f"{path}{message}"
