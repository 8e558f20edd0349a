"""The OpenAI provider against the emulator, through the real ``openai`` SDK (no network, no cost)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

from conformance import openai_checker
from emulated import (
    PAIRS,
    deliberate_violations,
    prompts,
    provider_factory,
    serve,
    spawn_child,
    still_waiting,
    tune_request,
    unknown_outcome,
    wait_for,
)

from pytest_finetunebench.options import OPTIONS
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers import create as create_provider
from pytest_finetunebench.providers.base import Answer, Endpoint, Prompt, ProviderError, TuneRequest, TuneSettings
from pytest_finetunebench.providers.hosted.cost import usd
from pytest_finetunebench.providers.openai.provider import (
    OpenAIProvider,
    Unavailable,
    chat_jsonl,
    parse_prices,
    price_for,
)
from pytest_finetunebench.store import ledger as L
from pytest_finetunebench.store.jobstore import JobStore
from pytest_finetunebench.store.ledger import strip_userinfo
from pytest_finetunebench.testing import OpenAIEmulator
from pytest_finetunebench.testing.openai.emulator import NO_ANSWER

MODEL = "gpt-4o-mini-2024-07-18"
# what the provider says of a create with no clear answer: the connection dropped, or an HTTP 500
UNCLEAR = {
    "lost": "Connection error. (RemoteProtocolError: Server disconnected without sending a response.)",
    "500": "HTTP 500: The server had an error while processing your request. Sorry about that! (emulated)",
}
JOBS = "POST /v1/fine_tuning/jobs"
POLL = "GET /v1/fine_tuning/jobs/{id}"

request = partial(tune_request, MODEL)


@pytest.fixture
def emu(monkeypatch):
    yield from serve(OpenAIEmulator(), monkeypatch, openai_checker())


@pytest.fixture
def make(tmp_path):
    """``make(**options) -> (provider, progress lines)``; all providers share one store."""
    return provider_factory(OpenAIProvider, tmp_path / "store")


def child(tmp_path: Path) -> subprocess.Popen:
    """The same request, built in a child process (a pytest-xdist worker, a run killed with -9)."""
    return spawn_child(tmp_path, OpenAIProvider, MODEL)


# -- lifecycle ---------------------------------------------------------------------------------


def test_registry_serves_gpt_and_ft_names(emu, tmp_path):
    ctx = RunContext(JobStore(tmp_path))
    assert isinstance(create_provider(MODEL, ctx), OpenAIProvider)
    assert isinstance(create_provider("ft:gpt-4o-mini-2024-07-18:org::abc", ctx), OpenAIProvider)


def test_training_file_is_chat_jsonl():
    lines = chat_jsonl(PAIRS[:2]).decode().splitlines()
    assert json.loads(lines[0]) == {
        "messages": [{"role": "user", "content": PAIRS[0].prompt}, {"role": "assistant", "content": PAIRS[0].answer}]
    }
    assert len(lines) == 2


def test_full_lifecycle_memorizes_and_writes_the_ledger(emu, make):
    provider, lines = make()
    endpoints = provider.endpoints(request(), ["tuned", "base"])
    tuned = endpoints["tuned"].handle
    assert tuned.startswith(f"ft:{MODEL}:ftb-emulator:ftb-")
    assert endpoints["base"].handle == MODEL

    answers = provider.answer(endpoints["tuned"], prompts() + [Prompt("x", "Something never trained?")])
    assert [a.text for a in answers[:-1]] == [p.answer for p in PAIRS]
    assert answers[-1].text == NO_ANSWER
    assert all(a.text == NO_ANSWER for a in provider.answer(endpoints["base"], prompts(3)))

    record = provider.ledger.get(provider.key(request()))
    assert record["state"] == L.SUCCEEDED and record["tuned_model"] == tuned
    assert record["file_id"].startswith("file-") and record["job_id"].startswith("ftjob-")
    assert [h["state"] for h in record["history"]][:3] == [L.UPLOADED, L.CREATING, L.RUNNING]
    assert (
        f"openai: launching a fine-tuning job: {MODEL} on 12 examples: ~266 tokens x 3 epochs = ~798 training tokens "
        "x $3.00/1M = $0.0024 (estimate)"
    ) in lines
    job = emu.jobs()[0]
    assert job["metadata"] == {"ftb_key": provider.key(request())}
    assert job["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3

    # A rerun (a fresh provider, same store) reuses the ledger: no upload, no create, no poll.
    before = sum(emu.requests.values())
    again, _ = make()
    assert again.endpoints(request(), ["tuned"])["tuned"].handle == tuned
    assert sum(emu.requests.values()) == before and emu.jobs_created == 1


def test_ledger_lost_finds_the_job_by_metadata(emu, make):
    provider, _ = make()
    tuned = provider.endpoints(request(), ["tuned"])["tuned"].handle
    provider.ledger.forget(provider.key(request()))
    again, lines = make()
    assert again.endpoints(request(), ["tuned"])["tuned"].handle == tuned
    assert emu.jobs_created == 1 and emu.count("POST /v1/files") == 1
    job_id, key = emu.jobs()[0]["id"], provider.key(request())
    assert f"openai: resuming fine-tuning job {job_id} (succeeded) found by its ftb_key {key}" in lines


def test_sdk_sends_metadata_filter_the_emulator_understands(emu):
    client = openai.OpenAI()
    f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
    for key in ("a", "b", "a"):
        client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, metadata={"ftb_key": key})
    assert [j.metadata for j in client.fine_tuning.jobs.list(metadata={"ftb_key": "a"})] == [{"ftb_key": "a"}] * 2
    assert len(list(client.fine_tuning.jobs.list(limit=1))) == 3  # auto-pagination walks `after`


# -- exactly one job ---------------------------------------------------------------------------


def test_kill_9_while_polling_then_rerun_resumes_the_same_job(emu, make, tmp_path):
    emu.job_seconds = 120.0  # slow job: the child is still polling when it dies
    proc = child(tmp_path)
    wait_for(lambda: emu.count(POLL) >= 3 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    provider, lines = make()
    record = provider.ledger.get(provider.key(request()))
    assert record["state"] == L.RUNNING and record["job_id"]
    emu.finish_jobs()
    tuned = provider.endpoints(request(), ["tuned"])["tuned"].handle
    assert emu.jobs_created == 1 and emu.count(JOBS) == 1 and emu.count("POST /v1/files") == 1
    assert provider.answer(Endpoint(MODEL, "tuned", tuned), prompts(1))[0].text == PAIRS[0].answer


def test_killed_between_create_and_ledger_write_finds_the_job(emu, make):
    """A crash after the create was sent leaves the ledger at ``creating``: the rerun looks the job up."""
    provider, _ = make()
    key = provider.key(request())
    client = openai.OpenAI()
    f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
    client.fine_tuning.jobs.create(
        model=MODEL, training_file=f.id, metadata={"ftb_key": key}
    )  # the "crashed" run's create
    provider.ledger.update(key, L.CREATING, file_id=f.id)
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 1


def test_concurrent_processes_share_one_job(emu, tmp_path):
    emu.job_seconds = 120.0  # the job runs until every process is inside endpoints()
    procs = [child(tmp_path) for _ in range(4)]
    started = lambda: len(list((tmp_path / "store").glob("started-*"))) == 4  # noqa: E731
    wait_for(lambda: (started() and emu.count(POLL) >= 1) or any(p.poll() is not None for p in procs), timeout=60)
    assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    time.sleep(0.1)
    emu.finish_jobs()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    models = {json.loads(out) for out, _ in outputs}
    assert len(models) == 1 and next(iter(models)).startswith("ft:")
    assert emu.jobs_created == 1 and emu.count(JOBS) == 1 and emu.count("POST /v1/files") == 1


def test_dropped_create_response_yields_one_job(emu, make):
    emu.drop_creates = 1  # the server records the job, then closes the socket without answering
    provider, lines = make()
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 1 and emu.count(JOBS) == 1
    assert (
        f"openai: fine-tuning job create for {MODEL} got no clear answer ({UNCLEAR['lost']}); "
        "looking for it (nothing is re-sent)"
    ) in lines
    assert provider.ledger.get(provider.key(request()))["create_attempts"] == 1


def test_why_create_retries_are_off(emu):
    """The hazard itself: the SDK's own retry of a dropped create launches a second job."""
    emu.drop_creates = 1
    client = openai.OpenAI(max_retries=2)
    f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
    client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert emu.jobs_created == 2


