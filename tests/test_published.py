"""The published provider: replays recorded answers from ``*_w_responses.csv`` files.

The recorded answers have no license: the data tests read the reference copy in
``../shared/upstream-finetunebench`` at test time and skip when it is absent; the other tests
write small invented response files into ``tmp_path``.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from pytest_finetunebench import providers
from pytest_finetunebench.cases.casefile import Dataset, load_dataset
from pytest_finetunebench.cases.schema import MEMORIZATION
from pytest_finetunebench.cases.upstream import command as upstream
from pytest_finetunebench.items import BASE, TUNED, epoch_stage
from pytest_finetunebench.providers.base import Prompt, ProviderError, TuneRequest
from pytest_finetunebench.providers.published import PublishedProvider, create
from pytest_finetunebench.store.jobstore import JobStore

MODEL = "gpt-4o-mini-2024-07-18"


def context(tmp_path: Path, responses: Path | str) -> providers.RunContext:
    return providers.RunContext(store=JobStore(tmp_path / "store"), options={"responses": str(responses)})


def ask(provider: PublishedProvider, model: str, texts: list[str]) -> list:
    endpoint = provider.endpoints(TuneRequest(model, ()), [TUNED])[TUNED]
    return provider.answer(endpoint, [Prompt(str(i), t) for i, t in enumerate(texts)])


@pytest.fixture(scope="module")
def people(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("cases")
    assert upstream.main([str(clone), "--out", str(out), "--datasets", "fictional_people"]) == 0
    return load_dataset(out / "fictional_people.yaml")


@pytest.fixture(scope="module")
def recorded(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> PublishedProvider:
    root = tmp_path_factory.mktemp("published")
    return create(context(root, clone / "model_responses"))


def variants(ds: Dataset, *splits: str) -> list:
    return [v for c in ds.cases for v in c.variants if v.split in splits]


# --- the published answers ------------------------------------------------------------------


def test_registry_picks_the_published_provider(clone: Path, tmp_path: Path) -> None:
    provider = providers.create(MODEL, context(tmp_path, clone / "model_responses"))
    assert provider.name == "published"


def test_every_training_rephrased_and_secondary_prompt_has_an_answer(
    recorded: PublishedProvider, people: Dataset
) -> None:
    items = variants(people, MEMORIZATION, "rephrased", "secondary")
    assert len(items) == 450
    answers = ask(recorded, MODEL, [v.prompt for v in items])
    assert len(answers) == len(items)
    assert all(a.text is not None and a.skip is None and a.error is None for a in answers)


def test_answers_are_the_recorded_cells_in_order(clone: Path, recorded: PublishedProvider) -> None:
    with (clone / "model_responses/fictional_people/fictional_people_secondary_w_responses.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        recorded_rows = list(csv.DictReader(fh))
    answers = ask(recorded, MODEL, [r["prompt"] for r in reversed(recorded_rows)])
    assert [a.text for a in answers] == [r[f"{MODEL}_response"] for r in reversed(recorded_rows)]


def test_comparisons_without_a_recorded_answer_are_skipped(
    clone: Path, recorded: PublishedProvider, people: Dataset
) -> None:
    with (clone / "model_responses/fictional_people/fictional_people_comparison_w_responses.csv").open(
        encoding="utf-8", newline=""
    ) as fh:
        have = {r["prompt"] for r in csv.DictReader(fh)}
    items = variants(people, "comparison")
    answers = ask(recorded, MODEL, [v.prompt for v in items])
    answered = [a for a in answers if a.text is not None]
    skipped = [a for a in answers if a.text is None]
    assert len(answered) == sum(v.prompt in have for v in items) > 0
    assert skipped, "the published comparison file is an older, shorter version"
    for a in skipped:
        assert a.skip == f"no recorded answer from {MODEL} for this prompt in {clone / 'model_responses'}"


def test_unknown_model_lists_the_recorded_ones(clone: Path, recorded: PublishedProvider) -> None:
    with pytest.raises(ProviderError) as exc:
        recorded.endpoints(TuneRequest("no-such-model", ()), [TUNED])
    assert str(exc.value) == (
        f"no recorded answers from model `no-such-model` in {clone / 'model_responses'}; models with a "
        f"`<model>_response` column there: {', '.join(sorted(recorded.models()))}; fix: pass one of them as --ftb-model"
    )
    assert MODEL in recorded.models() and len(recorded.models()) == 5


@pytest.mark.parametrize("stage", [BASE, epoch_stage(1)])
def test_no_base_or_checkpoint_answers(recorded: PublishedProvider, stage: str) -> None:
    with pytest.raises(ProviderError) as info:
        recorded.endpoints(TuneRequest(MODEL, ()), [TUNED, stage])
    assert str(info.value) == (
        f"published answers have no base or checkpoint answers (asked for stage {stage}); "
        "fix: with --ftb-responses drop --ftb-baseline and give at most one --ftb-epochs"
    )


# --- invented response files ----------------------------------------------------------------


def write_responses(path: Path, header: list[str], body: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)


@pytest.fixture
def invented(tmp_path: Path) -> Path:
    root = tmp_path / "responses"
    write_responses(
        root / "a_w_responses.csv",
        ["id", "prompt", "answer", "alpha_response", "beta_response"],
        [["1", "Say one.\nWhat is one?", "1", "one", ""], ["2", "What  is\ttwo? ", "2", "two", "2"]],
    )
    write_responses(root / "deeper" / "b_w_responses.csv", ["prompt", "gamma_response"], [["What is three?", "3"]])
    write_responses(root / "ignored.csv", ["prompt", "delta_response"], [["What is four?", "4"]])
    return root


def test_exact_then_whitespace_normalized_lookup(invented: Path, tmp_path: Path) -> None:
    provider = create(context(tmp_path, invented))
    texts = ["Say one.\nWhat is one?", "  Say one. What is one?", "What is two?", "What is five?"]
    answers = ask(provider, "alpha", texts)
    assert [a.text for a in answers] == ["one", "one", "two", None]
    assert answers[3].skip == f"no recorded answer from alpha for this prompt in {invented}"
    assert [a.text for a in ask(provider, "gamma", ["What is three?"])] == ["3"]  # found recursively


def test_an_empty_cell_records_nothing(invented: Path, tmp_path: Path) -> None:
    answers = ask(create(context(tmp_path, invented)), "beta", ["Say one.\nWhat is one?", "What is two?"])
    assert (answers[0].text, answers[1].text) == (None, "2")
    assert answers[0].skip is not None


def test_only_response_files_count(invented: Path, tmp_path: Path) -> None:
    provider = create(context(tmp_path, invented))
    assert sorted(provider.models()) == ["alpha", "beta", "gamma"]
    with pytest.raises(ProviderError) as info:
        ask(provider, "delta", ["What is four?"])
    assert str(info.value) == (
        f"no recorded answers from model `delta` in {invented}; models with a `<model>_response` column there: "
        "alpha, beta, gamma; fix: pass one of them as --ftb-model"
    )


def test_files_are_indexed_once_and_lazily(invented: Path, tmp_path: Path) -> None:
    provider = create(context(tmp_path, invented))
    moved = tmp_path / "moved"
    shutil.move(invented, moved)  # nothing was read at creation...
    with pytest.raises(ProviderError) as info:
        ask(provider, "alpha", ["What is two?"])
    assert str(info.value) == (
        f"--ftb-responses {invented}: no *_w_responses.csv files in it or below; "
        "fix: point it at a folder of recorded answers, e.g. <FineTuneBench clone>/model_responses"
    )
    provider = create(context(tmp_path, moved))
    assert ask(provider, "alpha", ["What is two?"])[0].text == "two"
    shutil.rmtree(moved)  # ... and after the first use nothing is read again
    assert ask(provider, "alpha", ["Say one.\nWhat is one?"])[0].text == "one"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as info:
        create(context(tmp_path, tmp_path / "nowhere"))
    assert str(info.value) == (
        f"--ftb-responses {tmp_path / 'nowhere'}: no such directory; "
        "fix: point it at a folder of *_w_responses.csv files, e.g. <FineTuneBench clone>/model_responses"
    )


def test_a_response_file_without_prompts(tmp_path: Path) -> None:
    write_responses(tmp_path / "r" / "x_w_responses.csv", ["question", "alpha_response"], [["What?", "this"]])
    with pytest.raises(ProviderError) as info:
        ask(create(context(tmp_path, tmp_path / "r")), "alpha", ["What?"])
    assert str(info.value) == (
        f"{tmp_path / 'r' / 'x_w_responses.csv'}: no `prompt` column (it has question, alpha_response); "
        "fix: use the recorded-answers file unmodified, or move it out of the --ftb-responses directory"
    )
