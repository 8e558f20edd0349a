"""What every API provider shares outside tuning once: its options, stages and checkpoints,
concurrent answers, the verdict on a failed create, and the chat-completions call.

:mod:`.tuning` runs the tuning state machine on top of these; :mod:`..openai`, :mod:`..together`
and :mod:`..gemini` call them instead of writing each their own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from ...items import BASE, TUNED
from ...settings import setting
from .. import RunContext
from ..base import Answer, Prompt, ProviderError, TrainingPair, TuneRequest, chat_messages
from .cost import parse_prices

MAX_POLL_INTERVAL = 60.0
PROGRESS_SECONDS = 2.0  # while answering, a progress line at least this often

REFUSED, THROTTLED, UNCLEAR = "refused", "throttled", "unclear"


def chat_jsonl(pairs: Sequence[TrainingPair], system: str | None = None) -> bytes:
    """The chat-format JSONL that OpenAI and Together train on: one user/assistant exchange per pair,
    after the ``system`` message where the answers are asked with one."""
    lines = (
        json.dumps(
            {"messages": [*chat_messages(p.prompt, system), {"role": "assistant", "content": p.answer}]},
            ensure_ascii=False,
        )
        for p in pairs
    )
    return ("\n".join(lines) + "\n").encode()


def sleep(seconds: float) -> None:
    """Sleep for a poll or a backoff. ``time.sleep`` is looked up at call time, not bound at import:
    a cassette replay skips these sleeps by swapping it (:func:`..record.vcr.skip_sleeps`)."""
    if seconds > 0:
        time.sleep(seconds)


@dataclass(frozen=True)
class Unavailable:
    """An endpoint handle that answers nothing: every prompt is skipped with ``reason``."""

    reason: str


def check_stages(provider: str, stages: Sequence[str]) -> None:
    """A one-line :class:`ProviderError` for a stage that is not ``tuned``, ``base`` or ``epoch:N``."""
    for stage in stages:
        if stage not in (TUNED, BASE) and not (stage.startswith("epoch:") and stage[len("epoch:") :].isdigit()):
            raise ProviderError(f"the {provider} provider has no stage {stage!r} (known: tuned, base, epoch:N)")


def check_learning_rate(service: str, options: Mapping[str, Any], *, absolute: bool) -> None:
    """A one-line :class:`ProviderError` for the learning-rate option ``service`` does not take."""
    if not absolute and options.get("learning_rate") is not None:
        raise ProviderError(
            f"--ftb-learning-rate is an absolute rate for local models; {service} takes a multiplier of its own "
            "default:"
            " pass --ftb-learning-rate-multiplier instead (e.g. 2.0)"
        )
    if absolute and options.get("learning_rate_multiplier") is not None:
        raise ProviderError(
            f"--ftb-learning-rate-multiplier scales a default rate, but {service} takes an absolute learning rate:"
            " pass --ftb-learning-rate instead (e.g. 1e-5)"
        )


def requested_epochs(request: TuneRequest) -> int | None:
    """The epochs asked for: ``--ftb-epochs``, else the largest checkpoint epoch, else ``None`` (the API's default)."""
    s = request.settings
    if s.epochs is not None:
        return int(s.epochs)
    return max(s.checkpoint_epochs) if s.checkpoint_epochs else None


def checkpoint_or_skip(record: Mapping[str, Any], epoch: int, job: Any, why_missing: str) -> str | Unavailable:
    """The checkpoint handle of ``epoch`` in a succeeded ``record``, else why there is none."""
    ckpts = record.get("checkpoints") or {}
    if str(epoch) in ckpts:
        return ckpts[str(epoch)]
    have = ", ".join(sorted(ckpts, key=int)) or "none"
    n = record.get("n_epochs")
    why = f"the job trained {n} epochs" if n is not None and epoch > n else why_missing
    return Unavailable(f"no checkpoint for epoch {epoch} of job {job}: {why} (available epochs: {have})")


def answer_concurrently(
    label: str,
    prompts: Sequence[Prompt],
    one: Callable[[Prompt], Answer],
    concurrency: int,
    progress: Callable[[str], None],
) -> list[Answer]:
    """``one(prompt)`` for every prompt, ``concurrency`` at a time, in order; a progress line every
    ~5% of the answers and at least every :data:`PROGRESS_SECONDS`."""
    results: list[Answer] = [Answer(None)] * len(prompts)  # every slot is filled below
    total, done, failed = len(prompts), 0, 0
    step, last = max(1, total // 20), time.monotonic()
    workers = max(1, min(concurrency, total))
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="ftb-answer"
    ) as pool:  # pragma: no mutate (a thread name no output shows)
        futures = {pool.submit(one, p): i for i, p in enumerate(prompts)}
        for future in as_completed(futures):
            results[futures[future]] = answer = future.result()
            done += 1
            failed += answer.error is not None
            now = time.monotonic()
            if done == total or done % step == 0 or now - last > PROGRESS_SECONDS:
                last = now
                progress(f"{label}: {done}/{total} answers" + (f", {failed} failed" if failed else ""))
    return results


@dataclass(frozen=True)
class ApiOptions:
    """The ``--ftb-*`` options every API provider reads."""

    concurrency: int
    max_cost: float | None
    dry_run: bool
    job_timeout: float
    poll_interval: float
    max_poll_interval: float
    temperature: float
    seed: int
    seeds: int  # --ftb-seeds: every tuned model is K jobs, and --ftb-max-cost covers them all
    max_tokens: int
    retries: int
    prices: dict[str, float]

    @classmethod
    def from_ctx(
        cls,
        ctx: RunContext,
        prices: Mapping[str, float],
        *,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
    ) -> ApiOptions:
        """Read ``ctx.options`` (``poll_interval``/``max_poll_interval`` arguments override them, for tests).

        A poll interval of 0 is honored (every sleep is then instant), not replaced by the default.
        """
        o = ctx.options
        poll = float(setting(o, "poll_interval") if poll_interval is None else poll_interval)
        return cls(
            concurrency=max(1, int(setting(o, "concurrency"))),
            max_cost=None if o.get("max_cost") is None else float(o["max_cost"]),
            dry_run=bool(o.get("dry_run")),
            job_timeout=float(setting(o, "job_timeout")),
            poll_interval=poll,
            max_poll_interval=max(max_poll_interval, poll),
            temperature=float(setting(o, "temperature")),
            seed=int(setting(o, "seed")),
            seeds=max(1, int(setting(o, "seeds"))),
            max_tokens=int(setting(o, "max_new_tokens")),
            retries=int(setting(o, "api_retries")),
            prices={**prices, **parse_prices(o.get("price"))},
        )


def create_verdict(status: int | None, *, transport: bool = False, not_by_waiting: bool = False) -> str:
    """What a failed create launched: ``status`` is its HTTP status (``None``: no answer came).

    A 429 launched nothing: ``THROTTLED`` (re-sent after a backoff), or ``REFUSED`` where waiting
    cannot help (``not_by_waiting``: a billing or concurrent-jobs quota). A dropped connection or
    timeout (``transport``), 408, 409 and 5xx may have launched a job: ``UNCLEAR``. Any other
    status is a refusal.
    """
    if status is None:
        return UNCLEAR if transport else REFUSED
    if status == 429:
        return REFUSED if not_by_waiting else THROTTLED
    return UNCLEAR if status >= 500 or status in (408, 409) else REFUSED


def chat_answer(
    client: Any,
    model: str,
    prompt: Prompt,
    opts: ApiOptions,
    *,
    tokens_field: str = "max_tokens",
    system: str | None = None,
) -> Answer:
    """One chat completion of ``prompt`` (an OpenAI-style SDK client: openai, together) as an :class:`Answer`.

    ``tokens_field`` names the output cap (OpenAI: ``max_completion_tokens``); ``system`` the system
    message sent before it (none: the user turn alone). Raises the SDK's error.
    """
    reply = client.chat.completions.create(
        model=model,
        messages=chat_messages(prompt.text, system),
        temperature=opts.temperature,
        seed=opts.seed,
        **{tokens_field: opts.max_tokens},
    )
    message = reply.choices[0].message if reply.choices else None
    return Answer((message.content if message is not None else None) or "")


def start_client(sdk: Callable[..., Any], errors: type[BaseException], service: str, hint: str, **kwargs: Any) -> Any:
    """``sdk(**kwargs)``, an SDK client; a one-line :class:`ProviderError` naming ``hint`` if it cannot start."""
    try:
        return sdk(**kwargs)
    except errors as exc:
        raise ProviderError(f"the {service} client could not start: {exc} ({hint})") from None


def server_url(client: Any, env: str, default: str) -> str:
    """The server an OpenAI-style SDK talks to: its client's, else ``$env``, else ``default`` (no slash at the end)."""
    if client is not None:
        return str(client.base_url).rstrip("/")
    return (os.environ.get(env) or default).rstrip("/")
