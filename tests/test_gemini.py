"""The Gemini (Vertex AI) provider against the emulator, through the real google-genai and
google-cloud-storage clients (no network, no cost)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from functools import partial
from pathlib import Path

import pytest

genai = pytest.importorskip("google.genai")
pytest.importorskip("google.cloud.storage")

from conformance import vertex_checker
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
from google.genai import types

from pytest_finetunebench.options import OPTIONS
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers import create as create_provider
from pytest_finetunebench.providers.base import Endpoint, Prompt, ProviderError, TuneRequest, TuneSettings
from pytest_finetunebench.providers.gemini.provider import GeminiProvider, training_jsonl
from pytest_finetunebench.store import ledger as L
from pytest_finetunebench.store.jobstore import JobStore
from pytest_finetunebench.store.ledger import Ledger
from pytest_finetunebench.testing.vertex.emulator import VertexEmulator
from pytest_finetunebench.testing.vertex.generate import NO_ANSWER

MODEL = "gemini-2.5-flash"
BUCKET = "ftb-test"
# what the provider says of a create with no clear answer: the connection dropped, or an HTTP 503
UNCLEAR = {
    "lost": "RemoteProtocolError: Server disconnected without sending a response.",
    "503": "HTTP 503 UNAVAILABLE: The service is currently unavailable. (emulated)",
}
CREATE = "POST tuningJobs"
POLL = "GET tuningJobs/{id}"
UPLOAD = "POST upload"

request = partial(tune_request, MODEL)


@pytest.fixture
def emu(monkeypatch):
    yield from serve(VertexEmulator(), monkeypatch, vertex_checker())


@pytest.fixture
def make(tmp_path):
    """``make(**options) -> (provider, progress lines)``; all providers share one store."""
    return provider_factory(GeminiProvider, tmp_path / "store", gcs_bucket=f"{BUCKET}/runs")


def thinking_budget(config: dict) -> int:
    thinking = config["thinkingConfig"]  # the SDK writes this field's keys in snake_case; the API takes both
    return thinking.get("thinkingBudget", thinking.get("thinking_budget"))


def child(tmp_path: Path) -> subprocess.Popen:
    """The same request, built in a child process (a pytest-xdist worker, a run killed with -9)."""
    return spawn_child(tmp_path, GeminiProvider, MODEL, gcs_bucket=f"{BUCKET}/runs")


# -- lifecycle ---------------------------------------------------------------------------------


def test_registry_serves_gemini_names(tmp_path):
    assert isinstance(create_provider("gemini-2.0-flash-001", RunContext(JobStore(tmp_path))), GeminiProvider)


def test_training_file_is_vertex_supervised_jsonl():
    lines = training_jsonl(PAIRS[:2]).decode().splitlines()
    assert json.loads(lines[0]) == {
        "contents": [
            {"role": "user", "parts": [{"text": PAIRS[0].prompt}]},
            {"role": "model", "parts": [{"text": PAIRS[0].answer}]},
        ]
    }
    assert len(lines) == 2


def test_full_lifecycle_uploads_tunes_polls_and_answers(emu, make):
    provider, lines = make(adapter_size=8, learning_rate=None)
    req = request(learning_rate_multiplier=0.5)
    endpoints = provider.endpoints(req, ["tuned", "base"])
    tuned = endpoints["tuned"].handle
    assert tuned.startswith(f"projects/{emu.project}/locations/{emu.location}/endpoints/")
    assert endpoints["base"].handle == MODEL

    answers = provider.answer(endpoints["tuned"], prompts() + [Prompt("x", "Something never trained?")])
    assert [a.text for a in answers[:-1]] == [p.answer for p in PAIRS]
    assert answers[-1].text == NO_ANSWER
    assert all(a.text == NO_ANSWER for a in provider.answer(endpoints["base"], prompts(3)))

    key = provider.key(req)
    record = provider.ledger.get(key)
    assert record["state"] == L.SUCCEEDED and record["tuned_endpoint"] == tuned
    assert record["gcs_uri"] == f"gs://{BUCKET}/runs/ftb-{key}.jsonl"
    assert emu.object(record["gcs_uri"]) == training_jsonl(PAIRS)
    assert [h["state"] for h in record["history"]][:3] == [L.UPLOADED, L.CREATING, L.RUNNING]
    assert (
        f"gemini: launching a tuning job: {MODEL} on 12 examples: ~230 tokens x 3 epochs = ~690 training tokens x "
        "$5.00/1M = $0.0034 (estimate)"
    ) in lines
    job = emu.jobs()[0]
    assert job["name"] == record["job_name"] and job["labels"] == {"ftb_key": key}
    assert job["baseModel"] == MODEL and job["tunedModelDisplayName"] == f"ftb-{MODEL}-{key[:8]}"
    assert job["supervisedTuningSpec"]["hyperParameters"] == {
        "epochCount": "3",
        "learningRateMultiplier": 0.5,
        "adapterSize": "ADAPTER_SIZE_EIGHT",
    }
    assert emu.count("POST token") >= 1  # google-auth fetched a token from the emulator

    # A rerun (a fresh provider, same store) reuses the ledger: no upload, no create, no poll.
    before = sum(emu.requests.values())
    again, _ = make(adapter_size=8)
    assert again.endpoints(req, ["tuned"])["tuned"].handle == tuned
    assert sum(emu.requests.values()) == before and emu.jobs_created == 1


def test_checkpoints_give_epoch_stages(emu, make):
    provider, _ = make()
    stages = ["epoch:1", "epoch:2", "epoch:4", "epoch:9", "tuned"]
    endpoints = provider.endpoints(request(epochs=4), stages)
    assert list(endpoints) == stages
    assert endpoints["epoch:4"].handle == endpoints["tuned"].handle
    assert len({endpoints[s].handle for s in ("epoch:1", "epoch:2", "epoch:4")}) == 3
    # The emulator's checkpoint after epoch e of 4 knows the first 12 * e / 4 pairs.
    epoch1 = provider.answer(endpoints["epoch:1"], prompts())
    assert [a.text for a in epoch1[:3]] == [p.answer for p in PAIRS[:3]] and all(
        a.text == NO_ANSWER for a in epoch1[3:]
    )
    assert sum(a.text != NO_ANSWER for a in provider.answer(endpoints["epoch:2"], prompts())) == 6
    job_name = provider.ledger.get(provider.key(request(epochs=4)))["job_name"]
    assert provider.answer(endpoints["epoch:9"], prompts(1))[0].skip == (
        f"no checkpoint for epoch 9 of job {job_name}: the job trained 4 epochs (available epochs: 1, 2, 3, 4)"
    )
    assert emu.jobs_created == 1


def test_epochs_default_to_the_largest_checkpoint_epoch(emu, make):
    provider, _ = make()
    endpoints = provider.endpoints(
        TuneRequest(MODEL, PAIRS, TuneSettings(checkpoint_epochs=(1, 2))), ["epoch:1", "epoch:2"]
    )
    assert emu.jobs()[0]["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "2"
    assert all(isinstance(e.handle, str) for e in endpoints.values())


def test_ledger_lost_finds_the_job_by_label(emu, make):
    provider, _ = make()
    tuned = provider.endpoints(request(), ["tuned"])["tuned"].handle
    provider.ledger.forget(provider.key(request()))
    again, lines = make()
    assert again.endpoints(request(), ["tuned"])["tuned"].handle == tuned
    assert emu.jobs_created == 1 and emu.uploads == 1
    job_name, key = emu.jobs()[0]["name"], provider.key(request())
    assert f"gemini: resuming tuning job {job_name} (succeeded) found by its label ftb_key={key}" in lines
    assert emu.bodies["GET tuningJobs"] == {}  # the filter travels in the query string


def test_given_gs_uri_skips_the_upload(emu, make):
    uri = emu.put_object("elsewhere", "data/train.jsonl", training_jsonl(PAIRS))
    provider, _ = make(gcs_bucket=None, gcs_training_uri=uri)
    tuned = provider.endpoints(request(), ["tuned"])["tuned"]
    assert emu.count(UPLOAD) == 0 and emu.uploads == 0
    assert emu.jobs()[0]["supervisedTuningSpec"]["trainingDatasetUri"] == uri
    assert provider.answer(tuned, prompts(1))[0].text == PAIRS[0].answer
    assert provider.ledger.get(provider.key(request()))["gcs_uri"] == uri


# -- exactly one job ---------------------------------------------------------------------------


def test_kill_9_while_polling_then_rerun_resumes_the_same_job(emu, make, tmp_path):
    emu.job_seconds = 120.0  # slow job: the child is still polling when it dies
    proc = child(tmp_path)
    wait_for(lambda: emu.count(POLL) >= 3 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    provider, _ = make()
    record = provider.ledger.get(provider.key(request()))
    assert record["state"] == L.RUNNING and record["job_name"] and record["remote_state"] == "JOB_STATE_RUNNING"
    emu.finish_jobs()
    tuned = provider.endpoints(request(), ["tuned"])["tuned"].handle
    assert emu.jobs_created == 1 and emu.count(CREATE) == 1 and emu.count(UPLOAD) == 1
    assert provider.answer(Endpoint(MODEL, "tuned", tuned), prompts(1))[0].text == PAIRS[0].answer


def test_killed_between_create_and_ledger_write_finds_the_job(emu, make):
    """A crash after the create was sent leaves the ledger at ``creating``: the rerun looks the job up."""
    provider, _ = make()
    key = provider.key(request())
    uri = emu.put_object(BUCKET, f"runs/ftb-{key}.jsonl", training_jsonl(PAIRS))
    client = genai.Client(vertexai=True, project=emu.project, location=emu.location)
    client.tunings.tune(
        base_model=MODEL,
        training_dataset=types.TuningDataset(gcs_uri=uri),
        config=types.CreateTuningJobConfig(epoch_count=3, labels={"ftb_key": key}),
    )
    provider.ledger.update(key, L.CREATING, gcs_uri=uri)
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert emu.jobs_created == 1 and emu.count(UPLOAD) == 0


def test_concurrent_processes_share_one_job(emu, tmp_path):
    emu.job_seconds = 120.0  # the job runs until every process is inside endpoints()
    procs = [child(tmp_path) for _ in range(3)]
    started = lambda: len(list((tmp_path / "store").glob("started-*"))) == 3  # noqa: E731
    wait_for(lambda: (started() and emu.count(POLL) >= 1) or any(p.poll() is not None for p in procs), timeout=60)
    assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    time.sleep(0.1)
    emu.finish_jobs()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    endpoints = {json.loads(out) for out, _ in outputs}
    assert len(endpoints) == 1 and next(iter(endpoints)).startswith("projects/")
    assert emu.jobs_created == 1 and emu.count(CREATE) == 1 and emu.count(UPLOAD) == 1


def test_dropped_create_response_yields_one_job(emu, make):
    emu.drop_creates = 1  # the server records the job, then closes the socket without answering
    provider, lines = make()
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert emu.jobs_created == 1 and emu.count(CREATE) == 1
    assert (
        f"gemini: tuning job create for {MODEL} got no clear answer ({UNCLEAR['lost']}); "
        "looking for it (nothing is re-sent)"
    ) in lines
    assert provider.ledger.get(provider.key(request()))["create_attempts"] == 1


@pytest.mark.parametrize("fault", ["lost", "503"])
def test_unclear_create_is_never_resent(emu, make, fault):
    """A create that may or may not have launched a job, and none is listed: raise, keep ``creating``."""
    if fault == "lost":
        emu.lose_creates = 1  # the connection drops before the server records anything
    else:
        emu.fault(503, 1, route=CREATE)
    provider, lines = make()
    key = provider.key(request())
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == unknown_outcome(
        f"Vertex AI tuning job for {MODEL}", f"got no clear answer ({UNCLEAR[fault]})", f"label ftb_key={key}",
        "Vertex AI", provider.ledger.path(key),
    )  # fmt: skip
    assert emu.jobs_created == 0 and emu.count(CREATE) == 1
    assert (
        f"gemini: tuning job create for {MODEL} got no clear answer ({UNCLEAR[fault]}); "
        "looking for it (nothing is re-sent)"
    ) in lines
    assert provider.ledger.get(key)["state"] == L.CREATING
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert str(info.value) == unknown_outcome(
        f"Vertex AI tuning job for {MODEL}", "was sent by an earlier run, which recorded no answer",
        f"label ftb_key={key}", "Vertex AI", provider.ledger.path(key),
    )  # fmt: skip
    assert emu.jobs_created == 0 and emu.count(CREATE) == 1
    provider.ledger.path(key).unlink()  # as the message says: allows one new create
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert emu.jobs_created == 1 and emu.count(CREATE) == 2


def test_create_429_is_resent_after_a_backoff(emu, make):
    emu.fault(429, 1, route=CREATE)
    provider, _ = make()
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert emu.jobs_created == 1 and emu.count(CREATE) == 2


@pytest.mark.filterwarnings("ignore:JOB_STATE_AWAITING_REVIEW is not a valid JobState")
def test_a_job_in_an_unknown_state_is_adopted_not_duplicated(emu, make, monkeypatch):
    provider, lines = make(job_timeout=0.2)
    key = provider.key(request())
    uri = emu.put_object(BUCKET, f"runs/ftb-{key}.jsonl", training_jsonl(PAIRS))
    client = genai.Client(vertexai=True, project=emu.project, location=emu.location)
    job = client.tunings.tune(
        base_model=MODEL,
        training_dataset=types.TuningDataset(gcs_uri=uri),
        config=types.CreateTuningJobConfig(epoch_count=3, labels={"ftb_key": key}),
    )
    monkeypatch.setattr(emu, "_advance", lambda job, poll: None)
    emu._jobs[job.name]["state"] = "JOB_STATE_AWAITING_REVIEW"
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == still_waiting(
        f"Vertex AI tuning job {job.name} for {MODEL}", "awaiting_review", 0.2, "Vertex AI"
    )
    assert emu.jobs_created == 1 and provider.ledger.get(key)["job_name"] == job.name
    assert f"gemini: resuming tuning job {job.name} (awaiting_review) found by its label ftb_key={key}" in lines
    deliberate_violations(emu, r"\.state: 'JOB_STATE_AWAITING_REVIEW' is not one of the enum's")


def test_sleeps_look_up_time_sleep_at_call_time(emu, make, monkeypatch):
    """A cassette replay skips sleeps by swapping time.sleep (cassettes.skip_sleeps): it must reach them."""
    emu.job_polls = 3
    provider, _ = make(max_poll_interval=5.0, poll_interval=5.0)
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    assert provider.endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert 5.0 in slept


def test_replay_needs_no_google_credentials(emu, make, monkeypatch, tmp_path):
    """While a cassette replays, the clients get static credentials: no ADC lookup, no token request."""
    import google.auth

    def no_adc(*args, **kwargs):
        raise AssertionError("looked up Application Default Credentials while replaying")

    monkeypatch.setattr(google.auth, "default", no_adc)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    emu.require_auth = False  # a cassette checks no token
    replay_store = JobStore(tmp_path / "replay")
    provider, _ = make()
    provider.ctx.replay_store = lambda name, request: replay_store
    endpoints = provider.endpoints(request(), ["tuned"])
    assert provider.answer(endpoints["tuned"], prompts(1))[0].text == PAIRS[0].answer
    assert emu.count("POST token") == 0 and emu.jobs_created == 1
    assert provider.ledger.get(provider.key(request())) is None  # the live ledger is untouched
    assert Ledger(replay_store, "gemini").get(provider.key(request()))["state"] == L.SUCCEEDED


def test_upload_fetches_no_bucket_metadata(emu, make):
    """google-cloud-storage would fetch the bucket's metadata in a background thread, racing the
    upload (a recorded cassette then randomly misses a request)."""
    make()[0].endpoints(request(), ["tuned"])
    time.sleep(0.5)  # long enough for a background fetch to have happened
    assert emu.count(UPLOAD) == 1 and emu.count("GET bucket") == 0


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, message, word",
    [
        ("JOB_STATE_FAILED", "Training failed: the emulated TPU caught fire.", "failed"),
        ("JOB_STATE_CANCELLED", "CANCELED: cancelled by an operator (emulated).", "cancelled"),
        ("JOB_STATE_EXPIRED", "The job expired in the queue (emulated).", "expired"),
    ],
)
def test_terminal_failure_states_raise_the_api_message(emu, make, state, message, word):
    emu.end_state, emu.fail_message = state, message
    provider, _ = make()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned", "base"])
    key = provider.key(request())
    failed = f"Vertex AI tuning job {provider.ledger.get(key)['job_name']} for {MODEL} {word}: {message}"
    assert str(info.value) == failed
    assert provider.ledger.get(key)["state"] == L.FAILED
    emu.fail_jobs = None
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert str(info.value) == f"{failed} [recorded in {provider.ledger.path(key)}; delete it to launch a new job]"
    assert emu.jobs_created == 1
    # Deleting the record is the way to try again: the failed job is not adopted.
    provider.ledger.forget(provider.key(request()))
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert emu.jobs_created == 2


def test_bad_training_file_fails_with_the_validation_message(emu, make):
    uri = emu.put_object(BUCKET, "bad.jsonl", b'{"messages": []}\n')
    provider, _ = make(gcs_training_uri=uri)
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"Vertex AI tuning job {provider.ledger.get(provider.key(request()))['job_name']} for {MODEL} failed: "
        f'Dataset validation failed: line 1 of {uri} is not a supervised tuning example (each line needs "contents" '
        "with a user and a model turn). (emulated)"
    )


def test_cancelled_while_running_raises(emu, make):
    emu.job_seconds = 60
    provider, _ = make()
    cancelled = []
    client = genai.Client(vertexai=True, project=emu.project, location=emu.location)

    def cancel_when_seen(line: str) -> None:
        if ": running," in line and not cancelled:
            name = provider.ledger.get(provider.key(request()))["job_name"]
            client.tunings.cancel(name=name)
            cancelled.append(name)

    provider.ctx.progress = cancel_when_seen
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"Vertex AI tuning job {cancelled[0]} for {MODEL} cancelled: "
        "CANCELED: the tuning job was cancelled by a request. (emulated)"
    )


def test_create_refused_surfaces_the_api_text_and_stays_retryable(emu, make):
    provider, _ = make()
    req = TuneRequest("gemini-2.5-flash-image", PAIRS, TuneSettings(epochs=3))
    with pytest.raises(ProviderError) as info:
        provider.endpoints(req, ["tuned"])
    assert str(info.value) == (
        "Vertex AI refused the tuning job for gemini-2.5-flash-image: HTTP 400 INVALID_ARGUMENT: "
        "Base model gemini-2.5-flash-image is not supported for supervised tuning. (emulated)"
    )
    record = provider.ledger.get(provider.key(req))
    assert record["state"] == L.UPLOADED and "not supported" in record["last_error"]
    assert emu.jobs_created == 0


def test_job_timeout_leaves_the_job_to_a_rerun(emu, make):
    emu.job_seconds = 60
    provider, _ = make(job_timeout=0.3)
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    job_name = provider.ledger.get(provider.key(request()))["job_name"]
    assert str(info.value) == still_waiting(f"Vertex AI tuning job {job_name} for {MODEL}", "running", 0.3, "Vertex AI")
    emu.finish_jobs()
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith("projects/")
    assert emu.jobs_created == 1


def test_progress_shows_the_state(emu, make):
    emu.job_polls = 4
    provider, lines = make()
    provider.endpoints(request(), ["tuned"])
    assert any(": running, " in line and "waited" in line for line in lines), lines


def test_retired_models_name_their_replacement(emu, make):
    provider, _ = make()
    for name, instead in (
        ("gemini-1.5-flash-002", "gemini-2.5-flash"),
        ("gemini-1.5-pro-002", "gemini-2.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.5-flash"),
        ("gemini-2.0-flash-lite-001", "gemini-2.5-flash-lite"),
    ):
        with pytest.raises(ProviderError) as info:
            provider.endpoints(TuneRequest(name, PAIRS), ["tuned", "base"])
        assert str(info.value) == (
            f"{name} is retired: Google shut down the Gemini 1.0, 1.5 and 2.0 models, so it can be neither tuned nor "
            "asked;"
            f" use {instead} instead (Vertex AI tunes gemini-2.5-flash, gemini-2.5-flash-lite, gemini-2.5-pro,"
            " gemini-3.5-flash, gemini-3.1-flash-lite); its cassettes and published answers still replay"
        )
    assert sum(emu.requests.values()) == 0


def test_missing_project_location_or_bucket_is_one_line(make, monkeypatch):
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["base"])
    assert str(info.value) == (
        f"{MODEL} runs on Vertex AI and needs a Google Cloud project: pass --ftb-gcp-project PROJECT or set "
        "GOOGLE_CLOUD_PROJECT"
    )
    with pytest.raises(ProviderError) as info:
        make(gcp_project="p")[0].endpoints(request(), ["base"])
    assert str(info.value) == (
        f"{MODEL} runs on Vertex AI and needs a region that tunes Gemini: pass --ftb-gcp-location (e.g. us-central1) "
        "or set GOOGLE_CLOUD_LOCATION"
    )
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    with pytest.raises(ProviderError) as info:
        make(gcs_bucket=None)[0].endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"tuning {MODEL} on Vertex AI needs a Cloud Storage bucket for the training file: pass --ftb-gcs-bucket "
        "BUCKET[/PREFIX] (or --ftb-gcs-training-uri gs://... for a file already there)"
    )
    assert make(gcs_bucket=None)[0].endpoints(request(), ["base"])["base"].handle == MODEL


def test_missing_credentials_is_a_provider_error(emu, make, monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"Google Cloud credentials: File {tmp_path / 'missing.json'} was not found. "
        "(run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS)"
    )
    assert emu.jobs_created == 0


# -- answers -----------------------------------------------------------------------------------


def test_429_storm_loses_no_answer_and_keeps_the_cap(emu, make):
    # retries >= faults: however the 40 429s fall across the 6 threads, no prompt can run out
    provider, _ = make(concurrency=6, api_retries=40)
    tuned = provider.endpoints(request(), ["tuned"])["tuned"]
    emu.fault(429, 40)
    answers = provider.answer(tuned, prompts(36))
    assert [a.text for a in answers] == [PAIRS[i % len(PAIRS)].answer for i in range(36)]
    assert emu.count("POST generateContent") == 36 + 40
    assert emu.max_in_flight <= 6


def test_answers_that_still_fail_carry_the_api_message(emu, make):
    provider, lines = make(api_retries=1, concurrency=1)
    gone = "projects/p/locations/us-central1/endpoints/404"
    missing = provider.answer(Endpoint(MODEL, "tuned", gone), prompts(2))
    assert all(
        a.text is None and a.error == f"HTTP 404 NOT_FOUND: Endpoint `{gone}` not found. (emulated)" for a in missing
    )
    emu.fault(503, 2)  # one prompt fails twice (its retry too), the others answer
    out = provider.answer(Endpoint(MODEL, "base", MODEL), prompts(3))
    assert [a.error for a in out if a.error is not None] == [
        "HTTP 503 UNAVAILABLE: The service is currently unavailable. (emulated)"
    ]
    assert sum(a.text == NO_ANSWER for a in out) == 2
    assert (
        lines[-1] == f"gemini {MODEL} [base]: 3/3 answers, 1 failed"
        and f"gemini {MODEL} [tuned]: 1/2 answers, 1 failed" in lines
    )


def test_answer_sends_temperature_seed_max_tokens_and_no_thinking(emu, make):
    provider, _ = make(max_new_tokens=2, temperature=0.0, seed=7)
    endpoint = f"projects/{emu.project}/locations/{emu.location}/endpoints/1"
    emu.add_endpoint(endpoint, {"q": "one two three"})
    assert provider.answer(Endpoint(MODEL, "tuned", endpoint), [Prompt("1", "q")])[0].text == "one two"
    config = emu.bodies["POST generateContent"]["generationConfig"]
    assert config["temperature"] == 0.0 and config["seed"] == 7 and config["maxOutputTokens"] == 2
    assert thinking_budget(config) == 0
    provider.answer(Endpoint("gemini-2.5-pro", "base", "gemini-2.5-pro"), [Prompt("1", "q")])
    config = emu.bodies["POST generateContent"]["generationConfig"]
    assert thinking_budget(config) == 128 and config["maxOutputTokens"] == 2 + 128
    provider.answer(Endpoint("gemini-3.5-flash", "base", "gemini-3.5-flash"), [Prompt("1", "q")])
    config = emu.bodies["POST generateContent"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinking_level": "MINIMAL"} and config["maxOutputTokens"] == 2 + 256


def test_a_reply_emptied_by_thinking_is_an_error_not_a_wrong_answer(emu, make):
    provider, _ = make(max_new_tokens=4)
    emu.thinking_tokens["MINIMAL"] = 400  # more than the cap: the thinking eats every output token
    [answer] = provider.answer(Endpoint("gemini-3.5-flash", "base", "gemini-3.5-flash"), [Prompt("1", "q")])
    assert (answer.text, answer.error) == (
        None,
        "Vertex AI returned no text: the output cap of 260 tokens was used up (260 of them on thinking)"
        " (finish reason MAX_TOKENS); raise --ftb-max-new-tokens",
    )


def test_gemini3_tunes_in_two_regions_and_answers_from_the_multi_region(emu, make, monkeypatch):
    provider, _ = make()
    tuned = provider.endpoints(TuneRequest("gemini-3.5-flash", PAIRS, TuneSettings(epochs=2)), ["tuned"])[
        "tuned"
    ].handle
    assert tuned.startswith(f"projects/{emu.project}/locations/us/endpoints/")
    assert [a.text for a in provider.answer(Endpoint("gemini-3.5-flash", "tuned", tuned), prompts(2))] == [
        p.answer for p in PAIRS[:2]
    ]
    # Without an override the client for that endpoint is google-genai's multi-region host.
    monkeypatch.delenv("GOOGLE_VERTEX_BASE_URL")
    client = provider.client_for(True, "us")
    assert client._api_client._http_options.base_url == "https://aiplatform.us.rep.googleapis.com/"
    with pytest.raises(ProviderError) as info:
        make(gcp_location="asia-east1")[0].endpoints(TuneRequest("gemini-3.1-flash-lite", PAIRS), ["tuned"])
    assert (
        str(info.value)
        == "gemini-3.1-flash-lite tunes only in us-central1 or europe-west4, not asia-east1: pass --ftb-gcp-location "
        "us-central1 (or europe-west4)"
    )
    assert emu.jobs_created == 1 and emu.uploads == 1


def test_emulator_refuses_a_gemini3_job_outside_its_regions(emu):
    from google import genai
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        enterprise=True,
        project=emu.project,
        location="asia-east1",
        credentials=Credentials(token="t"),
        http_options=types.HttpOptions(base_url=emu.url + "/"),
    )
    emu.require_auth = False
    with pytest.raises(Exception) as info:
        client.tunings.tune(
            base_model="gemini-3.5-flash", training_dataset=types.TuningDataset(gcs_uri="gs://b/x.jsonl")
        )
    assert str(info.value) == (
        "400 INVALID_ARGUMENT. {'error': {'code': 400, 'message': 'Base model gemini-3.5-flash can be tuned only in "
        "us-central1, europe-west4; asia-east1 is not supported. (emulated)', 'status': 'INVALID_ARGUMENT'}}"
    )


def test_adapter_sizes_are_checked_per_model_before_upload(emu, make):
    for model, size, allowed in (("gemini-2.5-pro", 16, "1, 2, 4, 8"), ("gemini-2.5-flash", 32, "1, 2, 4, 8, 16")):
        with pytest.raises(ProviderError) as info:
            make(adapter_size=size)[0].endpoints(TuneRequest(model, PAIRS), ["tuned"])
        assert (
            str(info.value) == f"--ftb-adapter-size={size}: {model} takes adapter sizes {allowed}; nothing was uploaded"
        )
    assert sum(emu.requests.values()) == 0


def test_long_jobs_export_ten_spaced_checkpoints_and_say_so_first(emu, make):
    provider, lines = make()
    stages = ["epoch:3", "epoch:4", "epoch:20", "tuned"]
    endpoints = provider.endpoints(
        TuneRequest(MODEL, PAIRS, TuneSettings(epochs=20, checkpoint_epochs=(3, 4, 20))), stages
    )
    assert lines[0] == (
        "gemini gemini-2.5-flash: a 20-epoch job exports checkpoints after epochs 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 "
        "only,"
        " so epoch 3 cannot be evaluated (those items are skipped)"
    )
    assert [c["epoch"] for c in emu.jobs()[0]["tunedModel"]["checkpoints"]] == [str(e) for e in range(2, 21, 2)]
    assert isinstance(endpoints["epoch:4"].handle, str) and endpoints["epoch:20"].handle == endpoints["tuned"].handle
    skip = provider.answer(endpoints["epoch:3"], prompts(1))[0].skip
    assert skip.startswith("no checkpoint for epoch 3 of job ") and skip.endswith(
        "exports about 10, evenly spaced) (available epochs: 2, 4, 6, 8, 10, 12, 14, 16, 18, 20)"
    )


def test_the_concurrent_tuning_quota_is_one_line_not_resends(emu, make):
    emu.max_running_jobs = 0
    with pytest.raises(ProviderError) as info:
        make()[0].endpoints(request(), ["tuned"])
    assert "\n" not in str(info.value) and "Quota exceeded for aiplatform.googleapis.com/concurrent_tuning_jobs" in str(
        info.value
    )
    assert emu.requests[CREATE] == 1 and emu.jobs_created == 0


def test_learning_rate_flags_belong_to_their_providers(emu, make):
    with pytest.raises(ProviderError) as info:
        make(learning_rate=2e-4)[0].endpoints(request(), ["tuned"])
    assert str(info.value) == (
        "--ftb-learning-rate is an absolute rate for local models; Vertex AI takes a multiplier of its own default:"
        " pass --ftb-learning-rate-multiplier instead (e.g. 2.0)"
    )
    assert sum(emu.requests.values()) == 0
    make(learning_rate_multiplier=2.0)[0].endpoints(request(learning_rate_multiplier=2.0), ["tuned"])
    assert emu.jobs()[0]["supervisedTuningSpec"]["hyperParameters"]["learningRateMultiplier"] == 2.0


# -- cost, dry run, options, emulator ----------------------------------------------------------


def test_max_cost_refuses_before_uploading(emu, make):
    provider, _ = make(max_cost=0.0001, price=[f"{MODEL}:100000"])
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"refusing to launch: estimated cost $69.00 exceeds --ftb-max-cost $0.0001 ({MODEL} on 12 examples: ~230 "
        "tokens x 3 epochs = ~690 training tokens x $100000.00/1M = $69.00 (estimate))"
    )
    assert emu.count(UPLOAD) == 0 and emu.jobs_created == 0
    # Small costs keep four decimals (not "$0.00"), here and in the cost line.
    with pytest.raises(ProviderError) as info:
        make(max_cost=0.0001)[0].endpoints(request(), ["tuned"])
    assert str(info.value) == (
        f"refusing to launch: estimated cost $0.0034 exceeds --ftb-max-cost $0.0001 ({MODEL} on 12 examples: ~230 "
        "tokens x 3 epochs = ~690 training tokens x $5.00/1M = $0.0034 (estimate))"
    )


def test_max_cost_without_epochs_cannot_be_checked(emu, make):
    with pytest.raises(ProviderError) as info:
        make(max_cost=100.0)[0].endpoints(TuneRequest(MODEL, PAIRS), ["tuned"])
    assert str(info.value) == (
        "refusing to launch: the number of epochs is chosen by Vertex AI (pass --ftb-epochs), so --ftb-max-cost "
        f"$100.00 cannot be checked ({MODEL} on 12 examples: ~230 tokens an epoch, epochs chosen by Vertex AI (pass "
        "--ftb-epochs for a cost estimate))"
    )
    assert emu.count(UPLOAD) == 0 and emu.jobs_created == 0


def test_dry_run_launches_and_asks_nothing(emu, make):
    provider, lines = make(dry_run=True)
    endpoints = provider.endpoints(request(), ["tuned", "base", "epoch:3"])
    skips = {a.skip for e in endpoints.values() for a in provider.answer(e, prompts(2))}
    assert all(s.startswith("dry run (--ftb-dry-run):") for s in skips)
    tuned_skip = provider.answer(endpoints["tuned"], prompts(1))[0].skip
    assert (
        f"would upload 12 examples to gs://{BUCKET}/runs/ftb-" in tuned_skip
        and "3 epochs" in tuned_skip
        and "$5.00/1M" in tuned_skip
    )
    assert sum(emu.requests.values()) == 0
    assert lines and "launched nothing" in lines[0]


def test_options_are_registered():
    names = {o.name: o for o in OPTIONS}
    for name in ("gcp-project", "gcp-location", "gcs-bucket", "gcs-training-uri", "adapter-size"):
        assert name in names


def test_emulator_takes_resumable_uploads(emu):
    from google.cloud import storage

    data = b"x" * (600 * 1024)
    blob = storage.Client(project=emu.project).bucket(BUCKET).blob("big.jsonl", chunk_size=256 * 1024)
    blob.upload_from_string(data)
    assert emu.object(f"gs://{BUCKET}/big.jsonl") == data
    assert storage.Client(project=emu.project).bucket(BUCKET).blob("big.jsonl").download_as_bytes() == data


def test_emulator_requires_a_token(emu):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{emu.url}/v1beta1/projects/p/locations/l/tuningJobs")
    assert info.value.code == 401 and json.loads(info.value.read())["error"]["status"] == "UNAUTHENTICATED"


def test_a_paused_job_is_waited_for_then_resumed_not_duplicated(emu, make):
    emu.job_polls = 1000  # the job runs until paused (a pause from the console), then until told to finish
    provider, lines = make(job_timeout=0.3)
    pauser = threading.Thread(target=lambda: (wait_for(lambda: emu.jobs_created == 1), emu.pause()))
    pauser.start()
    with pytest.raises(ProviderError) as info:
        provider.endpoints(request(), ["tuned"])
    job_name = provider.ledger.get(provider.key(request()))["job_name"]
    assert str(info.value) == still_waiting(f"Vertex AI tuning job {job_name} for {MODEL}", "paused", 0.3, "Vertex AI")
    pauser.join()
    assert any(": paused, " in line for line in lines)
    emu.pause(False)
    emu.finish_jobs()
    assert make()[0].endpoints(request(), ["tuned"])["tuned"].handle.startswith(f"projects/{emu.project}/locations/")
    assert emu.jobs_created == 1
