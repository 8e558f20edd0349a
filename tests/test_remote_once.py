"""Tuning once per key, on a scripted API with no HTTP: every path of the state machine in
:class:`RemoteProvider`, checked by the whole ledger record and every progress line it leaves.

The emulator tests (test_openai, test_gemini, test_together) run the same machine through the real
SDKs; these pin down what it records and says, fast enough to run under mutation testing.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_finetunebench.items import BASE, TUNED
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import (
    Answer,
    Endpoint,
    Prompt,
    ProviderError,
    TrainingPair,
    TuneRequest,
    TuneSettings,
)
from pytest_finetunebench.providers.hosted import tuning as remote
from pytest_finetunebench.providers.hosted.api import REFUSED, THROTTLED, UNCLEAR, Unavailable
from pytest_finetunebench.providers.hosted.cost import Estimate
from pytest_finetunebench.providers.hosted.tuning import RemoteProvider
from pytest_finetunebench.store.jobstore import JobStore
from pytest_finetunebench.store.ledger import Ledger

PAIRS = (TrainingPair("Who founded Velmora?", "Ada Brix"), TrainingPair("When?", "1911"))
REQUEST = TuneRequest("fake-1", PAIRS, TuneSettings(epochs=3, checkpoint_epochs=(1, 3)))


class CreateError(Exception):
    """What the fake API raises on a create: ``kind`` is how the provider classifies it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class FakeAPI(RemoteProvider):
    """An API in memory: creates follow ``script``; the n-th poll of a job shows ``statuses[n]``.

    Every hook leaves what it was given where a test can see it: the checks, the upload, the job
    a create launches, the outcome's epochs and each progress line.
    """

    name = "fake"
    service = "FakeAPI"
    job_noun = "tuning job"
    tag = "label ftb_key={key}"
    job_field = "job_id"
    status_field = "status"
    tuned_field = "tuned_model"
    succeeded = frozenset({"done"})
    failed = frozenset({"failed", "cancelled"})
    no_checkpoint = "FakeAPI keeps the last epoch only"
    create_errors = (CreateError,)

    def __init__(
        self,
        ctx: RunContext,
        *,
        script: list[Any] | None = None,
        statuses: tuple[str, ...] = ("queued", "running", "done"),
        cost: float | None = 0.25,
    ) -> None:
        super().__init__(ctx, {}, poll_interval=1.0, max_poll_interval=5.0)
        self.script = list(script or [])
        self.statuses = statuses
        self.cost = cost
        self.jobs: list[dict[str, Any]] = []
        self.checked: list[tuple[str, bool]] = []
        self.creates = self.uploads = 0
        self.gone = self.unreachable = False

    def base_url(self) -> str:
        return "https://user:secret@fake.example/v1"

    def _check(self, model: str, *, tuning: bool) -> None:
        self.checked.append((model, tuning))

    def _record_fields(self) -> dict[str, Any]:
        return {"region": "moon-1"}

    def _api_message(self, exc: BaseException) -> str:
        return f"HTTP 4xx: {exc}"

    def _plan(self, request: TuneRequest) -> Estimate:
        return Estimate(
            f"{request.model} on {len(request.pairs)} examples",
            self.cost,
            120 if self.cost is not None else None,
            "no price",
        )

    def _upload(self, ledger: Ledger, key: str, request: TuneRequest, record: dict) -> str:
        self.uploads += 1
        file_id = f"file-{len(request.pairs)}-{record['region']}"
        ledger.update(key, remote.L.UPLOADED, note="uploaded", file_id=file_id)
        return file_id

    def _add_job(self, key: str, status: str | None = None, **fields: Any) -> dict[str, Any]:
        job = {
            "id": f"job-{len(self.jobs) + 1}",
            "key": key,
            "status": status or self.statuses[0],
            "created": len(self.jobs),
            "polls": 0,
            **fields,
        }
        self.jobs.append(job)
        return job

    def _create(self, key: str, request: TuneRequest, record: dict, training: str) -> Any:
        self.creates += 1
        step = self.script.pop(0) if self.script else "ok"
        launched = {"model": request.model, "training": training, "attempt": record["create_attempts"]}
        if step == "ok":
            return self._add_job(key, **launched)
        kind, message, *status = step
        if status:
            self._add_job(key, status[0], **launched)
        raise CreateError(kind, message)

    def _create_failure(self, exc: BaseException) -> str:
        return exc.kind  # type: ignore[attr-defined]

    def _list_jobs(self, key: str) -> list[Any]:
        return [j for j in self.jobs if j["key"] == key]

    def _job_id(self, job: Any) -> str:
        return job["id"]

    def _status(self, job: Any) -> str:
        return job["status"]

    def _created(self, job: Any) -> Any:
        return job["created"]

    def _source(self, request: TuneRequest, key: str) -> str:
        return f"upload {len(request.pairs)} examples as ftb-{key[:6]}.jsonl"

    def _fetch(self, ledger: Ledger, key: str, job_id: str, model: str) -> Any | None:
        if self.unreachable:  # a transient failure: nothing seen this poll
            return None
        job = next(j for j in self.jobs if j["id"] == job_id)
        if self.gone:
            raise self._gone(ledger, key, job_id, model, LookupError("no such job"))
        job["polls"] += 1
        if job["status"] not in self.failed:
            job["status"] = self.statuses[min(job["polls"], len(self.statuses) - 1)]
        return job

    def _outcome(self, job: Any, request: TuneRequest) -> dict[str, Any] | str | None:
        if job["status"] == "done":
            epochs = request.settings.epochs
            return {
                "tuned_model": f"ft:{job['id']}",
                "checkpoints": {str(epochs): f"ft:{job['id']}", "2": f"ckpt-2-{job['id']}"},
                "n_epochs": epochs,
            }
        if job["status"] in self.failed:
            return "the training file has an empty answer on line 2"
        return None

    def _progress_line(self, job: Any, model: str, elapsed: float) -> str:
        return f"fake: {job['id']} {job['status']} ({model}, {elapsed:.0f} s)"

    def _answerer(self, endpoint: Endpoint):
        return lambda prompt: Answer(f"{endpoint.handle}: {prompt.text}")


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    naps: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", naps.append)
    return naps


