"""The Together AI provider against the emulator, through the real ``together`` SDK (no network, no cost)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest

together = pytest.importorskip("together")

from conformance import together_checker
from emulated import PAIRS, prompts, provider_factory, serve, spawn_child, tune_request, unknown_outcome, wait_for

from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers import create as create_provider
from pytest_finetunebench.providers.base import Endpoint, Prompt, ProviderError, TuneRequest, TuneSettings
from pytest_finetunebench.providers.hosted.api import chat_jsonl
from pytest_finetunebench.providers.together import TogetherProvider
from pytest_finetunebench.store import ledger as L
from pytest_finetunebench.store.jobstore import JobStore
from pytest_finetunebench.testing.together.emulator import NO_ANSWER, TogetherEmulator

MODEL = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
BASE = MODEL.removeprefix("together:")
CREATE = "POST /v1/fine-tunes"
POLL = "GET /v1/fine-tunes/{id}"
UPLOAD = "POST /v1/files"

request = partial(tune_request, MODEL)


@pytest.fixture
def emu(monkeypatch):
    yield from serve(TogetherEmulator(), monkeypatch, together_checker())


@pytest.fixture
def make(tmp_path):
    """``make(**options) -> (provider, progress lines)``; all providers share one store."""
    return provider_factory(TogetherProvider, tmp_path / "store")


def child(tmp_path: Path) -> subprocess.Popen:
    """The same request, built in a child process (a pytest-xdist worker, a run killed with -9)."""
    return spawn_child(tmp_path, TogetherProvider, MODEL)


def test_registry_serves_together_names(tmp_path):
    assert isinstance(create_provider(MODEL, RunContext(JobStore(tmp_path))), TogetherProvider)


def test_training_file_is_conversational_jsonl():
    lines = chat_jsonl(PAIRS[:2]).decode().splitlines()
    assert json.loads(lines[0]) == {
        "messages": [{"role": "user", "content": PAIRS[0].prompt}, {"role": "assistant", "content": PAIRS[0].answer}]
    }
    assert len(lines) == 2


def test_full_lifecycle_uploads_tunes_polls_and_answers(emu, make):
    emu.job_polls = 2
    provider, lines = make(lora=16)
    endpoints = provider.endpoints(request(), ["tuned", "base"])
    tuned = endpoints["tuned"].handle
    assert (
        tuned.startswith("ftb-emulator/Meta-Llama-3.1-8B-Instruct-Reference-ftb-") and endpoints["base"].handle == BASE
    )
    answers = provider.answer(endpoints["tuned"], prompts() + [Prompt("x", "Something never trained?")])
    assert [a.text for a in answers[:-1]] == [p.answer for p in PAIRS] and answers[-1].text == NO_ANSWER
    assert all(a.text == NO_ANSWER for a in provider.answer(endpoints["base"], prompts(2)))

    key = provider.key(request())
    record = provider.ledger.get(key)
    assert record["state"] == L.SUCCEEDED and record["tuned_model"] == tuned and record["file_id"].startswith("file-")
    body = emu.bodies[CREATE]
    assert (body["model"], body["n_epochs"], body["suffix"], body["random_seed"]) == (BASE, 3, f"ftb-{key}", 0)
    assert body["training_type"]["type"] == "Lora" and body["training_type"]["lora_r"] == 16
    assert any(
        line.startswith("together meta-llama/Meta-Llama-3.1-8B-Instruct-Reference ft-") and ": running, " in line
        for line in lines
    )

    before = sum(emu.requests.values())  # a rerun (a fresh provider, same store) reuses the ledger
    assert make(lora=16)[0].endpoints(request(), ["tuned"])["tuned"].handle == tuned
    assert sum(emu.requests.values()) == before and emu.jobs_created == 1


def test_full_fine_tune_and_an_absolute_learning_rate(emu, make):
    make(lora=0, learning_rate=2e-5)[0].endpoints(request(learning_rate=2e-5, batch_size=8), ["tuned"])
    body = emu.bodies[CREATE]
    assert body["training_type"] == {"type": "Full"} and body["learning_rate"] == 2e-5 and body["batch_size"] == 8


def test_the_multiplier_flag_is_refused(emu, make):
    with pytest.raises(ProviderError) as info:
        make(learning_rate_multiplier=2.0)[0].endpoints(request(), ["tuned"])
    assert str(info.value) == (
        "--ftb-learning-rate-multiplier scales a default rate, but Together AI takes an absolute learning rate:"
        " pass --ftb-learning-rate instead (e.g. 1e-5)"
    )
    assert sum(emu.requests.values()) == 0


def test_epoch_stages_are_skipped_with_the_reason(emu, make):
    provider, lines = make()
    endpoints = provider.endpoints(request(), ["epoch:1", "tuned"])
    assert (
        lines[0]
        == "together meta-llama/Meta-Llama-3.1-8B-Instruct-Reference: epoch:1 skipped: Together serves intermediate "
        "checkpoints only as downloads"
    )
    skip = provider.answer(endpoints["epoch:1"], prompts(1))[0].skip
    assert skip.startswith("no checkpoint for epoch 1 of job ft-") and skip.endswith(
        ": Together serves only the final model (available epochs: none)"
    )


def test_ledger_lost_finds_the_job_by_suffix(emu, make):
    provider, _ = make()
    tuned = provider.endpoints(request(), ["tuned"])["tuned"].handle
    provider.ledger.forget(provider.key(request()))
    again, lines = make()
    assert again.endpoints(request(), ["tuned"])["tuned"].handle == tuned
    assert emu.jobs_created == 1 and emu.count(UPLOAD) == 1
    job_id, key = emu.jobs()[0]["id"], provider.key(request())
    assert f"together: resuming fine-tuning job {job_id} (completed) found by its suffix ftb-{key}" in lines


def test_dropped_create_response_yields_one_job(emu, make):
    emu.drop_creates = 1  # the server records the job, then closes the socket without answering
    provider, lines = make()
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ftb-emulator/")
    assert emu.jobs_created == 1 and emu.count(CREATE) == 1
    assert (
        f"together: fine-tuning job create for {MODEL.removeprefix('together:')} got no clear answer "
        "(connection error: Connection error.); looking for it (nothing is re-sent)"
    ) in lines


def test_lost_create_is_never_resent(emu, make):
    emu.lose_creates = 1  # the connection drops before the server records anything
    provider, _ = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    key = provider.key(request())
    assert str(info.value) == unknown_outcome(
        f"Together AI fine-tuning job for {MODEL.removeprefix('together:')}",
        "got no clear answer (connection error: Connection error.)", f"suffix ftb-{key}", "Together AI",
        provider.ledger.path(key),
    )  # fmt: skip
    assert emu.jobs_created == 0 and emu.count(CREATE) == 1
    assert provider.ledger.get(key)["state"] == L.CREATING


def test_kill_9_while_polling_then_rerun_resumes_the_same_job(emu, make, tmp_path):
    emu.job_seconds = 120.0
    proc = child(tmp_path)
    wait_for(lambda: emu.count(POLL) >= 3 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    provider, _ = make()
    assert provider.ledger.get(provider.key(request()))["state"] == L.RUNNING
    emu.finish_jobs()
    tuned = provider.endpoints(request(), ["tuned"])["tuned"].handle
    assert emu.jobs_created == 1 and emu.count(CREATE) == 1 and emu.count(UPLOAD) == 1
    assert provider.answer(Endpoint(MODEL, "tuned", tuned), prompts(1))[0].text == PAIRS[0].answer


def test_concurrent_processes_share_one_job(emu, tmp_path):
    emu.job_seconds = 120.0
    procs = [child(tmp_path) for _ in range(4)]
    started = lambda: len(list((tmp_path / "store").glob("started-*"))) == 4  # noqa: E731
    wait_for(lambda: (started() and emu.count(POLL) >= 1) or any(p.poll() is not None for p in procs), timeout=60)
    assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    time.sleep(0.1)
    emu.finish_jobs()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert len({json.loads(out) for out, _ in outputs}) == 1
    assert emu.jobs_created == 1 and emu.count(CREATE) == 1 and emu.count(UPLOAD) == 1


def test_a_429_and_503_storm_loses_no_answer(emu, make):
    provider, _ = make(concurrency=4, api_retries=8, poll_interval=0)
    endpoint = provider.endpoints(request(), ["tuned"])["tuned"]
    emu.fault(429, 10, retry_after=0.01)
    emu.fault(503, 5)
    answers = provider.answer(endpoint, prompts())
    assert [a.text for a in answers] == [p.answer for p in PAIRS]


def test_a_failed_job_names_togethers_message(emu, make):
    emu.fail_jobs = "Training failed: the emulated GPU melted."
    provider, _ = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    job_id = provider.ledger.get(provider.key(request()))["job_id"]
    assert str(info.value) == (
        f"Together AI fine-tuning job {job_id} for {MODEL.removeprefix('together:')} failed (status error): "
        "Training failed: the emulated GPU melted."
    )


def test_an_unknown_model_is_one_line_before_any_job(emu, make):
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(TuneRequest("together:nobody/no-such-model", PAIRS, TuneSettings(epochs=2)), ["tuned"])
    assert str(info.value) == (
        "Together AI refused the fine-tuning job for nobody/no-such-model: HTTP 404: Model nobody/no-such-model"
        " is not available for fine-tuning (emulated)."
    )
    assert emu.jobs_created == 0


def test_max_cost_uses_togethers_own_estimate_before_the_create(emu, make):
    provider, lines = make(max_cost=0.0000001)
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == (
        "refusing to launch: Together estimates $0.0002, over --ftb-max-cost $0.00000010; the file is uploaded, "
        "nothing was launched"
    )
    assert emu.count(UPLOAD) == 1 and emu.jobs_created == 0
    assert provider.ledger.get(provider.key(request()))["state"] == L.UPLOADED


def test_a_model_served_only_on_a_dedicated_endpoint_says_what_to_do(emu, make):
    provider, _ = make()
    endpoint = provider.endpoints(request(), ["tuned"])["tuned"]
    emu.dedicated_only.add(endpoint.handle)
    [answer] = provider.answer(endpoint, prompts(1))
    assert answer.error == (
        f"HTTP 400: Unable to access non-serverless model {endpoint.handle}. Please visit https://api.together.ai/models/"
        f"{endpoint.handle} to create and start a new dedicated endpoint for the model. (emulated); Together serves "
        "this tuned"
        " model only on a dedicated endpoint: start one (together endpoints create --model <it>) and evaluate it as"
        " together:<the endpoint's model name>"
    )


def test_dry_run_uploads_and_launches_nothing(emu, make):
    provider, lines = make(dry_run=True)
    endpoints = provider.endpoints(request(), ["tuned"])
    assert endpoints["tuned"].handle.reason == (
        f"dry run (--ftb-dry-run): would upload 12 examples and launch a fine-tuning job: "
        f"{MODEL.removeprefix('together:')} on 12 examples: ~230 tokens x 3 epochs = ~690 training tokens x no known "
        "price (pass --ftb-price MODEL:USD); launched nothing"
    )
    assert sum(emu.requests.values()) == 0