def test_create_sends_an_idempotency_key(emu, make, monkeypatch):
    seen = []
    real = emu.handle

    def spy(method, path, headers, body):
        if method == "POST" and path.rstrip("/") == "/v1/fine_tuning/jobs":
            seen.append(headers.get("Idempotency-Key"))
        return real(method, path, headers, body)

    monkeypatch.setattr(emu, "handle", spy)
    provider, _ = make()
    provider.endpoints(request(), ["tuned"])
    assert len(seen) == 1 and seen[0].startswith(f"ftb-{provider.key(request())}-")


@pytest.mark.parametrize("fault", ["lost", "500"])
def test_unclear_create_is_never_resent(emu, make, fault):
    """A create that may or may not have launched a job, and none is listed: raise, keep ``creating``."""
    if fault == "lost":
        emu.lose_creates = 1  # the connection drops before the server records anything
    else:
        emu.fault(500, 1, path="/v1/fine_tuning/jobs", method="POST")
    provider, lines = make()
    key = provider.key(request())
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == unknown_outcome(
        f"OpenAI fine-tuning job for {MODEL}", f"got no clear answer ({UNCLEAR[fault]})", f"ftb_key {key}", "OpenAI",
        provider.ledger.path(key),
    )  # fmt: skip
    assert emu.jobs_created == 0 and emu.count(JOBS) == 1
    assert (
        f"openai: fine-tuning job create for {MODEL} got no clear answer ({UNCLEAR[fault]}); "
        "looking for it (nothing is re-sent)"
    ) in lines
    assert provider.ledger.get(key)["state"] == L.CREATING
    # A rerun looks again and still sends nothing.
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert str(info.value) == unknown_outcome(
        f"OpenAI fine-tuning job for {MODEL}", "was sent by an earlier run, which recorded no answer", f"ftb_key {key}",
        "OpenAI", provider.ledger.path(key),
    )  # fmt: skip
    assert emu.jobs_created == 0 and emu.count(JOBS) == 1
    # Deleting the ledger file (as the message says) allows one new create.
    provider.ledger.path(key).unlink()
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 1 and emu.count(JOBS) == 2