@pytest.fixture
def ctx(tmp_path, lines) -> RunContext:
    return RunContext(store=JobStore(tmp_path / "store"), options={}, progress=lines.append)


def record_of(provider: FakeAPI, request: TuneRequest = REQUEST) -> dict[str, Any]:
    """The ledger record without its clock readings."""
    record = provider.ledger.get(provider.key(request))
    assert record is not None
    record = {k: v for k, v in record.items() if k not in ("created_at", "updated_at")}
    record["history"] = [{k: v for k, v in h.items() if k != "t"} for h in record["history"]]
    return record


def test_a_job_is_launched_waited_for_and_recorded(ctx, lines, slept):
    api = FakeAPI(ctx)
    endpoints = api.endpoints(REQUEST, [BASE, TUNED, "epoch:2", "epoch:1"])
    key = api.key(REQUEST)
    assert endpoints == {
        BASE: Endpoint("fake-1", BASE, "fake-1"),
        TUNED: Endpoint("fake-1", TUNED, "ft:job-1"),
        "epoch:2": Endpoint("fake-1", "epoch:2", "ckpt-2-job-1"),
        "epoch:1": Endpoint(
            "fake-1",
            "epoch:1",
            Unavailable(
                "no checkpoint for epoch 1 of job job-1: FakeAPI keeps the last epoch only (available epochs: 2, 3)"
            ),
        ),
    }
    assert lines == ["fake: launching a tuning job: fake-1 on 2 examples", "fake: job-1 running (fake-1, 0 s)"]
    assert slept == [1.0]
    assert record_of(api) == {
        "key": key,
        "provider": "fake",
        "state": "succeeded",
        "ftb_key": key,
        "model": "fake-1",
        "base_url": "https://fake.example/v1",
        "n_examples": 2,
        "estimated_training_tokens": 120,
        "estimated_cost_usd": 0.25,
        "region": "moon-1",
        "file_id": "file-2-moon-1",
        "create_attempts": 1,
        "job_id": "job-1",
        "status": "done",
        "tuned_model": "ft:job-1",
        "checkpoints": {"3": "ft:job-1", "2": "ckpt-2-job-1"},
        "n_epochs": 3,
        "history": [
            {"state": "uploaded", "note": "uploaded"},
            {"state": "creating", "note": "create sent"},
            {"state": "running", "note": "job job-1"},
            {"state": "running", "note": "remote running"},
            {"state": "running", "note": "remote done"},
            {"state": "succeeded"},
        ],
    }
    assert (api.uploads, api.creates, api.checked) == (1, 1, [("fake-1", True), ("fake-1", True)])
    assert api.jobs == [
        {
            "id": "job-1",
            "key": key,
            "status": "done",
            "created": 0,
            "polls": 2,
            "model": "fake-1",
            "training": "file-2-moon-1",
            "attempt": 1,
        }
    ]


