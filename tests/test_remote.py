"""The API providers' shared pieces, without an API: concurrent answers and their progress lines,
stage names, requested epochs, missing checkpoints, and the options every API provider reads."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Answer, Prompt, ProviderError, TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.providers.hosted import api
from pytest_finetunebench.providers.hosted.api import (
    ApiOptions,
    Unavailable,
    answer_concurrently,
    check_stages,
    checkpoint_or_skip,
    requested_epochs,
)
from pytest_finetunebench.store.jobstore import JobStore


def prompts(n: int) -> list[Prompt]:
    return [Prompt(f"k{i}", f"q{i}") for i in range(1, n + 1)]


def echo(failing: frozenset[str] = frozenset()):
    def one(prompt: Prompt) -> Answer:
        return Answer(None, error="HTTP 500: boom") if prompt.text in failing else Answer(prompt.text.upper())

    return one


def test_answers_come_back_in_prompt_order_with_a_line_every_twentieth():
    lines: list[str] = []
    answers = answer_concurrently("gpt-x (tuned)", prompts(40), echo({"q3", "q10"}), 1, lines.append)
    assert [a.text for a in answers] == [None if i in (3, 10) else f"Q{i}" for i in range(1, 41)]
    assert [a.error for a in answers if a.error] == ["HTTP 500: boom", "HTTP 500: boom"]
    failed = lambda done: 0 if done < 3 else 1 if done < 10 else 2  # noqa: E731
    assert lines == [
        f"gpt-x (tuned): {d}/40 answers" + (f", {failed(d)} failed" if failed(d) else "") for d in range(2, 41, 2)
    ]


def test_fewer_than_forty_answers_get_a_line_each():
    lines: list[str] = []
    answer_concurrently("m", prompts(3), echo(), 4, lines.append)
    assert lines == ["m: 1/3 answers", "m: 2/3 answers", "m: 3/3 answers"]
    lines.clear()
    answer_concurrently("m", prompts(25), echo(), 1, lines.append)
    assert lines == [f"m: {n}/25 answers" for n in range(1, 26)]


def test_a_slow_batch_reports_at_least_every_two_seconds(monkeypatch):
    clock = iter(range(0, 1000))  # each reading of the clock is one second later
    monkeypatch.setattr(api.time, "monotonic", lambda: float(next(clock)))
    lines: list[str] = []
    answer_concurrently("m", prompts(100), echo(), 1, lines.append)
    # a line every 5th answer (100 // 20), and whenever more than 2 s passed since the last line
    assert lines[:6] == [
        "m: 3/100 answers",
        "m: 5/100 answers",
        "m: 8/100 answers",
        "m: 10/100 answers",
        "m: 13/100 answers",
        "m: 15/100 answers",
    ]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_no_more_prompts_in_flight_than_the_concurrency(concurrency):
    lock, now, most = threading.Lock(), [0], [0]

    def one(prompt: Prompt) -> Answer:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.02)
        with lock:
            now[0] -= 1
        return Answer(prompt.text)

    answer_concurrently("m", prompts(12), one, concurrency, lambda line: None)
    assert most[0] == concurrency


def test_no_prompts_no_lines():
    lines: list[str] = []
    assert answer_concurrently("m", [], echo(), 8, lines.append) == []
    assert lines == []


@pytest.mark.parametrize("stage", ["tuned", "base", "epoch:1", "epoch:12"])
def test_known_stages_pass(stage):
    check_stages("OpenAI", [stage])


@pytest.mark.parametrize("stage", ["epoch:", "epoch:x", "in_context", "Tuned"])
def test_an_unknown_stage_is_one_line(stage):
    with pytest.raises(ProviderError) as err:
        check_stages("OpenAI", ["tuned", stage])
    assert str(err.value) == f"the OpenAI provider has no stage {stage!r} (known: tuned, base, epoch:N)"


def request(epochs: int | None = None, checkpoints: tuple[int, ...] = ()) -> TuneRequest:
    return TuneRequest("m", (TrainingPair("q", "a"),), TuneSettings(epochs=epochs, checkpoint_epochs=checkpoints))


def test_requested_epochs():
    assert requested_epochs(request(epochs=4, checkpoints=(2, 9))) == 4
    assert requested_epochs(request(checkpoints=(2, 9, 5))) == 9
    assert requested_epochs(request()) is None


def test_a_checkpoint_that_exists_is_its_handle():
    assert (
        checkpoint_or_skip({"checkpoints": {"2": "ckpt-2", "3": "ckpt-3"}, "n_epochs": 3}, 2, "job-1", "why")
        == "ckpt-2"
    )


def test_a_checkpoint_past_the_last_epoch_says_how_many_were_trained():
    got = checkpoint_or_skip(
        {"checkpoints": {"10": "c10", "9": "c9"}, "n_epochs": 10}, 11, "job-1", "only the last three are kept"
    )
    assert got == Unavailable(
        "no checkpoint for epoch 11 of job job-1: the job trained 10 epochs (available epochs: 9, 10)"
    )


def test_a_checkpoint_the_api_did_not_keep_says_why():
    got = checkpoint_or_skip({"checkpoints": {}, "n_epochs": 10}, 10, "job-1", "only the last three are kept")
    assert got == Unavailable(
        "no checkpoint for epoch 10 of job job-1: only the last three are kept (available epochs: none)"
    )
    got = checkpoint_or_skip({}, 3, "job-2", "not exported")
    assert got == Unavailable("no checkpoint for epoch 3 of job job-2: not exported (available epochs: none)")


def options(tmp_path, **given) -> ApiOptions:
    return ApiOptions.from_ctx(RunContext(store=JobStore(tmp_path), options=given), {"gpt-x": 3.0})


def test_api_options_defaults(tmp_path):
    assert options(tmp_path) == ApiOptions(
        concurrency=16,
        max_cost=None,
        dry_run=False,
        job_timeout=21600.0,
        poll_interval=10.0,
        max_poll_interval=60.0,
        temperature=0.0,
        seed=0,
        seeds=1,
        max_tokens=32,
        retries=8,
        prices={"gpt-x": 3.0},
    )


def test_api_options_from_the_flags(tmp_path):
    got = options(
        tmp_path,
        concurrency="0",
        max_cost="2.5",
        dry_run=True,
        job_timeout="60",
        poll_interval="0",
        temperature="0.7",
        seed="7",
        max_new_tokens="64",
        api_retries="0",
        price=["gpt-x:4", "gpt-y:1.5"],
    )
    assert got == ApiOptions(
        concurrency=1,
        max_cost=2.5,
        dry_run=True,
        job_timeout=60.0,
        poll_interval=0.0,
        max_poll_interval=60.0,
        temperature=0.7,
        seed=7,
        seeds=1,
        max_tokens=64,
        retries=0,
        prices={"gpt-x": 4.0, "gpt-y": 1.5},
    )


def test_a_poll_interval_above_the_cap_raises_the_cap(tmp_path):
    assert options(tmp_path, poll_interval="90").max_poll_interval == 90.0
    got = ApiOptions.from_ctx(
        RunContext(store=JobStore(tmp_path), options={"poll_interval": "5"}),
        {},
        poll_interval=0.5,
        max_poll_interval=2.0,
    )
    assert (got.poll_interval, got.max_poll_interval) == (0.5, 2.0)


def test_sleep_skips_zero_and_negative(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(api.time, "sleep", slept.append)
    api.sleep(0)
    api.sleep(-1)
    api.sleep(0.25)
    assert slept == [0.25]


@pytest.mark.parametrize(
    ("status", "transport", "not_by_waiting", "verdict"),
    [
        (None, False, False, "refused"),  # an error the SDK raised before sending
        (None, True, False, "unclear"),  # connection dropped or timed out: a job may exist
        (429, False, False, "throttled"),
        (429, False, True, "refused"),  # a quota that waiting does not free
        (400, False, False, "refused"),
        (404, False, False, "refused"),
        (408, False, False, "unclear"),
        (409, False, False, "unclear"),
        (500, False, False, "unclear"),
        (503, False, False, "unclear"),
    ],
)
def test_a_failed_create_is_classified_once_for_every_api(status, transport, not_by_waiting, verdict):
    assert api.create_verdict(status, transport=transport, not_by_waiting=not_by_waiting) == verdict


def test_every_api_default_is_the_option_tables(tmp_path):
    from pytest_finetunebench.options import OPTIONS

    table = {o.name: o.default for o in OPTIONS}
    got = api.ApiOptions.from_ctx(RunContext(store=JobStore(tmp_path)), {})
    assert (got.concurrency, got.job_timeout, got.poll_interval, got.temperature, got.seed, got.max_tokens) == (
        table["concurrency"], table["job-timeout"], table["poll-interval"], table["temperature"], table["seed"],
        table["max-new-tokens"])  # fmt: skip
    assert (got.retries, got.max_poll_interval, got.max_cost, got.dry_run) == (table["api-retries"], 60.0, None, False)