def test_rerun_adopts_a_job_listed_after_an_unclear_create(emu, make):
    """The listing lagged the create: a later run finds the job and creates nothing."""
    emu.lose_creates = 1
    provider, _ = make()
    key = provider.key(request())
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == unknown_outcome(
        f"OpenAI fine-tuning job for {MODEL}", f"got no clear answer ({UNCLEAR['lost']})", f"ftb_key {key}", "OpenAI",
        provider.ledger.path(key),
    )  # fmt: skip
    file_id = provider.ledger.get(key)["file_id"]
    job = openai.OpenAI().fine_tuning.jobs.create(model=MODEL, training_file=file_id, metadata={"ftb_key": key})
    again, lines = make()  # now the job is listed
    assert again.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 1 and emu.count(JOBS) == 2
    assert f"openai: resuming fine-tuning job {job.id} (succeeded) found by its ftb_key {key}" in lines


def test_create_429_is_resent_after_a_backoff(emu, make):
    """A create turned away with 429 launched nothing: it is sent again."""
    emu.fault(429, 1, path="/v1/fine_tuning/jobs", method="POST")
    provider, lines = make()
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 1 and emu.count(JOBS) == 2
    assert (
        f"openai: fine-tuning job create for {MODEL} turned away (HTTP 429: Rate limit reached for requests "
        "(emulated). Please try again later.); nothing was launched, retrying in 0.01 s"
    ) in lines


def test_a_job_in_an_unknown_status_is_adopted_not_duplicated(emu, make, monkeypatch):
    """A listed job counts unless failed or cancelled, whatever its status (one the API added later)."""
    provider, _ = make(job_timeout=0.2)
    key = provider.key(request())
    client = openai.OpenAI()
    f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=f.id, metadata={"ftb_key": key})
    monkeypatch.setattr(emu, "_advance", lambda job, poll: None)
    emu._jobs[job.id]["status"] = "awaiting_review"
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == still_waiting(
        f"OpenAI fine-tuning job {job.id} for {MODEL}", "awaiting_review", 0.2, "OpenAI"
    )
    assert emu.jobs_created == 1 and provider.ledger.get(key)["job_id"] == job.id
    deliberate_violations(emu, r"status Input should be .* input_value='awaiting_review'")


def test_sleeps_look_up_time_sleep_at_call_time(emu, make, monkeypatch):
    """A cassette replay skips sleeps by swapping time.sleep (cassettes.skip_sleeps): it must reach them."""
    emu.job_polls = 3
    provider, _ = make(max_poll_interval=5.0, poll_interval=5.0)
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert 5.0 in slept