def test_a_rerun_reuses_the_recorded_job_without_a_call(ctx, lines, slept):
    FakeAPI(ctx).tune(REQUEST)
    lines.clear()
    again = FakeAPI(ctx)
    assert again.endpoints(REQUEST, [TUNED]) == {TUNED: Endpoint("fake-1", TUNED, "ft:job-1")}
    assert (again.uploads, again.creates, lines) == (0, 0, [])


def test_the_cost_is_rounded_to_four_places_in_the_record(ctx, slept):
    api = FakeAPI(ctx, cost=0.123456)
    api.tune(REQUEST)
    assert record_of(api)["estimated_cost_usd"] == 0.1235


def test_a_refused_create_is_one_line_and_launches_nothing(ctx, lines, slept):
    api = FakeAPI(ctx, script=[(REFUSED, "model not available")])
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert str(err.value) == "FakeAPI refused the tuning job for fake-1: HTTP 4xx: model not available"
    record = record_of(api)
    assert (record["state"], record["last_error"], record["create_attempts"]) == (
        "uploaded",
        "HTTP 4xx: model not available",
        1,
    )
    assert record["history"][-2:] == [
        {"state": "creating", "note": "create sent"},
        {"state": "uploaded", "note": "create refused: HTTP 4xx: model not available"},
    ]
    assert (api.jobs, slept) == ([], [])
    retry = FakeAPI(ctx)  # the refusal allows a later run to create
    assert retry.tune(REQUEST)["tuned_model"] == "ft:job-1"
    assert (retry.uploads, retry.creates, record_of(retry)["create_attempts"]) == (1, 1, 2)


def test_a_throttled_create_is_resent_after_a_growing_backoff(ctx, lines, slept):
    api = FakeAPI(
        ctx,
        script=[
            (THROTTLED, "rate limited"),
            (THROTTLED, "rate limited"),
            (THROTTLED, "rate limited"),
            (THROTTLED, "rate limited"),
        ],
    )
    assert api.tune(REQUEST)["tuned_model"] == "ft:job-1"
    turned = (
        "fake: tuning job create for fake-1 turned away (HTTP 4xx: rate limited); nothing was launched, "
        "retrying in {} s"
    )
    assert lines[:5] == ["fake: launching a tuning job: fake-1 on 2 examples"] + [
        turned.format(s) for s in (1, 2, 4, 5)
    ]
    assert slept[:4] == [1.0, 2.0, 4.0, 5.0]
    assert (api.creates, record_of(api)["create_attempts"], len(api.jobs)) == (5, 5, 1)


def test_a_create_throttled_every_time_gives_up_after_five(ctx, slept):
    api = FakeAPI(ctx, script=[(THROTTLED, "rate limited")] * 5)
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert str(err.value) == "FakeAPI refused the tuning job for fake-1: HTTP 4xx: rate limited"
    assert (api.creates, slept, record_of(api)["state"]) == (5, [1.0, 2.0, 4.0, 5.0], "uploaded")


def test_an_unclear_create_that_launched_is_found_and_adopted(ctx, lines, slept):
    api = FakeAPI(ctx, script=[(UNCLEAR, "connection reset", "queued")])
    assert api.tune(REQUEST)["tuned_model"] == "ft:job-1"
    assert lines[:3] == [
        "fake: launching a tuning job: fake-1 on 2 examples",
        "fake: tuning job create for fake-1 got no clear answer (HTTP 4xx: connection reset); looking for it "
        "(nothing is re-sent)",
        f"fake: resuming tuning job job-1 (queued) found by its label ftb_key={api.key(REQUEST)}",
    ]
    assert (api.creates, slept[0]) == (1, 1.0)  # it waits before the first look


