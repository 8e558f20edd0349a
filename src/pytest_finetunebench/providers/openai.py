"""OpenAI fine-tuning: upload, launch exactly one paid job per training set, wait, answer.

Models: supervised-tunable chat models (``gpt-4o-2024-08-06``, ``gpt-4o-mini-2024-07-18``,
``gpt-4.1-*``, ``gpt-3.5-turbo-0125``, ...) are tuned; ``ft:...`` ids are evaluated as they are
(no training); ``openai:<name>`` is ``<name>`` at any compatible server. The SDK reads
``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` from the environment.

Exactly one job per key. The tuning key hashes the model, the pairs, the settings and the base
URL. Under a cross-process lock on the key (:meth:`Ledger.claim`), a run

1. reuses what the ledger recorded (a finished model, or a job id to wait for);
2. else asks the API for a job tagged ``metadata.ftb_key=<key>`` (a run killed after the
   create was accepted, or a create whose response was lost, left one);
3. else estimates the cost, uploads the JSONL, records ``creating`` and sends the create with the
   SDK's retries off (the SDK sends no idempotency key: its retry could launch a second paid
   job). When the outcome is unknown (connection dropped, 5xx), it looks the job up again before
   it ever sends another create.

Stages: ``base`` is the base model, ``tuned`` the final model, ``epoch:N`` the checkpoint after
epoch N (OpenAI keeps checkpoints of the last three epochs only; other epochs are skipped with
the reason).
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .. import ledger as L
from ..ledger import Ledger
from . import RunContext
from .base import BASE, TUNED, Answer, Endpoint, Prompt, ProviderError, TrainingPair, TuneRequest
from .cost import parse_prices, price_for

import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# USD per 1M training tokens (supervised fine-tuning, OpenAI's price list). Matched by the longest
# prefix of the model name; --ftb-price MODEL:USD overrides or adds entries.
PRICES_PER_1M: dict[str, float] = {
    "gpt-4o-mini": 3.00,
    "gpt-4o": 25.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
    "gpt-3.5-turbo": 8.00,
    "davinci-002": 6.00,
    "babbage-002": 0.40,
}

MAX_POLL_INTERVAL = 60.0
_ACTIVE = ("validating_files", "queued", "running", "pausing", "paused")


@dataclass(frozen=True)
class Unavailable:
    """An endpoint handle that answers nothing: every prompt is skipped with ``reason``."""

    reason: str


@dataclass(frozen=True)
class Plan:
    """What launching a job costs, estimated before anything is uploaded."""

    model: str
    n_examples: int
    tokens_per_epoch: int
    n_epochs: int
    epochs_auto: bool
    price_per_1m: float | None

    @property
    def training_tokens(self) -> int:
        return self.tokens_per_epoch * self.n_epochs

    @property
    def cost(self) -> float | None:
        return None if self.price_per_1m is None else self.training_tokens * self.price_per_1m / 1e6

    def describe(self) -> str:
        epochs = f"{self.n_epochs} epochs" + (" (auto, estimated)" if self.epochs_auto else "")
        price = f"${self.price_per_1m:.2f}/1M = {usd(self.cost)} (estimate)" if self.price_per_1m is not None else "no known price (pass --ftb-price MODEL:USD)"
        return f"{self.model} on {self.n_examples} examples: ~{self.tokens_per_epoch:,} tokens x {epochs} = ~{self.training_tokens:,} training tokens x {price}"


def usd(amount: float | None) -> str:
    """``$12.34``; small amounts keep four decimals (``$0.0023``)."""
    if amount is None:
        return "unknown"
    return f"${amount:.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"


def create(ctx: RunContext) -> "OpenAIProvider":
    """The registry's factory."""
    return OpenAIProvider(ctx)


def api_model(name: str) -> str:
    """The model name as the API spells it (``openai:<name>`` -> ``<name>``)."""
    return name[len("openai:") :] if name.startswith("openai:") else name