def test_poll_interval_zero_is_honored(emu, make):
    provider, _ = make(poll_interval=0)
    assert provider.poll_interval == 0.0
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")


def test_ledger_and_key_leave_out_url_credentials(emu, make, monkeypatch):
    plain = make()[0].key(request())
    monkeypatch.setenv("OPENAI_BASE_URL", emu.base_url.replace("http://", "http://user:secret@"))
    provider, _ = make()
    assert provider.key(request()) == plain
    provider.ledger.update("k", L.NEW, base_url=provider.base_url())
    assert provider.ledger.get("k")["base_url"] == emu.base_url.rstrip("/")
    assert "secret" not in provider.ledger.path("k").read_text()
    assert strip_userinfo("gs://bucket/x.jsonl") == "gs://bucket/x.jsonl"


# -- failures ----------------------------------------------------------------------------------


def test_failed_job_raises_the_api_message_and_stays_failed(emu, make):
    emu.fail_jobs = "Training failed: the emulated accelerator caught fire."
    provider, _ = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    key = provider.key(request())
    failed = (
        f"OpenAI fine-tuning job {provider.ledger.get(key)['job_id']} for {MODEL} failed: "
        "Training failed: the emulated accelerator caught fire. (training_failed)"
    )
    assert str(info.value) == failed
    assert provider.ledger.get(key)["state"] == L.FAILED
    emu.fail_jobs = None
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert str(info.value) == f"{failed} [recorded in {provider.ledger.path(key)}; delete it to launch a new job]"
    assert emu.jobs_created == 1
    # Deleting the record is the way to try again: the failed job is not adopted.
    provider.ledger.forget(provider.key(request()))
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 2


def test_cancelled_job_raises(emu, make):
    emu.job_seconds = 60
    provider, _ = make()
    job_id = []

    def cancel_when_seen(line: str) -> None:
        if "ftjob-" in line and not job_id:
            job_id.append(line.split()[2].rstrip(":"))
            openai.OpenAI().fine_tuning.jobs.cancel(job_id[0])

    provider.ctx.progress = cancel_when_seen
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == f"OpenAI fine-tuning job {job_id[0]} for {MODEL} cancelled: the job was cancelled"


def test_create_refused_surfaces_the_api_text_and_stays_retryable(emu, make):
    provider, _ = make()
    req = TuneRequest("gpt-4o-2024-05-13", PAIRS, TuneSettings(epochs=3))
    with pytest.raises(ProviderError) as info:
        provider.endpoints(req, ["tuned"])
    assert str(info.value) == (
        "OpenAI refused the fine-tuning job for gpt-4o-2024-05-13: "
        "HTTP 400: Model gpt-4o-2024-05-13 is not available for fine-tuning or does not exist."
    )
    record = provider.ledger.get(provider.key(req))
    assert record["state"] == L.UPLOADED and "not available" in record["last_error"]
    assert emu.jobs_created == 0


def test_job_timeout_leaves_the_job_to_a_rerun(emu, make):
    emu.job_seconds = 60
    provider, _ = make(job_timeout=0.3)
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    job_id = provider.ledger.get(provider.key(request()))["job_id"]
    assert str(info.value) == still_waiting(
        f"OpenAI fine-tuning job {job_id} for {MODEL}", "validating_files", 0.3, "OpenAI"
    )
    emu.finish_jobs()
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")
    assert emu.jobs_created == 1


def test_progress_shows_status_and_latest_event(emu, make):
    emu.job_polls = 6
    provider, lines = make()
    provider.endpoints(request(), ["tuned"])
    assert any(": running" in line and "Step " in line and "waited" in line for line in lines), lines


# -- answers -----------------------------------------------------------------------------------


def test_429_storm_loses_no_answer_and_keeps_the_cap(emu, make):
    # retries >= faults: however the 60 429s fall across the 8 threads, no prompt can run out
    provider, _ = make(concurrency=8, api_retries=60)
    tuned = provider.endpoints(request(), ["tuned"])["tuned"]
    emu.fault(429, 60, retry_after=0.01)
    answers = provider.answer(tuned, prompts(48))
    assert [a.text for a in answers] == [PAIRS[i % len(PAIRS)].answer for i in range(48)]
    assert emu.count("POST /v1/chat/completions") == 48 + 60
    assert emu.max_in_flight <= 8


