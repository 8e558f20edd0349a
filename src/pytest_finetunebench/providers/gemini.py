"""Gemini tuning on Vertex AI: upload to Cloud Storage, launch exactly one tuning job per training set, wait, answer.

Gemini models are tuned only on Vertex AI (the Gemini Developer API's tuning is gone), so this
provider needs a Google Cloud project and region (``--ftb-gcp-project``/``--ftb-gcp-location`` or
``GOOGLE_CLOUD_PROJECT``/``GOOGLE_CLOUD_LOCATION``), Application Default Credentials and, to tune, a
Cloud Storage bucket for the training file (``--ftb-gcs-bucket BUCKET[/PREFIX]``) or a training
file already there (``--ftb-gcs-training-uri gs://...jsonl``, used as is: no upload).

Models: ``gemini-2.5-flash``, ``gemini-2.5-pro``, ``gemini-2.5-flash-lite``, ``gemini-2.0-flash-001``,
``gemini-2.0-flash-lite-001`` and whatever else Vertex AI tunes (the API's own message says when
it does not). The paper's ``gemini-1.5-flash-002``/``gemini-1.5-pro-002`` are retired: a one-line
error names the replacement.

Exactly one job per key, as for OpenAI (see :mod:`.openai`). The key hashes the model, the pairs,
the settings, the adapter size, a given training URI and the Vertex endpoint (base URL, project,
region). Under :meth:`Ledger.claim` a run reuses the ledger's record, else finds a job labelled
``ftb_key=<key>`` (``tunings.list`` with ``filter=labels.ftb_key="<key>"``), else uploads, records
``creating`` and creates the job with the SDK's retries off; when a create's outcome is unknown it
looks the job up again before it ever sends another.

Stages: ``base`` is the base model, ``tuned`` the tuned model's endpoint, ``epoch:N`` the endpoint
of the checkpoint Vertex AI exported after epoch N (``tuned_model.checkpoints``).

Answers: ``models.generate_content`` on the endpoint, ``--ftb-concurrency`` at a time, with
temperature, seed and ``max_output_tokens`` from the options; thinking is turned off (2.5 Flash
models) or to its minimum (2.5 Pro, whose thinking tokens are added to the output budget). 408,
429 and 5xx are retried ``--ftb-api-retries`` times with backoff (retry-after honored); an answer
that still fails records the API's message.

Sleeps (job polls, retry backoff) all scale with ``--ftb-poll-interval``: 0 makes them instant
(for replayed cassettes). Base URLs: ``GOOGLE_VERTEX_BASE_URL`` (google-genai's own override) and
``STORAGE_EMULATOR_HOST`` (google-cloud-storage's) point the clients at an emulator such as
:mod:`pytest_finetunebench.testing.vertex_emulator`.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .. import ledger as L
from ..ledger import Ledger
from . import RunContext
from .base import BASE, TUNED, Answer, Endpoint, Prompt, ProviderError, TrainingPair, TuneRequest
from .cost import parse_prices, price_for

import google.auth.exceptions
from google import genai
from google.genai import errors, types


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The transport errors of whichever HTTP client google-genai uses (httpx or httpx2)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx", "httpx2"):
        try:
            found.append(__import__(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()

MAX_POLL_INTERVAL = 60.0
MAX_RETRY_DELAY = 30.0
RETRY_CODES = frozenset({408, 429, 500, 502, 503, 504})

SUCCEEDED_STATES = ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED")
FAILED_STATES = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")
ACTIVE_STATES = ("JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING", "JOB_STATE_PAUSED", "JOB_STATE_UPDATING", "JOB_STATE_UNSPECIFIED")

# Retired models (Google shut down Gemini 1.0 and 1.5 in 2025) and what to use instead.
RETIRED = {"gemini-1.5-pro": "gemini-2.5-pro", "gemini-1.5-flash": "gemini-2.5-flash", "gemini-1.0-pro": "gemini-2.5-flash", "gemini-pro": "gemini-2.5-flash"}
TUNABLE_HINT = "gemini-2.5-flash, gemini-2.5-pro, gemini-2.5-flash-lite, gemini-2.0-flash-001"

# USD per 1M training tokens (Vertex AI's supervised tuning price list, 2025; an estimate: tokens are
# counted without a tokenizer). Matched by the longest prefix; --ftb-price MODEL:USD overrides.
PRICES_PER_1M: dict[str, float] = {
    "gemini-2.5-pro": 25.00,
    "gemini-2.5-flash": 5.00,
    "gemini-2.5-flash-lite": 1.50,
    "gemini-2.0-flash": 3.00,
    "gemini-2.0-flash-lite": 1.00,
}

ADAPTER_SIZES = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR", 8: "ADAPTER_SIZE_EIGHT", 16: "ADAPTER_SIZE_SIXTEEN", 32: "ADAPTER_SIZE_THIRTY_TWO"}

CREDENTIALS_HINT = "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"


@dataclass(frozen=True)
class Unavailable:
    """An endpoint handle that answers nothing: every prompt is skipped with ``reason``."""

    reason: str


def create(ctx: RunContext) -> "GeminiProvider":
    """The registry's factory."""
    return GeminiProvider(ctx)