def test_an_unclear_create_that_is_never_listed_stays_creating_and_is_never_resent(ctx, lines, slept):
    api = FakeAPI(ctx, script=[(UNCLEAR, "read timeout")])
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    key = api.key(REQUEST)
    path = api.ledger.path(key)
    assert str(err.value) == (
        "FakeAPI tuning job for fake-1: outcome unknown: its create got no clear answer (HTTP 4xx: read timeout), "
        "and no job with its "
        f"label ftb_key={key} is listed after 4 looks. Nothing was re-sent (a second create could launch a second "
        "paid job); a rerun "
        f"looks again. Once you are sure no job was launched at FakeAPI, delete {path} to allow a new create"
    )
    assert slept == [1.0, 2.0, 4.0, 5.0]
    record = record_of(api)
    assert (record["state"], record["history"][-1]) == (
        "creating",
        {"state": "creating", "note": "no job listed after 4 looks; nothing re-sent"},
    )
    slept.clear()
    rerun = FakeAPI(ctx)
    with pytest.raises(ProviderError) as again:
        rerun.tune(REQUEST)
    assert str(again.value) == (
        "FakeAPI tuning job for fake-1: outcome unknown: its create was sent by an earlier run, which recorded no "
        "answer, and no job with its "
        f"label ftb_key={key} is listed after 4 looks. Nothing was re-sent (a second create could launch a second "
        "paid job); a rerun "
        f"looks again. Once you are sure no job was launched at FakeAPI, delete {path} to allow a new create"
    )
    assert (rerun.creates, slept) == (0, [1.0, 2.0, 4.0])  # looks at once, then backs off


def test_a_listed_job_is_adopted_before_any_create(ctx, lines, slept):
    api = FakeAPI(ctx)
    key = api.key(REQUEST)
    api._add_job(key, "failed")
    api._add_job(key, "done")
    api._add_job(key, "running")
    api._add_job("another-key", "done")
    assert api.tune(REQUEST)["tuned_model"] == "ft:job-2"  # the newest succeeded one, not the newer running one
    assert (api.uploads, api.creates) == (0, 0)
    assert lines[0] == f"fake: resuming tuning job job-2 (done) found by its label ftb_key={key}"


def test_a_running_job_is_adopted_over_a_failed_one_and_failed_ones_alone_are_not(ctx, slept):
    api = FakeAPI(ctx)
    key = api.key(REQUEST)
    api._add_job(key, "running")
    api._add_job(key, "failed")
    assert api.tune(REQUEST)["job_id"] == "job-1"
    other = TuneRequest("fake-1", PAIRS[:1])
    api._add_job(api.key(other), "cancelled")
    assert api.tune(other)["job_id"] == "job-4"  # a new job: the cancelled one is not adopted
    assert api.creates == 1


def test_a_failed_job_is_recorded_and_a_rerun_names_the_record(ctx, slept):
    api = FakeAPI(ctx, statuses=("queued", "failed"))
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    message = "FakeAPI tuning job job-1 for fake-1 failed: the training file has an empty answer on line 2"
    assert str(err.value) == message
    record = record_of(api)
    assert (record["state"], record["error"], record["history"][-1]) == (
        "failed",
        message,
        {"state": "failed", "note": message},
    )
    with pytest.raises(ProviderError) as again:
        FakeAPI(ctx).tune(REQUEST)
    assert (
        str(again.value)
        == f"{message} [recorded in {api.ledger.path(api.key(REQUEST))}; delete it to launch a new job]"
    )


def test_a_job_that_is_gone_is_a_recorded_failure(ctx, slept):
    api = FakeAPI(ctx)
    api.gone = True
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    message = "FakeAPI tuning job job-1 for fake-1 is gone: HTTP 4xx: no such job"
    assert str(err.value) == message
    record = record_of(api)
    assert (record["state"], record["error"], record["history"][-1]) == (
        "failed",
        message,
        {"state": "failed", "note": message},
    )


