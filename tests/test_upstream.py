"""The upstream importer: FineTuneBench's CSVs -> case files.

The upstream data has no license, so nothing from it lives in this repository: the data tests
read the reference copy in ``../shared/upstream-finetunebench`` at test time and skip when it
is absent; the error tests build small invented clones in ``tmp_path``.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pytest_finetunebench.cases.casefile import Dataset, load_dataset
from pytest_finetunebench.cases.schema import MEMORIZATION
from pytest_finetunebench.cases.upstream import command as upstream
from pytest_finetunebench.cases.upstream import tables as upstream_csv

ATTRIBUTES = ("weight", "height", "age", "occupation", "favorite-color", "city")


@pytest.fixture(scope="module")
def imported(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("imported")
    assert upstream.main([str(clone), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def datasets(imported: Path) -> dict[str, Dataset]:
    return {name: load_dataset(imported / f"{name}.yaml") for name in upstream.DATASETS}


def rows(clone: Path, dataset: str, split: str) -> list[dict[str, str]]:
    with (clone / "datasets" / dataset / f"{dataset}_{split}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def prompts(ds: Dataset, split: str) -> Counter[str]:
    return Counter(v.prompt for c in ds.cases for v in c.variants if v.split == split)


def person_of(case_id: str) -> str:
    (attribute,) = [a for a in ATTRIBUTES if case_id.endswith("-" + a)]
    return case_id[: -len(attribute) - 1]


def used(rows_: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows_ if r["used_in_analysis"] == "True"]


# --- every dataset --------------------------------------------------------------------------


def test_every_dataset_is_written_and_loads(imported: Path, datasets: dict[str, Dataset]) -> None:
    assert sorted(p.name for p in imported.iterdir()) == sorted(f"{n}.yaml" for n in upstream.DATASETS)
    for name, ds in datasets.items():
        assert ds.name == name
        assert "kevinwu23/StanfordFineTuneBench" in ds.source
        assert f"datasets/{name}/{name}_" in ds.source


def test_answers_are_always_double_quoted(imported: Path) -> None:
    for path in imported.iterdir():
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^\s*(?:- )?(answer|answer_before): (.*)$", line)
            if m:
                assert m.group(2).startswith('"'), (path.name, line)


def test_import_is_deterministic(clone: Path, imported: Path, tmp_path: Path) -> None:
    assert upstream.main([str(clone), "--out", str(tmp_path)]) == 0
    for path in imported.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_cli_dispatch_writes_only_the_chosen_datasets(clone: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_finetunebench",
            "import-upstream",
            str(clone),
            "--out",
            str(tmp_path),
            "--datasets",
            "coding,medical",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coding.yaml", "medical.yaml"]
    assert proc.stdout.count("wrote ") == 2


# --- latest_news ----------------------------------------------------------------------------


def test_latest_news_defaults_to_the_analysis_rows(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["latest_news"]
    assert ds.kind == "new_knowledge"
    assert len(ds.cases) == len(used(rows(clone, "latest_news", "memorization"))) == 50
    for case in ds.cases:
        assert [v.split for v in case.variants] == [MEMORIZATION, "rephrased", "date_changed"]
        assert case.fact
        date_changed = case.variants[2]
        assert (date_changed.answer, date_changed.matcher) == ("None", "abstain")


def test_latest_news_prompts_round_trip_byte_for_byte(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["latest_news"]
    by_id = {c.id: c for c in ds.cases}
    assert set(ds.templates) == {MEMORIZATION, "rephrased", "date_changed"}
    assert ds.templates["date_changed"].startswith("\n")
    for split in (MEMORIZATION, "rephrased", "date_changed"):
        for row in used(rows(clone, "latest_news", split)):
            case = by_id[row["id"]]  # upstream ids byte for byte
            (variant,) = [v for v in case.variants if v.split == split]
            assert variant.prompt == row["prompt"]
            assert variant.answer == row["answer"]
    for row in used(rows(clone, "latest_news", MEMORIZATION)):
        case = by_id[row["id"]]  # upstream ids byte for byte
        assert (case.question, case.fact) == (row["question"], row["fact"])


def test_all_latest_news(clone: Path, tmp_path: Path) -> None:
    assert upstream.main([str(clone), "--out", str(tmp_path), "--datasets", "latest_news", "--all-latest-news"]) == 0
    ds = load_dataset(tmp_path / "latest_news.yaml")
    upstream_rows = rows(clone, "latest_news", "memorization")
    assert len(ds.cases) == len(upstream_rows) == 590
    assert [c.id for c in ds.cases] == [r["id"] for r in upstream_rows]  # byte for byte, ’ and all
    for split in (MEMORIZATION, "rephrased", "date_changed"):
        assert prompts(ds, split) == Counter(r["prompt"] for r in rows(clone, "latest_news", split))


def test_sanitize_id() -> None:
    assert upstream_csv.sanitize_id("already-valid_1.2") == "already-valid_1.2"
    assert upstream_csv.sanitize_id("it’s,-a  test") == "it’s,-a  test"
    assert upstream_csv.sanitize_id("café au lait") == "café au lait"
    assert upstream_csv.sanitize_id("--x") == "--x"
    assert upstream_csv.sanitize_id(" a::b [c]\t") == "a:b (c)"
    assert upstream_csv.sanitize_id("\x01 ") == "row"


# --- fictional_people -----------------------------------------------------------------------


def test_fictional_people_counts_and_ids(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["fictional_people"]
    memorization = rows(clone, "fictional_people", "memorization")
    comparison = rows(clone, "fictional_people", "comparison")
    trained = [c for c in ds.cases if c.trains]
    assert len(trained) == len(memorization) == 150
    people = list(dict.fromkeys(r["id"] for r in memorization))
    assert len(people) == 25
    # predictable ids: <person id>-<attribute>, in upstream order
    assert [c.id for c in trained] == [f"{p}-{a}" for p in people for a in ATTRIBUTES]
    assert [c.question for c in trained] == [r["question"] for r in memorization]
    derived = [c for c in ds.cases if not c.trains]
    assert len(derived) == len(comparison) == 150
    assert [c.id for c in derived] == [r["id"] for r in comparison]  # upstream ids byte for byte
    for case in trained:
        assert sorted(v.split for v in case.variants) == [MEMORIZATION, "rephrased", "secondary"]


def test_fictional_people_joins(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["fictional_people"]
    by_question = {c.question: c for c in ds.cases if c.trains}
    for row in rows(clone, "fictional_people", "rephrased"):
        (variant,) = [v for v in by_question[row["original_question"]].variants if v.split == "rephrased"]
        assert (variant.question, variant.answer, variant.prompt) == (
            row["rephrased_question"],
            row["answer"],
            row["prompt"],
        )
    by_fact = {(person_of(c.id), c.fact): c for c in ds.cases if c.trains}
    for row in rows(clone, "fictional_people", "secondary"):
        (variant,) = [v for v in by_fact[row["id"], row["fact"]].variants if v.split == "secondary"]
        assert (variant.question, variant.answer, variant.prompt, variant.matcher) == (
            row["question"],
            row["answer"],
            row["prompt"],
            "yes_no",
        )


def test_fictional_people_comparisons_use_both_peoples_cases(datasets: dict[str, Dataset]) -> None:
    ds = datasets["fictional_people"]
    trained = {c.id for c in ds.cases if c.trains}
    for case in (c for c in ds.cases if not c.trains):
        (variant,) = case.variants
        assert variant.split == "comparison" and variant.matcher == "yes_no" and variant.answer in ("Yes", "No")
        upstream_id = case.id.replace("favorite color", "favorite-color")  # the upstream id, kept as is
        attribute = next(a for a in ATTRIBUTES if upstream_id.endswith("-" + a))
        assert 1 <= len(case.uses) <= 2 and set(case.uses) <= trained
        first, *second = case.uses
        assert all(u.endswith("-" + attribute) for u in case.uses)
        assert upstream_id.startswith(first[: -len(attribute)])
        if second:
            assert upstream_id.endswith(second[0])
        else:  # a person compared with themselves
            assert upstream_id == first[: -len(attribute)] + first


def test_fictional_people_prompts_round_trip_byte_for_byte(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["fictional_people"]
    for split, file_split in (
        (MEMORIZATION, "memorization"),
        ("rephrased", "rephrased"),
        ("secondary", "secondary"),
        ("comparison", "comparison"),
    ):
        assert prompts(ds, split) == Counter(r["prompt"] for r in rows(clone, "fictional_people", file_split))


# --- medical and coding ---------------------------------------------------------------------


def test_medical(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["medical"]
    memorization, vignettes = rows(clone, "medical", "memorization"), rows(clone, "medical", "generalization")
    assert ds.kind == "updating_knowledge"
    assert len(ds.cases) == len(memorization) == 125
    for case, row in zip(ds.cases, memorization):
        assert case.id == row["id"]
        assert (case.prompt, case.answer, case.answer_before, case.fact) == (
            row["prompt"],
            row["answer"],
            row["answer_before"],
            row["updated_fact_description"],
        )
    assert prompts(ds, "vignette") == Counter(r["prompt"] for r in vignettes)
    by_id = {c.id: c for c in ds.cases}
    for row in vignettes:
        (variant,) = [v for v in by_id[row["id"]].variants if v.split == "vignette"]
        assert (variant.prompt, variant.answer) == (row["prompt"], row["answer"])


def test_coding_has_no_training_pairs_and_says_so(clone: Path, datasets: dict[str, Dataset]) -> None:
    ds = datasets["coding"]
    generalization = rows(clone, "coding", "generalization")
    assert ds.kind == "updating_knowledge"
    assert len(ds.cases) == len(generalization) == 218
    assert not any(c.trains for c in ds.cases)
    assert ds.description == (
        "FineTuneBench coding: 218 code questions about library APIs (invented renames of real functions and "
        "methods). INCOMPLETE: coding_memorization.csv (the training questions) is missing from the public "
        "repository, so no case here has a training pair: tuning on this file teaches nothing, and a run measures "
        "whether the model already gives the updated answer (answer_before holds the pre-update one). Put the "
        "upstream coding_memorization.csv into datasets/coding/ and re-import to get the training pairs."
    )
    for case, row in zip(ds.cases, generalization):
        (variant,) = case.variants
        assert (case.id, variant.split, variant.prompt, variant.answer, case.answer_before) == (
            row["id"],
            "code",
            row["prompt"],
            row["answer"],
            row["answer_before"],
        )


# --- invented clones: the coding memorization file, and errors --------------------------------


def write_csv(path: Path, header: list[str], body: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)


def invented_coding_clone(root: Path, with_memorization: bool) -> Path:
    write_csv(
        root / "datasets/coding/coding_generalization.csv",
        ["", "id", "prompt", "answer_before", "answer"],
        [
            ["0", "0", "What does frob.twiddle() become?", "twiddle", "twirl"],
            ["1", "1", "Name of widget.spin now?", "spin", "rotate"],
        ],
    )
    if with_memorization:
        write_csv(
            root / "datasets/coding/coding_memorization.csv",
            ["", "id", "prompt", "answer_before", "answer"],
            [["0", "0", "Rename of twiddle?", "twiddle", "twirl"], ["1", "1", "Rename of spin?", "spin", "rotate"]],
        )
    return root


def test_coding_memorization_file_is_used_when_present(tmp_path: Path) -> None:
    clone = invented_coding_clone(tmp_path / "clone", with_memorization=True)
    assert upstream.main([str(clone), "--out", str(tmp_path / "out"), "--datasets", "coding"]) == 0
    ds = load_dataset(tmp_path / "out" / "coding.yaml")
    assert [(c.id, c.question, c.answer, c.answer_before) for c in ds.cases] == [
        ("0", "Rename of twiddle?", "twirl", "twiddle"),
        ("1", "Rename of spin?", "rotate", "spin"),
    ]
    assert [[v.split for v in c.variants] for c in ds.cases] == [[MEMORIZATION, "code"]] * 2
    assert "INCOMPLETE" not in ds.description


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_finetunebench", "import-upstream", *args], capture_output=True, text=True
    )


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("import-upstream: error: "), err
    return err


def test_missing_clone_directory(tmp_path: Path) -> None:
    proc = run_cli(str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"import-upstream: error: {tmp_path / 'nowhere'}: no such directory; "
        "fix: pass the root of a clone of https://github.com/kevinwu23/StanfordFineTuneBench\n"
    )
    assert not (tmp_path / "out").exists()


def test_clone_without_datasets_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert upstream.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert one_line_error(capsys) == (
        f"import-upstream: error: {tmp_path}: has no datasets/ folder; "
        "fix: pass the root of a clone of kevinwu23/StanfordFineTuneBench (the folder holding datasets/)\n"
    )


def test_missing_file_names_it_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clone = invented_coding_clone(tmp_path / "clone", with_memorization=False)
    assert upstream.main([str(clone), "--out", str(tmp_path / "out")]) == 1  # coding is fine, the others are missing
    err = one_line_error(capsys)
    assert err == (
        f"import-upstream: error: {clone / 'datasets/latest_news/latest_news_memorization.csv'}: file not found; "
        "fix: pass the root of a complete clone of kevinwu23/StanfordFineTuneBench or leave latest_news out with "
        "--datasets\n"
    )
    assert not (tmp_path / "out").exists()


def test_missing_column_names_file_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "datasets/coding/coding_generalization.csv", ["id", "prompt"], [["0", "What is it?"]])
    assert upstream.main([str(tmp_path), "--out", str(tmp_path / "out"), "--datasets", "coding"]) == 1
    err = one_line_error(capsys)
    assert err == (
        f"import-upstream: error: {tmp_path / 'datasets/coding/coding_generalization.csv'}: no column `answer` "
        "(it has id, prompt); fix: use an unmodified copy of the upstream file\n"
    )


def test_latest_news_without_analysis_rows_suggests_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "datasets/latest_news/latest_news_"
    common = ["id", "prompt", "answer", "used_in_analysis"]
    write_csv(
        Path(f"{base}memorization.csv"),
        common + ["question", "fact"],
        [["a1", "Q: When?", "1999", "False", "When?", "It was 1999."]],
    )
    write_csv(
        Path(f"{base}rephrased.csv"),
        common + ["original_question", "rephrased_question"],
        [["a1", "At what time?", "1999", "False", "When?", "At what time?"]],
    )
    write_csv(
        Path(f"{base}date_changed.csv"),
        common + ["original_question", "date_changed_question"],
        [["a1", "Q: When, later?", "None", "False", "When?", "When, later?"]],
    )
    assert upstream.main([str(tmp_path), "--out", str(tmp_path / "out"), "--datasets", "latest_news"]) == 1
    assert one_line_error(capsys) == (
        f"import-upstream: error: {tmp_path / 'datasets/latest_news/latest_news_memorization.csv'}: no row has "
        "used_in_analysis == True; fix: pass --all-latest-news to import every row\n"
    )
    assert (
        upstream.main([str(tmp_path), "--out", str(tmp_path / "out"), "--datasets", "latest_news", "--all-latest-news"])
        == 0
    )
    ds = load_dataset(tmp_path / "out" / "latest_news.yaml")
    assert ds.templates == {MEMORIZATION: "Q: {question}", "date_changed": "Q: {question}"}
    assert [v.prompt for v in ds.cases[0].variants] == ["Q: When?", "At what time?", "Q: When, later?"]


def test_unknown_dataset_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert upstream.main([str(tmp_path), "--out", str(tmp_path), "--datasets", "nope"]) == 2
    assert one_line_error(capsys) == (
        "import-upstream: error: unknown dataset `nope`; "
        "fix: --datasets takes some of latest_news,fictional_people,medical,coding\n"
    )
    assert upstream.main([str(tmp_path)]) == 2
    assert one_line_error(capsys) == (
        "import-upstream: error: the following arguments are required: --out; "
        "fix: see `python -m pytest_finetunebench import-upstream --help`\n"
    )
