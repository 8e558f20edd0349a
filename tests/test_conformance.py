"""The conformance checkers catch an emulator that drifts from the vendors' published schemas.

Every provider test already runs its emulator under a checker (``emulated.serve``) and fails on any
violation; these tests show the checkers are not vacuous: a deliberately wrong response or request
is named, field by field.
"""

from __future__ import annotations

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("google.genai")
pytest.importorskip("googleapiclient")

from conformance import discovery, openai_checker, vertex_checker, walk
from emulated import PAIRS
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from pytest_finetunebench.providers.hosted.api import chat_jsonl
from pytest_finetunebench.testing import OpenAIEmulator
from pytest_finetunebench.testing.vertex.emulator import VertexEmulator

MODEL = "gpt-4o-mini-2024-07-18"


def openai_lifecycle(emu: OpenAIEmulator) -> None:
    client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
    f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=f.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    job = client.fine_tuning.jobs.retrieve(job.id)
    list(client.fine_tuning.jobs.list(limit=5))
    list(client.fine_tuning.jobs.list_events(job.id, limit=2))
    list(client.fine_tuning.jobs.checkpoints.list(job.id))
    client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": PAIRS[0].prompt}], max_completion_tokens=8
    )


def test_the_openai_emulator_conforms_to_the_sdk_models():
    checker = openai_checker()
    with OpenAIEmulator() as emu:
        emu.observers.append(checker)
        openai_lifecycle(emu)
    assert checker.failures == [] and checker.checked == sum(emu.requests.values()) >= 7  # every request, every reply


def test_a_field_the_sdk_does_not_know_and_a_wrong_type_are_caught(monkeypatch):
    checker = openai_checker()
    with OpenAIEmulator() as emu:
        emu.observers.append(checker)
        public = emu._public_job
        monkeypatch.setattr(emu, "_public_job", lambda job: {**public(job), "ftb_debug": 1, "created_at": "yesterday"})
        client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
        f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
        client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    [failure] = checker.failures
    assert failure.startswith(
        "POST /v1/fine_tuning/jobs: response: FineTuningJob: 1 validation error for FineTuningJob created_at Input "
        "should be a valid integer"
    )


def test_an_extra_response_field_alone_is_caught(monkeypatch):
    checker = openai_checker()
    with OpenAIEmulator() as emu:
        emu.observers.append(checker)
        public = emu._public_job
        monkeypatch.setattr(emu, "_public_job", lambda job: {**public(job), "ftb_debug": 1})
        client = openai.OpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
        f = client.files.create(file=("t.jsonl", chat_jsonl(PAIRS), "application/jsonl"), purpose="fine-tune")
        client.fine_tuning.jobs.create(model=MODEL, training_file=f.id)
    assert checker.failures == ["POST /v1/fine_tuning/jobs: response.ftb_debug: not a field of FineTuningJob"]


@pytest.mark.filterwarnings("ignore:The SDK's tuning implementation is experimental")
def test_the_vertex_emulator_conforms_to_the_discovery_documents():
    checker = vertex_checker()
    with VertexEmulator(require_auth=False) as emu:
        emu.observers.append(checker)
        emu.put_object(
            "b",
            "t.jsonl",
            b'{"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": '
            b'"a"}]}]}\n',
        )
        client = genai.Client(
            enterprise=True,
            project=emu.project,
            location=emu.location,
            credentials=Credentials(token="t"),
            http_options=types.HttpOptions(base_url=emu.url + "/"),
        )
        job = client.tunings.tune(
            base_model="gemini-2.5-flash",
            training_dataset=types.TuningDataset(gcs_uri="gs://b/t.jsonl"),
            config=types.CreateTuningJobConfig(epoch_count=2, labels={"ftb_key": "k"}),
        )
        job = client.tunings.get(name=job.name)
        list(client.tunings.list(config=types.ListTuningJobsConfig(filter='labels.ftb_key="k"')))
        client.models.generate_content(model=job.tuned_model.endpoint, contents="q")
    assert checker.failures == [] and checker.checked == sum(emu.requests.values()) >= 4


def test_discovery_walk_names_each_violation():
    doc = discovery("aiplatform.v1beta1")
    job = {
        "name": "projects/p/locations/l/tuningJobs/1",
        "state": "JOB_STATE_DONE",
        "ftbDebug": True,
        "tunedModel": {"checkpoints": [{"epoch": 2, "endpoint": "e"}]},
        "labels": {"ftb_key": 3},
    }
    assert walk(doc, {"$ref": "GoogleCloudAiplatformV1beta1TuningJob"}, job, "response") == [
        "response.state: 'JOB_STATE_DONE' is not one of the enum's 12 values",
        "response.ftbDebug: not a field of GoogleCloudAiplatformV1beta1TuningJob",
        "response.tunedModel.checkpoints[0].epoch: expected a string (int64), got 2",
        "response.labels.ftb_key: expected a string, got 3",
    ]
    # A request is parsed as proto JSON: an int64 may be a number there, and snake_case names are accepted.
    request = {"supervisedTuningSpec": {"hyperParameters": {"epochCount": 3}}, "base_model": "gemini-2.5-flash"}
    assert walk(doc, {"$ref": "GoogleCloudAiplatformV1beta1TuningJob"}, request, "request", parsing=True) == []


def test_a_together_response_the_sdk_does_not_describe_is_caught():
    pytest.importorskip("together")
    from conformance import together_checker

    checker = together_checker()
    request = type("R", (), {"method": "GET", "path": "/v1/fine-tunes/ft-1", "body": b"", "headers": {}})()
    reply = type(
        "P",
        (),
        {
            "status": 200,
            "content_type": "application/json",
            "body": b'{"id": "ft-1", "status": "finished", "user_id": "u", "ftb_debug": true}',
        },
    )()
    checker(request, reply)
    assert len(checker.failures) == 1 and checker.failures[0].startswith(
        "GET /v1/fine-tunes/ft-1: response: FinetuneResponse: 1 validation error for FinetuneResponse status Input "
        "should be 'pending'"
    )