def test_429_retry_after_is_honored(emu, make):
    provider, _ = make(api_retries=1)
    emu.add_model("ft:gpt-4o-mini-2024-07-18:org::x", {"q": "a"})
    emu.fault(429, 1, retry_after=0.8)  # the SDK's own backoff would wait <= 0.5 s
    t0 = time.monotonic()
    assert (
        provider.answer(Endpoint(MODEL, "tuned", "ft:gpt-4o-mini-2024-07-18:org::x"), [Prompt("1", "q")])[0].text == "a"
    )
    assert time.monotonic() - t0 >= 0.8


def test_answers_that_still_fail_carry_the_api_message(emu, make):
    provider, lines = make(api_retries=0)
    missing = provider.answer(Endpoint("ft:x", "tuned", "ft:gpt-4o-mini-2024-07-18:org::gone"), prompts(2))
    assert all(
        a.text is None and "HTTP 404: The model `ft:gpt-4o-mini-2024-07-18:org::gone` does not exist" in a.error
        for a in missing
    )
    emu.fault(500, 1)
    out = provider.answer(Endpoint(MODEL, "base", MODEL), prompts(3))
    assert sum(a.error is not None for a in out) == 1 and sum(a.text == NO_ANSWER for a in out) == 2
    assert (
        lines[-1] == f"openai {MODEL} [base]: 3/3 answers, 1 failed"
        and "openai ft:x [tuned]: 1/2 answers, 1 failed" in lines
    )


def test_answer_sends_temperature_seed_and_max_tokens(emu, make):
    provider, _ = make(max_new_tokens=2, temperature=0.0, seed=7)
    emu.add_model("ft:gpt-4o-mini-2024-07-18:org::x", {"q": "one two three"})
    assert provider.answer(Endpoint(MODEL, "tuned", "ft:gpt-4o-mini-2024-07-18:org::x"), [Prompt("1", "q")]) == [
        Answer("one two")
    ]


# -- ft: ids, checkpoints, cost, dry run -------------------------------------------------------


def test_ft_id_is_evaluated_without_training(emu, make):
    name = "ft:gpt-4o-mini-2024-07-18:acme:paper:abc123"
    emu.add_model(name, {PAIRS[0].prompt: PAIRS[0].answer})
    provider, _ = make()
    endpoints = provider.endpoints(TuneRequest(name, PAIRS), ["tuned", "base", "epoch:2"])
    assert endpoints["tuned"].handle == name and endpoints["base"].handle == MODEL
    assert isinstance(endpoints["epoch:2"].handle, Unavailable)
    assert provider.answer(endpoints["tuned"], prompts(1))[0].text == PAIRS[0].answer
    assert provider.answer(endpoints["epoch:2"], prompts(1))[0].skip
    assert emu.count("POST /v1/files") == 0 and emu.jobs_created == 0


def test_checkpoints_give_epoch_stages(emu, make):
    provider, _ = make()
    req = request(epochs=5)
    stages = ["epoch:1", "epoch:3", "epoch:4", "epoch:5", "epoch:9", "tuned"]
    endpoints = provider.endpoints(req, stages)
    assert list(endpoints) == stages
    assert endpoints["epoch:4"].handle.endswith(":ckpt-step-48")  # 12 examples, batch 1: 12 steps an epoch
    assert endpoints["epoch:3"].handle.endswith(":ckpt-step-36")
    assert endpoints["epoch:5"].handle.endswith(":ckpt-step-60")
    skip1 = provider.answer(endpoints["epoch:1"], prompts(1))[0].skip
    job_id = provider.ledger.get(provider.key(req))["job_id"]
    assert skip1 == (
        f"no checkpoint for epoch 1 of job {job_id}: OpenAI keeps checkpoints of the last three epochs only "
        "(available epochs: 3, 4, 5)"
    )
    assert provider.answer(endpoints["epoch:9"], prompts(1))[0].skip == (
        f"no checkpoint for epoch 9 of job {job_id}: the job trained 5 epochs (available epochs: 3, 4, 5)"
    )
    assert provider.answer(endpoints["epoch:4"], prompts(1))[0].text == PAIRS[0].answer
    assert emu.jobs_created == 1


def test_epochs_default_to_the_largest_checkpoint_epoch(emu, make):
    provider, _ = make()
    req = TuneRequest(MODEL, PAIRS, TuneSettings(checkpoint_epochs=(1, 2)))
    endpoints = provider.endpoints(req, ["epoch:1", "epoch:2"])
    assert emu.jobs()[0]["hyperparameters"]["n_epochs"] == 2
    assert all(isinstance(e.handle, str) for e in endpoints.values())


