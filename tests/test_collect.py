"""What collection selects and how it names problems, checked without running pytest inside pytest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_finetunebench.cases.casefile import Case, Dataset, Variant
from pytest_finetunebench.items import Target
from pytest_finetunebench.run.collect import Catalog, OneLine, Selection, is_case_file, one_line


def select(**options: Any) -> Selection:
    return Selection.from_options({"model": None, **options}, "smol")


def stages(selection: Selection) -> list[str]:
    return [t.label for t in selection.targets]


def test_without_options_the_default_model_is_tuned_once() -> None:
    selection = select()
    # the untuned model answers the retention split only (what tuning kept is counted against it)
    assert selection == Selection(targets=(Target("smol"),), retention_base=(Target("smol", "base"),))


def test_models_keep_their_order_without_repeats() -> None:
    assert stages(select(model=["b", "a", "b"])) == ["b", "a"]


def test_stages_come_untuned_first_then_each_epoch_then_their_likelihood_twins() -> None:
    selection = select(
        model=["m"], baseline=True, in_context=True, epochs="3,1", scoring=["generate", "likelihood", "generate"]
    )
    assert stages(selection) == [
        "m@in_context",
        "m@base",
        "m@epoch:1",
        "m@epoch:3",
        "m@in_context+likelihood",
        "m@base+likelihood",
        "m@epoch:1+likelihood",
        "m@epoch:3+likelihood",
    ]


def test_one_epoch_count_is_the_tuned_stage_and_likelihood_alone_drops_generation() -> None:
    assert stages(select(model=["m"], epochs="5", baseline=True, scoring=["likelihood"])) == [
        "m@base+likelihood",
        "m@likelihood",
    ]


def test_recipes_multiply_the_tuned_stages_only() -> None:
    selection = select(
        model=["m"],
        baseline=True,
        in_context=True,
        scoring=["generate", "likelihood"],
        recipe=["qa", "paraphrase:2", "qa"],
    )
    assert stages(selection) == [
        "m@in_context",
        "m@base",
        "m",
        "m+paraphrase:2",
        "m@in_context+likelihood",
        "m@base+likelihood",
        "m@likelihood",
        "m+paraphrase:2@likelihood",
    ]


def test_filters_and_limit_are_kept() -> None:
    selection = select(split=["rephrased", "comparison"], dataset=["people"], limit=1)
    assert (selection.splits, selection.datasets, selection.limit) == (
        frozenset({"rephrased", "comparison"}),
        frozenset({"people"}),
        1,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scoring": ["generate", "loglik", "mc"]}, "--ftb-scoring=loglik,mc: use generate, likelihood or both"),
        ({"limit": 0}, "--ftb-limit=0: keep at least one case per dataset (1 or more)"),
        (
            {"recipe": ["nope"]},
            "--ftb-recipe=nope: unknown recipe; use qa, paraphrase:K (K from 1 to 99), document, qa+document or "
            "qa+replay",
        ),
    ],
)
def test_bad_options_are_one_usage_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pytest.UsageError) as err:
        select(**options)
    assert str(err.value) == message


def _variant(split: str) -> Variant:
    return Variant(split, f"{split}?", "1", "auto", f"{split}?", 1)


DATASET = Dataset(
    name="towns",
    kind="new_knowledge",
    path=Path("towns.yaml"),
    cases=(
        Case(id="a", line=1, variants=(_variant("memorization"), _variant("rephrased"))),
        Case(id="b", line=2, variants=(_variant("memorization"),)),
        Case(id="c", line=3, variants=(_variant("rephrased"), _variant("comparison"))),
        Case(id="d", line=4, variants=(_variant("rephrased"),)),
    ),
)


def kept(selection: Selection) -> list[tuple[str, list[str]]]:
    return [(case.id, [v.split for v in variants]) for case, variants in selection.cases(DATASET)]


def test_every_case_and_variant_without_filters() -> None:
    assert kept(Selection(targets=())) == [
        ("a", ["memorization", "rephrased"]),
        ("b", ["memorization"]),
        ("c", ["rephrased", "comparison"]),
        ("d", ["rephrased"]),
    ]


def test_a_split_filter_skips_cases_without_it_and_the_limit_counts_only_kept_cases() -> None:
    assert kept(Selection(targets=(), splits=frozenset({"rephrased"}), limit=2)) == [
        ("a", ["rephrased"]),
        ("c", ["rephrased"]),
    ]
    assert kept(Selection(targets=(), limit=1)) == [("a", ["memorization", "rephrased"])]


def test_a_dataset_filter_keeps_only_the_named_datasets() -> None:
    assert kept(Selection(targets=(), datasets=frozenset({"people"}))) == []
    assert len(kept(Selection(targets=(), datasets=frozenset({"towns", "people"})))) == 4


def test_unknown_filters_are_named_with_what_is_known() -> None:
    catalog = Catalog(
        datasets={"towns": Path("towns.yaml"), "people": Path("people.yaml")}, splits={"rephrased", "memorization"}
    )
    selection = Selection(
        targets=(), splits=frozenset({"rephrasd", "memorization", "code"}), datasets=frozenset({"town"})
    )
    assert catalog.unknown(selection) == [
        "--ftb-dataset=town names no dataset here; known: people, towns",
        "--ftb-split=code names no split here; known: memorization, rephrased",
        "--ftb-split=rephrasd names no split here; known: memorization, rephrased",
    ]


def test_no_split_known_reads_none() -> None:
    catalog = Catalog(datasets={"towns": Path("towns.yaml")})
    assert catalog.unknown(Selection(targets=(), splits=frozenset({"x"}))) == [
        "--ftb-split=x names no split here; known: none"
    ]


def test_filters_are_not_judged_while_a_file_is_invalid_or_nothing_was_collected() -> None:
    selection = Selection(targets=(), datasets=frozenset({"town"}))
    assert Catalog(datasets={"towns": Path("towns.yaml")}, invalid=True).unknown(selection) == []
    assert Catalog().unknown(selection) == []


def test_a_path_reached_again_through_a_link_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "cases")
    catalog = Catalog()
    assert not catalog.reached_before(tmp_path / "cases")
    assert not catalog.reached_before(tmp_path / "cases")  # the same path again is not a second route
    assert catalog.reached_before(tmp_path / "link")
    assert catalog.visited == {(tmp_path / "cases").resolve(): tmp_path / "cases"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("cases/towns.yaml", True),
        ("cases/deep/towns.yml", True),
        ("cases/towns.json", False),
        ("other/towns.yaml", False),
        ("one.yaml", True),
        ("cases.yaml", False),
    ],
)
def test_case_files_are_yaml_files_at_or_under_a_case_location(path: str, expected: bool) -> None:
    assert is_case_file(Path(path), [Path("cases"), Path("one.yaml")]) is expected


def _config(here: Path, tbstyle: str) -> Any:
    return SimpleNamespace(invocation_params=SimpleNamespace(dir=here), option=SimpleNamespace(tbstyle=tbstyle))


def test_a_case_file_error_names_the_path_as_typed_from_where_pytest_ran(tmp_path: Path) -> None:
    inside = one_line(_config(tmp_path, "auto"), str(tmp_path / "cases" / "towns.yaml"), 3, "case `a` has no `id`")
    assert (str(inside), inside.line_style) == ("cases/towns.yaml:3: case `a` has no `id`", False)
    outside = one_line(_config(tmp_path / "cases", "line"), "/elsewhere/towns.yaml", 1, "the file is empty")
    assert (str(outside), outside.line_style) == ("/elsewhere/towns.yaml:1: the file is empty", True)


def test_one_line_is_its_own_crash_line_and_prints_itself_except_under_tb_line() -> None:
    shown: list[str] = []
    terminal = SimpleNamespace(line=shown.append)
    error = OneLine("towns.yaml", 2, "bad", line_style=False)
    assert error.reprcrash is error and (error.path, error.lineno, error.message) == ("towns.yaml", 2, "bad")
    error.toterminal(terminal)
    OneLine("towns.yaml", 2, "bad", line_style=True).toterminal(terminal)
    assert shown == ["towns.yaml:2: bad"]