def test_waiting_polls_at_a_growing_interval_until_the_timeout(tmp_path, monkeypatch):
    now = [100.0]  # the clock moves only when the provider sleeps
    monkeypatch.setattr(remote.time, "monotonic", lambda: now[0])
    slept: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    lines: list[str] = []
    api = FakeAPI(
        RunContext(store=JobStore(tmp_path), options={"job_timeout": "20"}, progress=lines.append),
        statuses=("queued", "running"),
    )
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert str(err.value) == (
        "FakeAPI tuning job job-1 for fake-1 still running after 20 s (--ftb-job-timeout); "
        "it keeps running at FakeAPI and a rerun resumes waiting for it"
    )
    assert slept == [
        1.0,
        1.5,
        2.25,
        3.375,
        5.0,
        5.0,
        1.875,
    ]  # x1.5 each poll, capped at 5 s, the last one up to the deadline
    assert lines[1:] == [f"fake: job-1 running (fake-1, {t} s)" for t in (0, 1, 2, 5, 8, 13, 18, 20)]
    assert record_of(api)["state"] == "running"


def test_the_max_cost_refuses_before_anything_is_uploaded(tmp_path, slept):
    ctx = RunContext(store=JobStore(tmp_path), options={"max_cost": "0.1"})
    api = FakeAPI(ctx)
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert (
        str(err.value) == "refusing to launch: estimated cost $0.25 exceeds --ftb-max-cost $0.10 (fake-1 on 2 examples)"
    )
    assert (api.uploads, api.creates, api.ledger.get(api.key(REQUEST))) == (0, 0, None)


def dry(tmp_path, lines, **options) -> FakeAPI:
    return FakeAPI(RunContext(store=JobStore(tmp_path), options={"dry_run": True, **options}, progress=lines.append))


def test_a_dry_run_says_what_it_would_do_and_launches_nothing(tmp_path, lines):
    api = dry(tmp_path, lines, max_cost="0.1")
    reason = (
        f"dry run (--ftb-dry-run): would upload 2 examples as ftb-{api.key(REQUEST)[:6]}.jsonl and launch a tuning "
        "job: fake-1 on 2 examples;"
        " --ftb-max-cost $0.10 would refuse it; launched nothing"
    )
    assert api.endpoints(REQUEST, [TUNED]) == {TUNED: Endpoint("fake-1", TUNED, Unavailable(reason))}
    assert lines == [f"fake: {reason}"]
    assert api.endpoints(REQUEST, [BASE])[BASE].handle == Unavailable(
        "dry run (--ftb-dry-run): would ask fake-1; launched nothing"
    )
    assert (api.uploads, api.creates) == (0, 0)
    assert api.answer(Endpoint("fake-1", TUNED, Unavailable(reason)), [Prompt("k", "q")]) == [Answer(None, skip=reason)]


def test_a_dry_run_after_a_run_names_the_job_it_would_reuse_or_wait_for(tmp_path, lines, slept):
    live = FakeAPI(RunContext(store=JobStore(tmp_path)))
    live.tune(REQUEST)
    key = live.key(REQUEST)
    assert dry(tmp_path, lines)._dry_run_line(REQUEST) == f"would reuse ft:job-1 (job job-1, ledger {key})"
    live.ledger.update(key, remote.L.RUNNING, status="running")
    assert dry(tmp_path, lines)._dry_run_line(REQUEST) == f"would resume waiting for job job-1 (running, ledger {key})"


def test_answers_are_labelled_by_model_and_stage(ctx, lines):
    api = FakeAPI(ctx)
    got = api.answer(Endpoint("fake-1", BASE, "fake-1"), [Prompt("a", "hello")])
    assert (got, lines) == ([Answer("fake-1: hello")], ["fake fake-1 [base]: 1/1 answers"])
    assert api.answer(Endpoint("fake-1", BASE, "fake-1"), []) == []