def training_jsonl(pairs: Sequence[TrainingPair]) -> bytes:
    """Vertex AI's supervised-tuning JSONL: one user/model exchange per pair."""
    lines = (
        json.dumps({"contents": [{"role": "user", "parts": [{"text": p.prompt}]}, {"role": "model", "parts": [{"text": p.answer}]}]}, ensure_ascii=False)
        for p in pairs
    )
    return ("\n".join(lines) + "\n").encode()


def retired(model: str) -> str | None:
    """The one-line error for a retired model name, or ``None``."""
    for prefix, instead in RETIRED.items():
        if model == prefix or model.startswith(prefix + "-"):
            return (
                f"{model} is retired: Google shut down the Gemini 1.0 and 1.5 models (the paper's gemini-1.5-flash-002 and "
                f"gemini-1.5-pro-002), so it can be neither tuned nor asked; use {instead} instead (Vertex AI tunes {TUNABLE_HINT})"
            )
    return None


def estimate_tokens(pairs: Sequence[TrainingPair]) -> int:
    """Training tokens per epoch, estimated without a tokenizer (~4 UTF-8 bytes a token, plus a little per turn)."""
    return sum(8 + math.ceil(len(p.prompt.encode()) / 4) + math.ceil(len(p.answer.encode()) / 4) for p in pairs)


def api_message(exc: BaseException) -> str:
    """The API's own error text (``HTTP 429 RESOURCE_EXHAUSTED: <message>``), else the exception's."""
    if isinstance(exc, errors.APIError):
        status = f" {exc.status}" if exc.status else ""
        return f"HTTP {exc.code}{status}: {exc.message or exc.details}"
    code = getattr(exc, "code", None)
    if isinstance(code, int) and hasattr(exc, "message"):  # google.api_core.exceptions.GoogleAPICallError (Cloud Storage)
        return f"HTTP {code}: {exc.message}"
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return f"Google Cloud credentials: {exc} ({CREDENTIALS_HINT})"
    return f"{type(exc).__name__}: {exc}"


def _ambiguous(exc: BaseException) -> bool:
    """Whether a failed create may nevertheless have launched a job (the request reached the server)."""
    if isinstance(exc, errors.APIError):
        return exc.code >= 500 or exc.code in (408, 409, 429)
    return isinstance(exc, TRANSPORT_ERRORS)


def _state(job: Any) -> str:
    state = getattr(job, "state", None)
    return str(getattr(state, "value", state) or "JOB_STATE_UNSPECIFIED")


def _pretty(state: str) -> str:
    return state.removeprefix("JOB_STATE_").lower()


def _thinking(model: str) -> tuple[types.ThinkingConfig | None, int]:
    """The thinking setting for answers from ``model`` and the tokens it adds to the output budget."""
    if model.startswith("gemini-2.5-pro"):
        return types.ThinkingConfig(thinking_budget=128), 128  # Pro cannot turn thinking off
    if model.startswith("gemini-2.5-flash"):
        return types.ThinkingConfig(thinking_budget=0), 0
    return None, 0