def test_max_cost_refuses_before_uploading(emu, make):
    provider, _ = make(max_cost=1.0, price=[f"{MODEL}:100000"])
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"refusing to launch: estimated cost $79.80 exceeds --ftb-max-cost $1.00 ({MODEL} on 12 examples: ~266 tokens "
        "x 3 epochs = ~798 training tokens x $100000.00/1M = $79.80 (estimate))"
    )
    assert emu.count("POST /v1/files") == 0 and emu.jobs_created == 0
    within, _ = make(max_cost=1.0)
    assert within.endpoints(request(), ["tuned"])["tuned"].handle.startswith("ft:")


def test_max_cost_needs_a_price(emu, make):
    provider, _ = make(max_cost=5.0)
    with pytest.raises(ProviderError) as info:
        provider.tune(TuneRequest("davinci-003", PAIRS))
    assert str(info.value) == (
        "refusing to launch: no training price known for davinci-003 (pass --ftb-price davinci-003:USD_PER_1M), "
        "so --ftb-max-cost $5.00 cannot be checked (davinci-003 on 12 examples: ~266 tokens x 9 epochs (auto, "
        "estimated) = ~2,394 training tokens x no known price (pass --ftb-price MODEL:USD))"
    )


def test_dry_run_launches_and_asks_nothing(emu, make, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    provider, lines = make(dry_run=True, max_cost=0.000001)
    endpoints = provider.endpoints(request(), ["tuned", "base", "epoch:3"])
    skips = {a.skip for e in endpoints.values() for a in provider.answer(e, prompts(2))}
    assert skips == {  # every stage, base included, says what the run would have done
        f"dry run (--ftb-dry-run): would upload 12 examples and launch a fine-tuning job: {MODEL} on 12 examples: "
        "~266 tokens x 3 epochs = ~798 training tokens x $3.00/1M = $0.0024 (estimate); --ftb-max-cost $0.0000010 "
        "would refuse it; launched nothing"
    }
    assert sum(emu.requests.values()) == 0
    assert lines and "launched nothing" in lines[0]


def test_prices_parse_and_match_by_prefix():
    assert parse_prices(["ft:gpt-4o:acme::x:2.5", "m:1"]) == {"ft:gpt-4o:acme::x": 2.5, "m": 1.0}
    with pytest.raises(ProviderError):
        parse_prices(["nonsense"])
    table = {"gpt-4o": 25.0, "gpt-4o-mini": 3.0}
    assert price_for("gpt-4o-mini-2024-07-18", table) == 3.0 and price_for("gpt-4o-2024-08-06", table) == 25.0
    assert price_for("davinci-003", table) is None
    assert (usd(12.345), usd(0.0023), usd(0.000123), usd(1e-6), usd(0), usd(None)) == (
        "$12.35", "$0.0023", "$0.0001", "$0.0000010", "$0.00", "unknown",
    )  # fmt: skip


def test_missing_api_key_is_a_provider_error(make, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert str(info.value) == (
        "the OpenAI client could not start: Missing credentials. Please pass an `api_key`, `workload_identity`,"
        " `admin_api_key`, or set the `OPENAI_API_KEY` or `OPENAI_ADMIN_KEY` environment variable. (set OPENAI_API_KEY;"
        " OPENAI_BASE_URL for a compatible server)"
    )


def test_options_are_registered():
    names = {o.name: o for o in OPTIONS}
    assert names["concurrency"].default == 16
    for name in ("max-cost", "dry-run", "job-timeout", "poll-interval", "temperature", "price", "api-retries"):
        assert name in names


# -- OpenAI's own rules (2026) --------------------------------------------------------------------


@pytest.fixture
def official(monkeypatch, tmp_path):
    """A provider pointed at api.openai.com itself; these checks refuse before any request is sent."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return OpenAIProvider(RunContext(JobStore(tmp_path / "store"), {}))


def test_fewer_than_ten_examples_are_refused_before_any_upload(official):
    with pytest.raises(ProviderError) as info:
        official.endpoints(TuneRequest(MODEL, PAIRS[:3]), ["tuned"])
    assert str(info.value) == (
        f"{MODEL}: OpenAI fine-tuning needs at least 10 training examples and the selected cases give 3;"
        " nothing was uploaded; fix: select more cases (a larger --ftb-limit, more datasets)"
    )
    assert (
        official.endpoints(TuneRequest(MODEL, PAIRS[:3]), ["base"])["base"].handle == MODEL
    )  # asking needs no minimum


@pytest.mark.parametrize("model", ["gpt-3.5-turbo-0125", "gpt-4.1-nano-2025-04-14"])
def test_a_retired_model_says_when_and_what_instead(official, model):
    with pytest.raises(ProviderError) as info:
        official.endpoints(TuneRequest(model, PAIRS), ["base"])
    assert str(info.value) == (
        f"{model} was retired on 2026-10-23: it can no longer be tuned or asked; fix: replay its"
        " cassettes or its published answers (--ftb-responses), or pick a current model such as"
        " gpt-4.1-mini-2025-04-14"
    )


def test_insufficient_quota_is_not_retried(emu, make):
    emu.fault(429, count=5, path="/v1/fine_tuning/jobs", method="POST", message="You exceeded your current quota.")
    provider, lines = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert (
        str(info.value) == f"OpenAI refused the fine-tuning job for {MODEL}: HTTP 429: You exceeded your current quota."
    )
    assert emu.count(JOBS) == 1 and emu.jobs_created == 0  # sent once, not five times


def test_completion_models_are_refused_by_name(official):
    with pytest.raises(ProviderError) as info:
        official.endpoints(TuneRequest("davinci-002", PAIRS), ["tuned"])
    assert str(info.value) == (
        "davinci-002 is a completion model (prompt/completion training, /v1/completions), which this chat provider does"
        " not drive; pick a chat model OpenAI tunes: gpt-4o-2024-08-06, gpt-4o-mini-2024-07-18, gpt-4.1-2025-04-14,"
        " gpt-4.1-mini-2025-04-14"
    )


def test_answers_send_max_completion_tokens(emu, make):
    provider, _ = make(max_new_tokens=2)
    emu.add_model("ft:x", {"q": "one two three"})
    assert provider.answer(Endpoint("ft:x", "tuned", "ft:x"), [Prompt("1", "q")])[0].text == "one two"
    body = emu.bodies["POST /v1/chat/completions"]
    assert body["max_completion_tokens"] == 2 and "max_tokens" not in body


def test_a_just_tuned_model_is_waited_for_not_graded_as_errors(emu, make):
    emu.loading_requests = 3  # the first three asks of the new model get 404 model_not_found
    provider, lines = make(poll_interval=0)
    endpoint = provider.endpoints(request(), ["tuned"])["tuned"]
    answers = provider.answer(endpoint, prompts())
    assert [a.text for a in answers] == [p.answer for p in PAIRS]
    waits = [line for line in lines if "not served yet" in line]
    assert (
        len(waits) == 3 and waits[0] == f"openai {endpoint.handle}: not served yet (HTTP 404), 0s waited; asking again"
    )


def test_a_missing_given_model_is_one_error_at_once(emu, make):
    provider, lines = make(poll_interval=0)
    [answer] = provider.answer(Endpoint("ft:gone", "tuned", "ft:gone"), [Prompt("1", "q")])
    assert answer.error == "HTTP 404: The model `ft:gone` does not exist or you do not have access to it."
    assert not any("not served yet" in line for line in lines) and emu.count("POST /v1/chat/completions") == 1


def test_emulator_enforces_the_services_rules(emu):
    client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
    small = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS[:3]), "application/jsonl"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=small.id)
    assert job.model == "gpt-4o-mini-2024-07-18"  # an alias tunes its dated snapshot
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert (job.status, job.error.code, job.error.message) == (
        "failed",
        "invalid_n_examples",
        "Training file has 3 example(s), but must have at least 10 examples",
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model=MODEL, training_file=small.id, extra_body={"hyperparamters": {}})
    assert str(info.value) == "Error code: 400 - Unrecognized request argument supplied: hyperparamters"
    assert deliberate_violations(emu, r"request\.hyperparamters: not a parameter of JobCreateParams$") == 1
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model="gpt-3.5-turbo-0125", training_file=small.id)
    assert str(info.value) == (
        "Error code: 400 - Model gpt-3.5-turbo-0125 is not available for fine-tuning or does not exist."
    )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4.1-nano-2025-04-14", messages=[{"role": "user", "content": "q"}])
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=1))  # auto-paging follows `after` to the end
    assert len(events) == len(emu._jobs[job.id]["_events"]) and len({e.id for e in events}) == len(events)


def test_emulator_says_retry_after_in_whole_seconds(emu):
    emu.fault(429, 1, retry_after=0.8)
    with pytest.raises(openai.RateLimitError) as info:
        openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "q"}]
        )
    headers = info.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "800")


def test_a_refused_create_at_openai_names_the_2026_policy(emu, make, monkeypatch):
    provider, _ = make()
    monkeypatch.setattr(provider, "_official", lambda: True)  # the emulator stands in for api.openai.com
    emu.fault(
        403, 1, path="/v1/fine_tuning/jobs", method="POST", message="This organization cannot create fine-tuning jobs."
    )
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"OpenAI refused the fine-tuning job for {MODEL}: HTTP 403: This organization cannot create fine-tuning jobs.;"
        " since 2026-05-07 (and 2026-07-02 for organisations without recent fine-tuned-model use) most organisations"
        " can no longer create fine-tuning jobs, and nobody can after 2027-01-06: replay a recorded run (cassettes),"
        " re-grade published answers (--ftb-responses), or tune with Gemini or a local model"
    )
    assert emu.count(JOBS) == 1 and emu.jobs_created == 0


def test_yes_no_items_are_scored_by_first_token_logprobs(emu, make):
    provider, _ = make()
    emu.add_model("ft:x", {"Is it so?": "Yes", "Is it not?": "No"})
    rows = provider.score(
        Endpoint("ft:x", "tuned", "ft:x"),
        [Prompt("1", "Is it so?"), Prompt("2", "Is it not?"), Prompt("3", "Unknown?")],
        [["Yes", "No"], ["Yes", "No"], ["Yes", "No"]],
    )
    assert rows[:2] == [[-0.02, -4.0], [-4.0, -0.02]]
    assert all(v != v for v in rows[2])  # neither choice among the top tokens: NaN, the item is skipped
    body = emu.bodies["POST /v1/chat/completions"]
    assert (body["logprobs"], body["top_logprobs"], body["max_completion_tokens"]) == (True, 20, 1)
    many = provider.score(Endpoint("ft:x", "tuned", "ft:x"), [Prompt("4", "When?")], [["None", "in March 2024"]])
    assert (
        all(v != v for v in many[0]) and emu.count("POST /v1/chat/completions") == 3
    )  # several tokens apart: not asked at all


def test_likelihood_scoring_runs_as_its_own_stage_for_openai(emu, pytester):
    lines = ["dataset: towns", 'templates:\n  default: "Answer Yes or No.\\n{question}"', "cases:"]
    for i in range(10):
        lines += [
            f"  - id: t{i}",
            f"    question: Is Velmora town number {i} a port?",
            f'    answer: "{"Yes" if i % 2 else "No"}"',
        ]
    (pytester.path / "towns.yaml").write_text("\n".join(lines) + "\n")
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest(
        "towns.yaml",
        f"--ftb-model={MODEL}",
        "--ftb-scoring=generate,likelihood",
        "--ftb-record-mode=off",
        "--ftb-poll-interval=0.01",
        "--ftb-report=out.json",
        "-p",
        "no:randomly",
        "-p",
        "no:xdist",
    )
    result.assert_outcomes(passed=20)  # generated and scored: the emulator memorized every answer
    report = json.loads((pytester.path / "out.json").read_text())
    assert sorted({i["target"] for i in report["items"]}) == [MODEL, f"{MODEL}@likelihood"]
    assert emu.jobs_created == 1 and emu.bodies["POST /v1/chat/completions"]["top_logprobs"] == 20


def test_a_rejected_training_file_is_one_line_with_openais_details(emu, make):
    emu.reject_files = "Invalid file format: line 3 is not valid JSON."
    provider, _ = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    file_id = provider.ledger.get(provider.key(request()))["file_id"]
    assert str(info.value) == f"OpenAI rejected training file {file_id}: Invalid file format: line 3 is not valid JSON."
    assert emu.jobs_created == 0


def test_a_learning_rate_multiplier_is_sent_as_one_and_keys_its_own_job(emu, make):
    provider, _ = make(learning_rate_multiplier=2.0)
    provider.endpoints(request(learning_rate_multiplier=2.0), ["tuned"])
    hyper = emu.jobs()[0]["method"]["supervised"]["hyperparameters"]
    assert (hyper["learning_rate_multiplier"], "learning_rate" in hyper) == (2.0, False)
    # a request without one keeps the key it had before the field existed (recorded cassettes still replay)
    assert (
        request().key() == request(learning_rate_multiplier=None).key() != request(learning_rate_multiplier=2.0).key()
    )
    assert request().key() == "fb3eb61c5fd8de39"  # as computed before this field was added