def training_jsonl(pairs: Sequence[TrainingPair]) -> bytes:
    """The chat-format JSONL OpenAI trains on: one user/assistant exchange per pair."""
    lines = (
        json.dumps({"messages": [{"role": "user", "content": p.prompt}, {"role": "assistant", "content": p.answer}]}, ensure_ascii=False)
        for p in pairs
    )
    return ("\n".join(lines) + "\n").encode()


def estimate_tokens(pairs: Sequence[TrainingPair]) -> int:
    """Training tokens per epoch, estimated without a tokenizer (~4 UTF-8 bytes a token, plus the chat format's overhead)."""
    total = 0
    for p in pairs:
        total += 3 + 2 * 4  # priming + per-message overhead
        total += math.ceil(len(p.prompt.encode()) / 4) + math.ceil(len(p.answer.encode()) / 4)
    return total


def auto_epochs(n_examples: int) -> int:
    """OpenAI's rule for ``n_epochs="auto"``: 3, stretched so small sets see ~100 examples (at most 25)."""
    if n_examples * 3 < 100:
        return min(25, math.ceil(100 / max(n_examples, 1)))
    if n_examples * 3 > 25000:
        return max(1, 25000 // n_examples)
    return 3


def api_message(exc: BaseException) -> str:
    """The API's own error text (``HTTP 400: <message>``), else the exception's."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    if isinstance(exc, openai.APIError):
        cause = exc.__cause__
        return f"{exc.message}" + (f" ({type(cause).__name__}: {cause})" if cause else "")
    return f"{type(exc).__name__}: {exc}"


def _ambiguous(exc: BaseException) -> bool:
    """Whether a failed create may nevertheless have launched a job (the request reached the server)."""
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code >= 500 or exc.status_code in (408, 409, 429))


class OpenAIProvider:
    """The OpenAI provider (also any OpenAI-compatible server through ``OPENAI_BASE_URL``)."""

    name = "openai"

    def __init__(
        self,
        ctx: RunContext,
        *,
        client: Any = None,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        o = ctx.options
        self.ctx = ctx
        self.ledger = Ledger(ctx.store, self.name)
        self.concurrency = max(1, int(o.get("concurrency") or 16))
        self.max_cost = None if o.get("max_cost") is None else float(o["max_cost"])
        self.dry_run = bool(o.get("dry_run"))
        self.job_timeout = float(o.get("job_timeout") or 21600.0)
        self.poll_interval = float(poll_interval if poll_interval is not None else (o.get("poll_interval") or 10.0))
        self.max_poll_interval = max(max_poll_interval, self.poll_interval)
        self.temperature = float(o.get("temperature") or 0.0)
        self.seed = int(o.get("seed") or 0)
        self.max_tokens = int(o.get("max_new_tokens") or 32)
        self.retries = int(o["api_retries"]) if o.get("api_retries") is not None else 8
        self.prices = {**PRICES_PER_1M, **parse_prices(o.get("price"))}
        self._client = client
        # time.sleep looked up at call time, not bound at import: a cassette replay skips these
        # poll sleeps by swapping time.sleep (cassettes.skip_sleeps). Edit by the cassettes work.
        self._sleep = sleep if sleep is not None else (lambda seconds: time.sleep(seconds))

    # -- the client --------------------------------------------------------------------------

    @property
    def client(self) -> "openai.OpenAI":
        if self._client is None:
            try:
                self._client = openai.OpenAI(max_retries=self.retries)
            except openai.OpenAIError as exc:
                raise ProviderError(f"the OpenAI client could not start: {exc} (set OPENAI_API_KEY; OPENAI_BASE_URL for a compatible server)") from None
        return self._client

    def base_url(self) -> str:
        if self._client is not None:
            return str(self._client.base_url).rstrip("/")
        return (os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")

    def key(self, request: TuneRequest) -> str:
        """The tuning key: the request's hash salted with the provider and the server."""
        return request.key(salt=f"openai|{self.base_url()}")

    def plan(self, request: TuneRequest) -> Plan:
        model = api_model(request.model)
        n_epochs = self._n_epochs(request)
        n = len(request.pairs)
        return Plan(model, n, estimate_tokens(request.pairs), n_epochs if n_epochs != "auto" else auto_epochs(n), n_epochs == "auto", price_for(model, self.prices))

    # -- Provider protocol -------------------------------------------------------------------

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        model = api_model(request.model)
        for stage in stages:
            if stage not in (TUNED, BASE) and _epoch_of(stage) is None:
                raise ProviderError(f"the openai provider has no stage {stage!r} (known: tuned, base, epoch:N)")
        needs_tuning = any(s != BASE for s in stages)

        if model.startswith("ft:"):
            return self._pretuned(request.model, model, stages)

        if self.dry_run:
            reason = "dry run (--ftb-dry-run): " + (self._dry_run_line(request) if needs_tuning else f"would ask {model}") + "; launched nothing"
            self.ctx.progress(f"openai: {reason}")
            return {s: Endpoint(request.model, s, Unavailable(reason)) for s in stages}

        out: dict[str, Endpoint] = {}
        if BASE in stages:
            out[BASE] = Endpoint(request.model, BASE, model)
        if needs_tuning:
            record = self.tune(request)
            for stage in stages:
                if stage == TUNED:
                    out[stage] = Endpoint(request.model, stage, record["tuned_model"])
                elif stage != BASE:
                    out[stage] = Endpoint(request.model, stage, self._checkpoint(record, _epoch_of(stage)))
        return {s: out[s] for s in stages}

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        if isinstance(endpoint.handle, Unavailable):
            return [Answer(None, skip=endpoint.handle.reason) for _ in prompts]
        if not prompts:
            return []
        client = self.client.with_options(max_retries=self.retries)
        model = str(endpoint.handle)

        def one(prompt: Prompt) -> Answer:
            try:
                reply = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": prompt.text}],
                    temperature=self.temperature,
                    seed=self.seed,
                    max_tokens=self.max_tokens,
                )
                return Answer(reply.choices[0].message.content or "")
            except Exception as exc:  # every prompt gets an Answer: the API's message if it failed
                return Answer(None, error=api_message(exc))

        results: list[Answer | None] = [None] * len(prompts)
        total, done, errors = len(prompts), 0, 0
        step, last = max(1, total // 20), time.monotonic()
        label = f"openai {endpoint.model} [{endpoint.stage}]"
        with ThreadPoolExecutor(max_workers=min(self.concurrency, total), thread_name_prefix="ftb-openai") as pool:
            futures = {pool.submit(one, p): i for i, p in enumerate(prompts)}
            for future in as_completed(futures):
                results[futures[future]] = answer = future.result()
                done += 1
                errors += answer.error is not None
                now = time.monotonic()
                if done == total or done % step == 0 or now - last > 2.0:
                    last = now
                    self.ctx.progress(f"{label}: {done}/{total} answers" + (f", {errors} failed" if errors else ""))
        return [a if a is not None else Answer(None, error="no answer (internal error)") for a in results]

    # -- tuning ------------------------------------------------------------------------------

    def tune(self, request: TuneRequest) -> dict[str, Any]:
        """The ledger record of the succeeded job for ``request``, launching it only if none exists."""
        key = self.key(request)
        model = api_model(request.model)
        with self.ledger.claim(key):
            record = self.ledger.get(key)
            state = record["state"] if record else None
            if state == L.SUCCEEDED:
                return record
            if state == L.FAILED:
                raise ProviderError(f"{record['error']} [recorded in {self.ledger.path(key)}; delete it to launch a new job]")
            if record is None or not record.get("job_id"):
                job = self._find_job(key, include_failed=state == L.CREATING, settle=state == L.CREATING)
                if job is None:
                    job = self._launch(key, request, record)
                record = self.ledger.update(key, L.RUNNING, note=f"job {job.id}", job_id=job.id, remote_status=job.status)
            return self._wait(key, record, n_examples=len(request.pairs), model=model)

    def _launch(self, key: str, request: TuneRequest, record: dict | None) -> Any:
        plan = self.plan(request)
        self.ctx.progress(f"openai: launching a fine-tuning job: {plan.describe()}")
        if self.max_cost is not None:
            if plan.cost is None:
                raise ProviderError(f"refusing to launch: no training price known for {plan.model}, so --ftb-max-cost {self.max_cost:g} cannot be checked; pass --ftb-price {plan.model}:USD_PER_1M")
            if plan.cost > self.max_cost:
                raise ProviderError(f"refusing to launch: estimated cost {usd(plan.cost)} exceeds --ftb-max-cost {usd(self.max_cost)} ({plan.describe()})")
        if record is None:
            record = self.ledger.update(
                key,
                L.NEW,
                ftb_key=key,
                model=plan.model,
                base_url=self.base_url(),
                n_examples=plan.n_examples,
                estimated_training_tokens=plan.training_tokens,
                estimated_cost_usd=None if plan.cost is None else round(plan.cost, 4),
            )
        file_id = self._upload(key, request, record)
        hyper: dict[str, Any] = {"n_epochs": self._n_epochs(request)}
        if request.settings.batch_size is not None:
            hyper["batch_size"] = request.settings.batch_size
        if request.settings.learning_rate is not None:
            hyper["learning_rate_multiplier"] = request.settings.learning_rate
        body = dict(
            model=plan.model,
            training_file=file_id,
            method={"type": "supervised", "supervised": {"hyperparameters": hyper}},
            seed=request.settings.seed,
            suffix=f"ftb-{key[:8]}",
            metadata={"ftb_key": key},
        )
        creator = self.client.with_options(max_retries=0)
        attempts = int(record.get("create_attempts", 0))
        backoff = self.poll_interval
        for attempt in range(1, 6):
            attempts += 1
            self.ledger.update(key, L.CREATING, note="create sent", create_attempts=attempts)
            try:
                return creator.fine_tuning.jobs.create(**body)
            except openai.APIError as exc:
                message = api_message(exc)
                if not _ambiguous(exc):
                    self.ledger.update(key, L.UPLOADED, note=f"create refused: {message}", last_error=message)
                    raise ProviderError(f"OpenAI refused the fine-tuning job for {plan.model}: {message}") from None
                self.ctx.progress(f"openai: job create for {plan.model} got no clear answer ({message}); looking for it before retrying")
                self._sleep(backoff)
                job = self._find_job(key, include_failed=True, settle=True)
                if job is not None:
                    return job
                if attempt == 5:
                    raise ProviderError(f"could not create the fine-tuning job for {plan.model}: {message} (a rerun looks the job up first, then retries)") from None
                backoff = min(backoff * 2, self.max_poll_interval)
        raise AssertionError("unreachable")

    def _upload(self, key: str, request: TuneRequest, record: dict) -> str:
        file_id = record.get("file_id")
        if file_id:
            try:
                f = self.client.files.retrieve(file_id)
                if f.status != "error":
                    return self._wait_file(file_id)
            except openai.NotFoundError:
                pass
        try:
            f = self.client.files.create(file=(f"ftb-{key}.jsonl", training_jsonl(request.pairs), "application/jsonl"), purpose="fine-tune")
        except openai.APIError as exc:
            raise ProviderError(f"uploading the training file failed: {api_message(exc)}") from None
        self.ledger.update(key, L.UPLOADED, note=f"file {f.id}", file_id=f.id)
        return self._wait_file(f.id)

    def _wait_file(self, file_id: str) -> str:
        deadline = time.monotonic() + self.job_timeout
        interval = min(self.poll_interval, 2.0)
        while True:
            try:
                f = self.client.files.retrieve(file_id)
            except openai.APIError as exc:
                raise ProviderError(f"checking training file {file_id} failed: {api_message(exc)}") from None
            if f.status == "processed":
                return file_id
            if f.status == "error":
                raise ProviderError(f"OpenAI rejected training file {file_id}: {f.status_details or 'status error'}")
            if time.monotonic() > deadline:
                raise ProviderError(f"training file {file_id} still {f.status} after {self.job_timeout:g} s (--ftb-job-timeout)")
            self._sleep(interval)
            interval = min(interval * 1.5, self.max_poll_interval)

    def _find_job(self, key: str, *, include_failed: bool, settle: bool = False) -> Any | None:
        """The newest job tagged ``ftb_key=key``; failed/cancelled ones only with ``include_failed``.

        ``settle``: the job may have been created moments ago; if none is listed, wait a poll
        interval and look once more (a listing may lag a create).
        """
        for look in range(2 if settle else 1):
            if look:
                self._sleep(self.poll_interval)
            try:
                jobs = [j for j in self.client.fine_tuning.jobs.list(metadata={"ftb_key": key}, limit=100) if (j.metadata or {}).get("ftb_key") == key]
            except openai.APIError as exc:
                raise ProviderError(f"looking up earlier fine-tuning jobs failed: {api_message(exc)}") from None
            jobs.sort(key=lambda j: j.created_at, reverse=True)
            for wanted in (("succeeded",), _ACTIVE) + ((("failed", "cancelled"),) if include_failed else ()):
                for job in jobs:
                    if job.status in wanted:
                        self.ctx.progress(f"openai: resuming job {job.id} ({job.status}) found by its ftb_key {key}")
                        return job
        return None

    def _wait(self, key: str, record: dict, *, n_examples: int, model: str) -> dict[str, Any]:
        job_id = record["job_id"]
        started = time.monotonic()
        deadline = started + self.job_timeout
        interval = self.poll_interval
        status = record.get("remote_status")
        while True:
            try:
                job = self.client.fine_tuning.jobs.retrieve(job_id)
            except openai.NotFoundError as exc:
                message = f"fine-tuning job {job_id} for {model} is gone: {api_message(exc)}"
                self.ledger.update(key, L.FAILED, note=message, error=message)
                raise ProviderError(message) from None
            except openai.APIError as exc:  # transient (the SDK already retried): keep waiting
                job = None
                self.ctx.progress(f"openai {model} {job_id}: status check failed ({api_message(exc)}), retrying")
            if job is not None:
                if job.status != status:
                    status = job.status
                    record = self.ledger.update(key, L.RUNNING, note=f"remote {status}", remote_status=status)
                if status == "succeeded":
                    checkpoints = self._checkpoints(job, n_examples)
                    self.ctx.progress(f"openai {model} {job_id}: succeeded -> {job.fine_tuned_model} ({job.trained_tokens or 0:,} trained tokens)")
                    return self.ledger.update(
                        key,
                        L.SUCCEEDED,
                        tuned_model=job.fine_tuned_model,
                        trained_tokens=job.trained_tokens,
                        n_epochs=_int(job.hyperparameters.n_epochs),
                        checkpoints=checkpoints,
                    )
                if status in ("failed", "cancelled"):
                    detail = job.error.message if job.error and job.error.message else f"the job was {status}"
                    code = f" ({job.error.code})" if job.error and job.error.code else ""
                    message = f"fine-tuning job {job_id} for {model} {status}: {detail}{code}"
                    self.ledger.update(key, L.FAILED, note=message, error=message)
                    raise ProviderError(message)
                self.ctx.progress(self._progress_line(job, model, time.monotonic() - started))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"fine-tuning job {job_id} for {model} still {status} after {self.job_timeout:g} s (--ftb-job-timeout); "
                    "it keeps running at OpenAI and a rerun resumes waiting for it"
                )
            self._sleep(min(interval, remaining))
            interval = min(interval * 1.5, self.max_poll_interval)

    def _progress_line(self, job: Any, model: str, elapsed: float) -> str:
        parts = [f"openai {model} {job.id}: {job.status}"]
        if job.trained_tokens:
            parts.append(f"{job.trained_tokens:,} tokens trained")
        if job.estimated_finish:
            parts.append("ETA " + time.strftime("%H:%M:%S", time.localtime(job.estimated_finish)))
        parts.append(f"{elapsed:.0f}s waited")
        try:
            events = self.client.fine_tuning.jobs.list_events(job.id, limit=1).data
            if events:
                parts.append(events[0].message)
        except openai.APIError:
            pass
        return ", ".join(parts)

    def _checkpoints(self, job: Any, n_examples: int) -> dict[str, str]:
        """``{epoch: checkpoint model}`` for the checkpoints OpenAI kept (the last epochs)."""
        try:
            items = list(self.client.fine_tuning.jobs.checkpoints.list(job.id, limit=100))
        except openai.APIError as exc:
            self.ctx.progress(f"openai {job.id}: listing checkpoints failed ({api_message(exc)}); epoch stages other than the last are skipped")
            items = []
        n_epochs = _int(job.hyperparameters.n_epochs)
        batch = _int(job.hyperparameters.batch_size)
        steps = sorted((c.step_number, c.fine_tuned_model_checkpoint) for c in items)
        out: dict[str, str] = {}
        per_epoch = math.ceil(n_examples / batch) if batch and n_examples else None
        if per_epoch and all(step % per_epoch == 0 for step, _ in steps):
            out = {str(step // per_epoch): name for step, name in steps}
        elif n_epochs:  # checkpoints are taken at the end of the last epochs: count back from the last
            out = {str(n_epochs - (len(steps) - 1 - i)): name for i, (_, name) in enumerate(steps)}
        if n_epochs and str(n_epochs) not in out and job.fine_tuned_model:
            out[str(n_epochs)] = job.fine_tuned_model
        return out

    def _checkpoint(self, record: dict, epoch: int) -> str | Unavailable:
        ckpts = record.get("checkpoints") or {}
        if str(epoch) in ckpts:
            return ckpts[str(epoch)]
        have = ", ".join(sorted(ckpts, key=int)) or "none"
        n = record.get("n_epochs")
        why = f"the job trained {n} epochs" if n is not None and epoch > n else "OpenAI keeps checkpoints of the last three epochs only"
        return Unavailable(f"no checkpoint for epoch {epoch} of job {record.get('job_id')}: {why} (available epochs: {have})")

    def _pretuned(self, name: str, model: str, stages: Sequence[str]) -> dict[str, Endpoint]:
        base = model.split(":")[1] if model.count(":") >= 1 else model
        out = {}
        for stage in stages:
            if self.dry_run:
                handle: Any = Unavailable(f"dry run (--ftb-dry-run): would ask {model if stage == TUNED else base}; launched nothing")
            elif stage == TUNED:
                handle = model
            elif stage == BASE:
                handle = base
            else:
                handle = Unavailable(f"{model} is evaluated as given (no training here), so it has no epoch checkpoints")
            out[stage] = Endpoint(name, stage, handle)
        return out

    def _dry_run_line(self, request: TuneRequest) -> str:
        key = self.key(request)
        record = self.ledger.get(key)
        if record and record["state"] == L.SUCCEEDED:
            return f"would reuse {record['tuned_model']} (job {record['job_id']}, ledger {key})"
        if record and record.get("job_id"):
            return f"would resume waiting for job {record['job_id']} ({record.get('remote_status')}, ledger {key})"
        plan = self.plan(request)
        line = f"would upload {plan.n_examples} examples and launch a fine-tuning job: {plan.describe()}"
        if self.max_cost is not None and (plan.cost is None or plan.cost > self.max_cost):
            line += f"; --ftb-max-cost {usd(self.max_cost)} would refuse it"
        return line

    @staticmethod
    def _n_epochs(request: TuneRequest) -> int | str:
        s = request.settings
        if s.epochs is not None:
            return int(s.epochs)
        return max(s.checkpoint_epochs) if s.checkpoint_epochs else "auto"


def _epoch_of(stage: str) -> int | None:
    if stage.startswith("epoch:"):
        try:
            return int(stage.split(":", 1)[1])
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["OpenAIProvider", "Plan", "Unavailable", "create", "training_jsonl"]