class GeminiProvider:
    """The Gemini provider (Vertex AI tuning)."""

    name = "gemini"

    def __init__(
        self,
        ctx: RunContext,
        *,
        client: Any = None,
        storage_client: Any = None,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        o = ctx.options
        self.ctx = ctx
        self.ledger = Ledger(ctx.store, self.name)
        self.project = o.get("gcp_project") or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        self.location = o.get("gcp_location") or os.environ.get("GOOGLE_CLOUD_LOCATION") or None
        self.bucket = o.get("gcs_bucket") or None
        self.training_uri = o.get("gcs_training_uri") or None
        self.adapter_size = o.get("adapter_size")
        self.concurrency = max(1, int(o.get("concurrency") or 16))
        self.max_cost = None if o.get("max_cost") is None else float(o["max_cost"])
        self.dry_run = bool(o.get("dry_run"))
        self.job_timeout = float(o.get("job_timeout") or 21600.0)
        self.poll_interval = float(poll_interval if poll_interval is not None else (o["poll_interval"] if o.get("poll_interval") is not None else 10.0))
        self.max_poll_interval = max(max_poll_interval, self.poll_interval)
        self.retry_delay = min(1.0, self.poll_interval)
        self.temperature = float(o.get("temperature") or 0.0)
        self.seed = int(o.get("seed") or 0)
        self.max_tokens = int(o.get("max_new_tokens") or 32)
        self.retries = int(o["api_retries"]) if o.get("api_retries") is not None else 8
        self.prices = {**PRICES_PER_1M, **parse_prices(o.get("price"))}
        self._client = client
        self._storage = storage_client
        self._sleep = sleep

    # -- configuration -----------------------------------------------------------------------

    def check(self, model: str, *, tuning: bool) -> None:
        """One-line errors for what cannot work: a retired model, no project or region, no bucket."""
        if msg := retired(model):
            raise ProviderError(msg)
        if not self.project:
            raise ProviderError(f"{model} runs on Vertex AI and needs a Google Cloud project: pass --ftb-gcp-project PROJECT or set GOOGLE_CLOUD_PROJECT")
        if not self.location:
            raise ProviderError(f"{model} runs on Vertex AI and needs a region that tunes Gemini: pass --ftb-gcp-location (e.g. us-central1) or set GOOGLE_CLOUD_LOCATION")
        if self.training_uri and not str(self.training_uri).startswith("gs://"):
            raise ProviderError(f"--ftb-gcs-training-uri must be a gs:// URI, got {self.training_uri!r}")
        if tuning and not self.bucket and not self.training_uri:
            raise ProviderError(f"tuning {model} on Vertex AI needs a Cloud Storage bucket for the training file: pass --ftb-gcs-bucket BUCKET[/PREFIX] (or --ftb-gcs-training-uri gs://... for a file already there)")
        if self.adapter_size is not None and int(self.adapter_size) not in ADAPTER_SIZES:
            raise ProviderError(f"--ftb-adapter-size must be one of {', '.join(map(str, ADAPTER_SIZES))}, got {self.adapter_size}")

    def base_url(self) -> str:
        return os.environ.get("GOOGLE_VERTEX_BASE_URL") or f"https://{self.location}-aiplatform.googleapis.com/"

    @property
    def client(self) -> "genai.Client":
        if self._client is None:
            options = types.HttpOptions(base_url=os.environ["GOOGLE_VERTEX_BASE_URL"]) if os.environ.get("GOOGLE_VERTEX_BASE_URL") else None
            try:
                self._client = genai.Client(vertexai=True, project=self.project, location=self.location, http_options=options)
            except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
                raise ProviderError(f"the Vertex AI client could not start: {exc} ({CREDENTIALS_HINT})") from None
        return self._client

    @property
    def storage(self) -> Any:
        if self._storage is None:
            from google.cloud import storage

            try:
                self._storage = storage.Client(project=self.project)
            except google.auth.exceptions.GoogleAuthError as exc:
                raise ProviderError(f"the Cloud Storage client could not start: {exc} ({CREDENTIALS_HINT})") from None
        return self._storage

    def key(self, request: TuneRequest) -> str:
        """The tuning key: the request's hash salted with the Vertex endpoint and Gemini-only settings."""
        return request.key(salt=f"gemini|{self.base_url()}|{self.project}|{self.location}|adapter={self.adapter_size}|uri={self.training_uri or ''}")

    def object_uri(self, key: str) -> str:
        """Where the training file of ``key`` is uploaded: ``gs://BUCKET/PREFIX/ftb-<key>.jsonl``."""
        bucket = str(self.bucket).removeprefix("gs://").strip("/")
        return f"gs://{bucket}/ftb-{key}.jsonl"

    # -- Provider protocol -------------------------------------------------------------------

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        model = request.model
        for stage in stages:
            if stage not in (TUNED, BASE) and _epoch_of(stage) is None:
                raise ProviderError(f"the gemini provider has no stage {stage!r} (known: tuned, base, epoch:N)")
        needs_tuning = any(s != BASE for s in stages)
        self.check(model, tuning=needs_tuning)

        if self.dry_run:
            reason = "dry run (--ftb-dry-run): " + (self._dry_run_line(request) if needs_tuning else f"would ask {model}") + "; launched nothing"
            self.ctx.progress(f"gemini: {reason}")
            return {s: Endpoint(model, s, Unavailable(reason)) for s in stages}

        out: dict[str, Endpoint] = {}
        if BASE in stages:
            out[BASE] = Endpoint(model, BASE, model)
        if needs_tuning:
            record = self.tune(request)
            for stage in stages:
                if stage == TUNED:
                    out[stage] = Endpoint(model, stage, record["tuned_endpoint"])
                elif stage != BASE:
                    out[stage] = Endpoint(model, stage, self._checkpoint(record, _epoch_of(stage)))
        return {s: out[s] for s in stages}

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        if isinstance(endpoint.handle, Unavailable):
            return [Answer(None, skip=endpoint.handle.reason) for _ in prompts]
        if not prompts:
            return []
        if msg := retired(str(endpoint.handle)):
            return [Answer(None, error=msg) for _ in prompts]
        client = self.client
        thinking, extra_tokens = _thinking(endpoint.model)
        config = types.GenerateContentConfig(
            temperature=self.temperature,
            seed=self.seed,
            max_output_tokens=self.max_tokens + extra_tokens,
            candidate_count=1,
            thinking_config=thinking,
        )
        model = str(endpoint.handle)

        def one(prompt: Prompt) -> Answer:
            for attempt in range(self.retries + 1):
                try:
                    return _answer_of(client.models.generate_content(model=model, contents=prompt.text, config=config))
                except Exception as exc:  # every prompt gets an Answer: the API's message if it failed
                    retryable = (isinstance(exc, errors.APIError) and exc.code in RETRY_CODES) or isinstance(exc, TRANSPORT_ERRORS)
                    if not retryable or attempt == self.retries:
                        return Answer(None, error=api_message(exc))
                    self._sleep(self._retry_delay(exc, attempt))
            raise AssertionError("unreachable")

        results: list[Answer | None] = [None] * len(prompts)
        total, done, errors_ = len(prompts), 0, 0
        step, last = max(1, total // 20), time.monotonic()
        label = f"gemini {endpoint.model} [{endpoint.stage}]"
        with ThreadPoolExecutor(max_workers=min(self.concurrency, total), thread_name_prefix="ftb-gemini") as pool:
            futures = {pool.submit(one, p): i for i, p in enumerate(prompts)}
            for future in as_completed(futures):
                results[futures[future]] = answer = future.result()
                done += 1
                errors_ += answer.error is not None
                now = time.monotonic()
                if done == total or done % step == 0 or now - last > 2.0:
                    last = now
                    self.ctx.progress(f"{label}: {done}/{total} answers" + (f", {errors_} failed" if errors_ else ""))
        return [a if a is not None else Answer(None, error="no answer (internal error)") for a in results]

    def _retry_delay(self, exc: BaseException, attempt: int) -> float:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        try:
            after = float(headers.get("retry-after")) if headers.get("retry-after") else None
        except (TypeError, ValueError):
            after = None
        if self.poll_interval <= 0:
            return 0.0
        if after is not None:
            return min(after, MAX_RETRY_DELAY)
        return min(self.retry_delay * 2**attempt, MAX_RETRY_DELAY) * (0.5 + random.random() / 2)

    # -- tuning ------------------------------------------------------------------------------

    def tune(self, request: TuneRequest) -> dict[str, Any]:
        """The ledger record of the succeeded job for ``request``, launching it only if none exists."""
        self.check(request.model, tuning=True)
        key = self.key(request)
        try:
            with self.ledger.claim(key):
                record = self.ledger.get(key)
                state = record["state"] if record else None
                if state == L.SUCCEEDED:
                    return record
                if state == L.FAILED:
                    raise ProviderError(f"{record['error']} [recorded in {self.ledger.path(key)}; delete it to launch a new job]")
                if record is None or not record.get("job_name"):
                    job = self._find_job(key, include_failed=state == L.CREATING, settle=state == L.CREATING)
                    if job is None:
                        job = self._launch(key, request, record)
                    record = self.ledger.update(key, L.RUNNING, note=f"job {job.name}", job_name=job.name, remote_state=_state(job))
                return self._wait(key, record, request.model)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ProviderError(api_message(exc)) from None

    def plan_line(self, request: TuneRequest) -> tuple[str, float | None]:
        """What the job trains on and its estimated cost (``None`` when unknown)."""
        epochs = self._epochs(request)
        n = len(request.pairs)
        tokens = estimate_tokens(request.pairs)
        price = price_for(request.model, self.prices)
        if epochs is None:
            return f"{request.model} on {n} examples: ~{tokens:,} tokens an epoch, epochs chosen by Vertex AI (pass --ftb-epochs for a cost estimate)", None
        cost = None if price is None else tokens * epochs * price / 1e6
        priced = f" x ${price:.2f}/1M = ${cost:.4f} (estimate)" if cost is not None else " (no known price: pass --ftb-price MODEL:USD)"
        return f"{request.model} on {n} examples: ~{tokens:,} tokens x {epochs} epochs = ~{tokens * epochs:,} training tokens{priced}", cost

    def _launch(self, key: str, request: TuneRequest, record: dict | None) -> Any:
        model = request.model
        line, cost = self.plan_line(request)
        self.ctx.progress(f"gemini: launching a Vertex AI tuning job: {line}")
        if self.max_cost is not None and (cost is None or cost > self.max_cost):
            why = "its cost cannot be estimated" if cost is None else f"estimated cost ${cost:.2f} exceeds"
            raise ProviderError(f"refusing to launch: {why} --ftb-max-cost ${self.max_cost:.2f} ({line})")
        if record is None:
            record = self.ledger.update(key, L.NEW, ftb_key=key, model=model, base_url=self.base_url(), project=self.project, location=self.location, n_examples=len(request.pairs))
        gcs_uri = self._upload(key, request, record)
        epochs = self._epochs(request)
        config = types.CreateTuningJobConfig(
            epoch_count=epochs,
            learning_rate_multiplier=request.settings.learning_rate,
            adapter_size=ADAPTER_SIZES[int(self.adapter_size)] if self.adapter_size is not None else None,
            tuned_model_display_name=f"ftb-{model}-{key[:8]}",
            labels={"ftb_key": key},
            http_options=types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1)),  # a retried create could launch a second job
        )
        dataset = types.TuningDataset(gcs_uri=gcs_uri)
        attempts = int(record.get("create_attempts", 0))
        backoff = self.poll_interval
        for attempt in range(1, 6):
            attempts += 1
            self.ledger.update(key, L.CREATING, note="create sent", create_attempts=attempts)
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*tuning implementation is experimental")
                    return self.client.tunings.tune(base_model=model, training_dataset=dataset, config=config)
            except (errors.APIError, *TRANSPORT_ERRORS) as exc:
                message = api_message(exc)
                if not _ambiguous(exc):
                    self.ledger.update(key, L.UPLOADED, note=f"create refused: {message}", last_error=message)
                    raise ProviderError(f"Vertex AI refused the tuning job for {model}: {message}") from None
                self.ctx.progress(f"gemini: tuning job create for {model} got no clear answer ({message}); looking for it before retrying")
                self._sleep(backoff)
                job = self._find_job(key, include_failed=True, settle=True)
                if job is not None:
                    return job
                if attempt == 5:
                    raise ProviderError(f"could not create the Vertex AI tuning job for {model}: {message} (a rerun looks the job up first, then retries)") from None
                backoff = min(backoff * 2, self.max_poll_interval)
        raise AssertionError("unreachable")

    def _upload(self, key: str, request: TuneRequest, record: dict) -> str:
        if self.training_uri:
            if record.get("gcs_uri") != self.training_uri:
                self.ledger.update(key, L.UPLOADED, note=f"training file given: {self.training_uri}", gcs_uri=self.training_uri)
            return str(self.training_uri)
        if record.get("gcs_uri"):  # uploaded by an earlier, interrupted run
            return str(record["gcs_uri"])
        uri = self.object_uri(key)
        bucket, _, name = uri[len("gs://") :].partition("/")
        data = training_jsonl(request.pairs)
        self.ctx.progress(f"gemini: uploading {len(request.pairs)} examples ({len(data):,} bytes) to {uri}")
        try:
            self.storage.bucket(bucket).blob(name).upload_from_string(data, content_type="application/jsonl")
        except Exception as exc:  # google.api_core / requests / auth errors: the API's message
            raise ProviderError(f"uploading the training file to {uri} failed: {api_message(exc)}") from None
        self.ledger.update(key, L.UPLOADED, note=f"uploaded {uri}", gcs_uri=uri)
        return uri

    def _find_job(self, key: str, *, include_failed: bool, settle: bool = False) -> Any | None:
        """The newest job labelled ``ftb_key=key``; failed/cancelled/expired ones only with ``include_failed``.

        ``settle``: the job may have been created moments ago; if none is listed, wait a poll
        interval and look once more (a listing may lag a create).
        """
        for look in range(2 if settle else 1):
            if look:
                self._sleep(self.poll_interval)
            try:
                try:
                    listed = list(self.client.tunings.list(config=types.ListTuningJobsConfig(filter=f'labels.ftb_key="{key}"', page_size=100)))
                except errors.ClientError as exc:  # a server that takes no label filter: scan every job
                    if exc.code != 400:
                        raise
                    listed = list(self.client.tunings.list(config=types.ListTuningJobsConfig(page_size=100)))
            except (errors.APIError, *TRANSPORT_ERRORS) as exc:
                raise ProviderError(f"looking up earlier Vertex AI tuning jobs failed: {api_message(exc)}") from None
            jobs = [j for j in listed if (j.labels or {}).get("ftb_key") == key]
            jobs.sort(key=lambda j: str(j.create_time or ""), reverse=True)
            for wanted in (SUCCEEDED_STATES, ACTIVE_STATES) + ((FAILED_STATES,) if include_failed else ()):
                for job in jobs:
                    if _state(job) in wanted:
                        self.ctx.progress(f"gemini: resuming tuning job {job.name} ({_pretty(_state(job))}) found by its label ftb_key={key}")
                        return job
        return None

    def _wait(self, key: str, record: dict, model: str) -> dict[str, Any]:
        name = record["job_name"]
        started = time.monotonic()
        deadline = started + self.job_timeout
        interval = self.poll_interval
        state = record.get("remote_state")
        while True:
            try:
                job = self.client.tunings.get(name=name)
            except errors.ClientError as exc:
                if exc.code != 404 and exc.code not in RETRY_CODES:
                    raise ProviderError(f"checking Vertex AI tuning job {name} for {model} failed: {api_message(exc)}") from None
                if exc.code == 404:
                    message = f"Vertex AI tuning job {name} for {model} is gone: {api_message(exc)}"
                    self.ledger.update(key, L.FAILED, note=message, error=message)
                    raise ProviderError(message) from None
                job = None
                self.ctx.progress(f"gemini {model} {name}: status check failed ({api_message(exc)}), retrying")
            except (errors.APIError, *TRANSPORT_ERRORS) as exc:  # transient: keep waiting
                job = None
                self.ctx.progress(f"gemini {model} {name}: status check failed ({api_message(exc)}), retrying")
            if job is not None:
                if _state(job) != state:
                    state = _state(job)
                    record = self.ledger.update(key, L.RUNNING, note=f"remote {state}", remote_state=state)
                endpoint = job.tuned_model.endpoint if job.tuned_model else None
                if state in SUCCEEDED_STATES and endpoint:
                    return self._succeeded(key, job, model)
                if state in FAILED_STATES or state in SUCCEEDED_STATES:
                    detail = job.error.message if job.error and job.error.message else ("it reported no tuned endpoint" if state in SUCCEEDED_STATES else f"the job is {_pretty(state)}")
                    message = f"Vertex AI tuning job {name} for {model} {_pretty(state)}: {detail}"
                    self.ledger.update(key, L.FAILED, note=message, error=message)
                    raise ProviderError(message)
                self.ctx.progress(f"gemini {model} {name.rsplit('/', 1)[-1]}: {_pretty(state)}, {time.monotonic() - started:.0f}s waited")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"Vertex AI tuning job {name} for {model} still {_pretty(state or 'unknown')} after {self.job_timeout:g} s (--ftb-job-timeout); "
                    "it keeps running on Vertex AI and a rerun resumes waiting for it"
                )
            self._sleep(min(interval, remaining))
            interval = min(interval * 1.5, self.max_poll_interval) if interval > 0 else 0

    def _succeeded(self, key: str, job: Any, model: str) -> dict[str, Any]:
        tuned = job.tuned_model
        checkpoints = {str(c.epoch): c.endpoint for c in (tuned.checkpoints or []) if c.epoch is not None and c.endpoint}
        spec = job.supervised_tuning_spec
        hyper = spec.hyper_parameters if spec is not None else None
        n_epochs = int(hyper.epoch_count) if hyper is not None and hyper.epoch_count is not None else None
        if n_epochs is not None and str(n_epochs) not in checkpoints:
            checkpoints[str(n_epochs)] = tuned.endpoint
        self.ctx.progress(f"gemini {model} {job.name}: succeeded -> {tuned.endpoint}")
        return self.ledger.update(
            key,
            L.SUCCEEDED,
            tuned_endpoint=tuned.endpoint,
            tuned_model=tuned.model,
            n_epochs=n_epochs,
            checkpoints=checkpoints,
        )

    def _checkpoint(self, record: dict, epoch: int) -> str | Unavailable:
        ckpts = record.get("checkpoints") or {}
        if str(epoch) in ckpts:
            return ckpts[str(epoch)]
        have = ", ".join(sorted(ckpts, key=int)) or "none"
        n = record.get("n_epochs")
        why = f"the job trained {n} epochs" if n is not None and epoch > n else "Vertex AI exported no checkpoint for it"
        return Unavailable(f"no checkpoint for epoch {epoch} of job {record.get('job_name')}: {why} (available epochs: {have})")

    def _dry_run_line(self, request: TuneRequest) -> str:
        key = self.key(request)
        record = self.ledger.get(key)
        if record and record["state"] == L.SUCCEEDED:
            return f"would reuse {record['tuned_endpoint']} (job {record['job_name']}, ledger {key})"
        if record and record.get("job_name"):
            return f"would resume waiting for job {record['job_name']} ({record.get('remote_state')}, ledger {key})"
        line, cost = self.plan_line(request)
        source = f"use the training file {self.training_uri}" if self.training_uri else f"upload {len(request.pairs)} examples to {self.object_uri(key)}"
        out = f"would {source} and launch a Vertex AI tuning job: {line}"
        if self.max_cost is not None and (cost is None or cost > self.max_cost):
            out += f"; --ftb-max-cost ${self.max_cost:.2f} would refuse it"
        return out

    @staticmethod
    def _epochs(request: TuneRequest) -> int | None:
        s = request.settings
        if s.epochs is not None:
            return int(s.epochs)
        return max(s.checkpoint_epochs) if s.checkpoint_epochs else None


def _answer_of(response: Any) -> Answer:
    """The text of a reply; an error naming why there is none (blocked prompt, safety stop)."""
    text = response.text
    if text:
        return Answer(text)
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        return Answer(None, error=f"Vertex AI blocked the prompt: {getattr(feedback.block_reason, 'value', feedback.block_reason)} {feedback.block_reason_message or ''}".strip())
    candidate = response.candidates[0] if response.candidates else None
    finish = getattr(candidate.finish_reason, "value", candidate.finish_reason) if candidate is not None else None
    if finish and finish not in ("STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED"):
        return Answer(None, error=f"Vertex AI returned no text (finish reason {finish})")
    return Answer(text or "")


def _epoch_of(stage: str) -> int | None:
    if stage.startswith("epoch:"):
        try:
            return int(stage.split(":", 1)[1])
        except ValueError:
            return None
    return None


__all__ = ["GeminiProvider", "Unavailable", "create", "training_jsonl", "retired"]