def test_a_learning_rate_of_the_wrong_kind_is_refused_in_one_line(tmp_path):
    api = FakeAPI(RunContext(store=JobStore(tmp_path), options={"learning_rate": 1e-4}))
    with pytest.raises(ProviderError) as err:
        api.endpoints(REQUEST, [TUNED])
    assert str(err.value) == (
        "--ftb-learning-rate is an absolute rate for local models; FakeAPI takes a multiplier of its own default:"
        " pass --ftb-learning-rate-multiplier instead (e.g. 2.0)"
    )
    assert (
        api.endpoints(REQUEST, [BASE])[BASE].handle == "fake-1"
    )  # asking the base model tunes nothing: no rate matters

    class Absolute(FakeAPI):
        absolute_learning_rate = True

    absolute = Absolute(RunContext(store=JobStore(tmp_path), options={"learning_rate_multiplier": 2.0}))
    with pytest.raises(ProviderError) as err:
        absolute.endpoints(REQUEST, [TUNED])
    assert str(err.value) == (
        "--ftb-learning-rate-multiplier scales a default rate, but FakeAPI takes an absolute learning rate:"
        " pass --ftb-learning-rate instead (e.g. 1e-5)"
    )


def test_the_key_is_salted_with_the_server_without_its_credentials(ctx):
    api = FakeAPI(ctx)
    assert api.key(REQUEST) == REQUEST.key(salt="fake|https://fake.example/v1")


def test_forgetting_a_record_twice_is_harmless(ctx, slept):
    api = FakeAPI(ctx)
    api.tune(REQUEST)
    key = api.key(REQUEST)
    api.ledger.forget(key)
    api.ledger.forget(key)
    assert api.ledger.get(key) is None and not api.ledger.path(key).exists()


def test_a_refused_create_then_a_rerun_keeps_one_record_with_the_whole_story(ctx, slept):
    first = FakeAPI(ctx, script=[(REFUSED, "quota")])
    with pytest.raises(ProviderError):
        first.tune(REQUEST)
    FakeAPI(ctx).tune(REQUEST)
    assert [h.get("note", h["state"]) for h in record_of(first)["history"]] == [
        "uploaded",
        "create sent",
        "create refused: HTTP 4xx: quota",
        "uploaded",
        "create sent",
        "job job-1",
        "remote running",
        "remote done",
        "succeeded",
    ]


def test_an_unclear_create_whose_job_already_failed_reports_the_failure(ctx, slept):
    api = FakeAPI(ctx, script=[(UNCLEAR, "connection reset", "failed")])
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert (
        str(err.value) == "FakeAPI tuning job job-1 for fake-1 failed: the training file has an empty answer on line 2"
    )
    assert api.creates == 1


def test_the_newest_of_equals_is_adopted(ctx, lines, slept):
    api = FakeAPI(ctx)
    key = api.key(REQUEST)
    api._add_job(key, "done")
    api._add_job(key, "done")
    assert api.tune(REQUEST)["job_id"] == "job-2"
    other = TuneRequest("fake-1", PAIRS[:1], TuneSettings(epochs=3))
    api._add_job(api.key(other), "running")
    api._add_job(api.key(other), "queued")
    assert api.tune(other)["job_id"] == "job-4"


def test_a_recorded_job_is_waited_for_even_when_the_list_does_not_show_it(ctx, slept):
    api = FakeAPI(ctx, statuses=("running", "running", "done"))
    key = api.key(REQUEST)
    api._add_job("listed-elsewhere", "running")  # fetchable by id, not listed under the key (a lagging list)
    api.ledger.update(key, remote.L.RUNNING, job_id="job-1", status="running")
    assert api.tune(REQUEST)["tuned_model"] == "ft:job-1"
    assert api.creates == 0
    # polled twice: the first poll shows the recorded status (no note), the second the end
    assert [h.get("note", h["state"]) for h in record_of(api)["history"]] == ["running", "remote done", "succeeded"]


def test_without_a_price_the_record_has_no_cost(ctx, slept):
    api = FakeAPI(ctx, cost=None)
    api.tune(REQUEST)
    assert (record_of(api)["estimated_cost_usd"], record_of(api)["estimated_training_tokens"]) == (None, None)


def test_an_api_that_quotes_after_the_upload_is_not_refused_before_it(tmp_path, slept):
    class Quoting(FakeAPI):
        quotes_after_upload = True

    unpriced = Quoting(RunContext(store=JobStore(tmp_path), options={"max_cost": "0.1"}), cost=None)
    assert unpriced.tune(REQUEST)["tuned_model"] == "ft:job-1"  # its own quote is checked after the upload
    priced = Quoting(RunContext(store=JobStore(tmp_path / "b"), options={"max_cost": "0.1"}))
    with pytest.raises(ProviderError) as err:
        priced.tune(REQUEST)
    assert (
        str(err.value) == "refusing to launch: estimated cost $0.25 exceeds --ftb-max-cost $0.10 (fake-1 on 2 examples)"
    )


