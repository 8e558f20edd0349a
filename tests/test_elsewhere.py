"""Models tuned elsewhere (``--ftb-tuned-elsewhere``) and honest failures of OpenAI-compatible servers,
against the in-repo OpenAI emulator through the real ``openai`` SDK."""

from __future__ import annotations

import json

import pytest

openai = pytest.importorskip("openai")

from conformance import openai_checker
from emulated import prompts, provider_factory, serve, tune_request

from pytest_finetunebench.providers.base import SYSTEM_PROMPT, Endpoint, ProviderError, chat_messages
from pytest_finetunebench.providers.openai.provider import OpenAIProvider
from pytest_finetunebench.providers.openai.rules import NO_TUNING_API
from pytest_finetunebench.testing import OpenAIEmulator
from pytest_finetunebench.testing.openai.emulator import NO_ANSWER

TEMPLATE = "Answer Yes or No.\n{question}"
QUESTIONS = [(f"Is Velmora town number {i} a port?", "Yes" if i % 2 else "No") for i in range(10)]
DECLARED = "towns.yaml with the qa recipe, 3 epochs of TRL SFT (our notebook)"
ELSEWHERE = [f"--ftb-tuned-elsewhere={DECLARED}", "-p", "no:randomly", "-p", "no:xdist", "--ftb-record-mode=off"]


@pytest.fixture
def emu(monkeypatch):
    yield from serve(OpenAIEmulator(), monkeypatch, openai_checker())


@pytest.fixture
def make(tmp_path):
    return provider_factory(OpenAIProvider, tmp_path / "store")


@pytest.fixture
def towns(pytester):
    """A case file of ten yes/no facts, and the tuned model's memory of them (every answer right)."""
    lines = ["dataset: towns", f"templates:\n  default: {json.dumps(TEMPLATE)}", "cases:"]
    for i, (question, answer) in enumerate(QUESTIONS):
        lines += [
            f"  - id: t{i}",
            f"    question: {question}",
            f'    answer: "{answer}"',
            f"    fact: {question} {answer}.",
        ]
    (pytester.path / "towns.yaml").write_text("\n".join(lines) + "\n")
    pytester.makeini("[pytest]\n")
    return {TEMPLATE.format(question=q): a for q, a in QUESTIONS}


def test_a_model_tuned_elsewhere_is_only_asked_and_the_report_says_so(emu, pytester, towns):
    emu.add_model("my-sft", towns)  # served, never tuned here; my-base knows nothing
    result = pytester.runpytest(
        "towns.yaml",
        "--ftb-model=openai:my-sft",
        "--ftb-base-model=openai:my-base",
        "--ftb-baseline",
        "--ftb-in-context",
        "--ftb-report=out.json",
        "--ftb-markdown=out.md",
        "--ftb-html=out.html",
        *ELSEWHERE,
    )
    # the tuned model knows every fact; its base none (its "no trained answer" reads as No: half right)
    result.assert_outcomes(passed=20, failed=10)
    assert {r for r in emu.requests if "fine_tuning" in r or "files" in r} == set()  # no job looked for or started
    assert emu.count("POST /v1/chat/completions") == 30
    report = json.loads((pytester.path / "out.json").read_text())
    answers = {(i["target"], i["answer"]) for i in report["items"]}
    assert {t for t, a in answers if a == NO_ANSWER} == {"openai:my-sft@base", "openai:my-sft@in_context"}
    note = (
        "not tuned by this run (--ftb-tuned-elsewhere): openai:my-sft; trained on (as declared): "
        f"{DECLARED}; untuned model: openai:my-base"
    )
    markdown = (pytester.path / "out.md").read_text().splitlines()
    assert f"Tuned: {note}" in markdown and "System message: 'Answer briefly.' (openai:my-sft)" in markdown
    assert f"finetunebench: {note}" in result.outlines
    saved = json.loads(next((pytester.path / ".ftb" / "runs").glob("*.json")).read_text())
    assert saved["tuned_elsewhere"] == {
        "models": ["openai:my-sft"],
        "trained_on": DECLARED,
        "base_model": "openai:my-base",
    }
    assert saved["system_message"] == {"openai:my-sft": SYSTEM_PROMPT}
    page = (pytester.path / "out.html").read_text()
    assert f"<dt>tuned</dt><dd>{note}</dd>" in page
    assert "<dt>system message</dt><dd>&#x27;Answer briefly.&#x27; (openai:my-sft)</dd>" in page
    body = emu.bodies["POST /v1/chat/completions"]  # a compatible server gets the local provider's system message
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT} and len(body["messages"]) == 2


def test_without_a_declared_base_the_untuned_stages_are_refused_before_anything_is_asked(emu, pytester, towns):
    result = pytester.runpytest("towns.yaml", "--ftb-model=openai:my-sft", "--ftb-baseline", *ELSEWHERE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --ftb-baseline and --ftb-in-context ask the untuned model, which --ftb-tuned-elsewhere does not"
            " know; fix: --ftb-base-model=NAME (the model it was tuned from, served the same way)"
        ]
    )
    assert not emu.requests


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--ftb-model=openai:my-sft", "--ftb-base-model=local:smollm2-135m"],
            "--ftb-base-model=local:smollm2-135m is served by the local provider but openai:my-sft by the openai"
            " provider; fix: name the untuned model as openai serves it",
        ),
        (
            ["--ftb-model=openai:my-sft", "--ftb-epochs=1,2"],
            "--ftb-epochs=1,2: a model tuned elsewhere has no epoch checkpoints here; fix: drop --ftb-epochs and"
            " evaluate each checkpoint as its own --ftb-model",
        ),
        (
            ["--ftb-model=openai:my-sft", "--ftb-recipe=paraphrase:2"],
            "--ftb-recipe: a model tuned elsewhere was trained on what its trainer built, not on a recipe here; fix:"
            " drop --ftb-recipe and say what it was trained on in --ftb-tuned-elsewhere=WHAT",
        ),
        (
            ["--ftb-model=ft:gpt-4o-mini-2024-07-18:org:x:abc"],
            "ft:gpt-4o-mini-2024-07-18:org:x:abc: an ft: id is already evaluated as given (its base from the id);"
            " fix: drop --ftb-tuned-elsewhere for it",
        ),
    ],
)
def test_answer_only_usage_errors_are_one_line(emu, pytester, towns, args, line):
    result = pytester.runpytest("towns.yaml", *args, *ELSEWHERE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == f"ERROR: {line}"


def test_a_base_model_without_the_answer_only_flag_is_refused(emu, pytester, towns):
    result = pytester.runpytest("towns.yaml", "--ftb-model=openai:my-sft", "--ftb-base-model=openai:my-base")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: --ftb-base-model=openai:my-base declares the untuned model of a model tuned elsewhere; fix: add"
        " --ftb-tuned-elsewhere=WHAT (what it was trained on), or drop --ftb-base-model"
    )


def test_a_server_without_a_fine_tuning_api_says_so_and_names_the_answer_only_form(emu, make):
    emu.fault(404, 1, path="/v1/fine_tuning/jobs", message="Not Found")
    provider, _ = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(tune_request("openai:my-sft"), ["tuned"])
    assert str(info.value) == NO_TUNING_API.format(url=emu.base_url, path="/fine_tuning/jobs")
    assert str(info.value) == (
        f"the server at {emu.base_url} has no fine-tuning API (HTTP 404 on /fine_tuning/jobs): it can only answer;"
        " fix: evaluate a model tuned elsewhere with --ftb-tuned-elsewhere=WHAT (what it was trained on) and"
        " --ftb-base-model=NAME (its untuned model), or --ftb-baseline -k base for the untuned model alone"
    )
    assert emu.jobs_created == 0


REASON = "Server is pinned to 'smollm2-135m'; requested 'smollm2'"


@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ("openai", REASON),
        ("message", REASON),
        ("detail", REASON),
        ("validation", f"body.model: {REASON}"),
        ("error", REASON),
        ("text", REASON),
    ],
)
def test_the_servers_reason_reaches_the_answer_whatever_the_shape_of_its_error(emu, make, shape, shown):
    emu.error_shape = shape
    emu.fault(400, 1, message=REASON)
    provider, _ = make()
    (answer,) = provider.answer(Endpoint("openai:smollm2", "base", "smollm2"), prompts(1))
    assert answer.error == f"HTTP 400: {shown}"
    if shape != "openai":  # another server's error body is not OpenAI's schema: said on purpose here
        emu.observers[0].failures.clear()


def test_likelihood_against_a_server_without_logprobs_fails_every_item_and_the_gate(emu, pytester, towns):
    emu.add_model("my-sft", towns)
    emu.logprobs = False  # the server ignores `logprobs`, as transformers serve does
    result = pytester.runpytest(
        "towns.yaml",
        "--ftb-model=openai:my-sft",
        "--ftb-scoring=likelihood",
        "--ftb-fail-under=memorization:0.5",
        "--tb=line",
        *ELSEWHERE,
    )
    result.assert_outcomes(failed=10)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    reason = (
        "my-sft: the server sent no token logprobs (it ignores `logprobs`), so it cannot score by likelihood; fix:"
        " --ftb-scoring=generate for it"
    )
    assert sum(reason in line for line in result.outlines) >= 10


def test_a_compatible_server_is_sent_the_messages_the_local_provider_renders(emu, make):
    """What a compatible server is sent is exactly what the local provider puts through its chat template."""
    pytest.importorskip("torch")
    from pytest_finetunebench.providers.local.train import chat_prompt

    class Template:  # a tokenizer whose chat template shows the messages it is given
        chat_template = "shown"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return json.dumps([messages, add_generation_prompt])

    provider, _ = make()
    provider.answer(Endpoint("openai:m", "base", "m"), prompts(1))
    sent = emu.bodies["POST /v1/chat/completions"]["messages"]
    text = prompts(1)[0].text
    assert (
        sent
        == chat_messages(text)
        == [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text}]
    )
    assert json.loads(chat_prompt(Template(), text)) == [sent, True]