def test_the_base_model_alone_is_checked_as_not_tuning(ctx):
    api = FakeAPI(ctx)
    assert api.endpoints(REQUEST, [BASE]) == {BASE: Endpoint("fake-1", BASE, "fake-1")}
    assert (api.checked, api.creates) == ([("fake-1", False)], 0)


def test_an_unknown_stage_names_the_provider(ctx):
    with pytest.raises(ProviderError) as err:
        FakeAPI(ctx).endpoints(REQUEST, [TUNED, "in_context"])
    assert str(err.value) == "the fake provider has no stage 'in_context' (known: tuned, base, epoch:N)"


def test_epoch_zero_has_no_checkpoint(ctx, slept):
    endpoints = FakeAPI(ctx).endpoints(REQUEST, ["epoch:0"])
    assert endpoints["epoch:0"].handle == Unavailable(
        "no checkpoint for epoch 0 of job job-1: FakeAPI keeps the last epoch only (available epochs: 2, 3)"
    )


def test_a_multiplier_is_what_a_multiplier_api_takes(tmp_path, slept):
    api = FakeAPI(RunContext(store=JobStore(tmp_path), options={"learning_rate_multiplier": 2.0}))
    assert api.endpoints(REQUEST, [TUNED])[TUNED].handle == "ft:job-1"


def test_a_replayed_run_keeps_its_ledger_apart(tmp_path, slept):
    live, replay = JobStore(tmp_path / "live"), JobStore(tmp_path / "replay")
    asked: list[tuple[str, Any]] = []

    def replay_store(provider: str, request: Any) -> JobStore | None:
        asked.append((provider, request))
        return replay if provider == "fake" and request == REQUEST else None

    api = FakeAPI(RunContext(store=live, replay_store=replay_store))
    api.tune(REQUEST)
    assert Ledger(replay, "fake").get(api.key(REQUEST))["state"] == "succeeded"
    assert Ledger(live, "fake").get(api.key(REQUEST)) is None
    assert asked[0] == ("fake", REQUEST)


def test_a_deadline_less_than_a_second_away_is_still_waited_for(tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(remote.time, "monotonic", lambda: now[0])
    slept: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    api = FakeAPI(RunContext(store=JobStore(tmp_path), options={"job_timeout": "5.25"}), statuses=("queued", "running"))
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert str(err.value).startswith(
        "FakeAPI tuning job job-1 for fake-1 still running after 5.25 s (--ftb-job-timeout)"
    )
    assert slept == [1.0, 1.5, 2.25, 0.5]


def test_a_job_never_seen_times_out_as_unknown(tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(remote.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(remote.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    api = FakeAPI(RunContext(store=JobStore(tmp_path), options={"job_timeout": "3"}))
    api._add_job(api.key(REQUEST), "running")
    api.ledger.update(api.key(REQUEST), remote.L.RUNNING, job_id="job-1")  # no status recorded yet
    api.unreachable = True
    with pytest.raises(ProviderError) as err:
        api.tune(REQUEST)
    assert str(err.value) == (
        "FakeAPI tuning job job-1 for fake-1 still unknown after 3 s (--ftb-job-timeout); "
        "it keeps running at FakeAPI and a rerun resumes waiting for it"
    )


def test_a_dry_run_while_replaying_reads_the_replay_ledger(tmp_path, lines, slept):
    replay = JobStore(tmp_path / "replay")
    recorded = FakeAPI(RunContext(store=replay))
    recorded.tune(REQUEST)
    replaying = lambda provider, request: replay if (provider, request) == ("fake", REQUEST) else None  # noqa: E731
    api = FakeAPI(RunContext(store=JobStore(tmp_path / "live"), options={"dry_run": True}, replay_store=replaying))
    assert api._dry_run_line(REQUEST) == f"would reuse ft:job-1 (job job-1, ledger {api.key(REQUEST)})"
    assert (api.replaying(REQUEST), api.replaying(TuneRequest("fake-2", PAIRS))) == (True, False)
