"""Gemini tuning on Vertex AI: upload to Cloud Storage, launch exactly one tuning job per training set, wait, answer.

Gemini models are tuned only on Vertex AI (the Gemini Developer API's tuning is gone), so this
provider needs a Google Cloud project and region (``--ftb-gcp-project``/``--ftb-gcp-location`` or
``GOOGLE_CLOUD_PROJECT``/``GOOGLE_CLOUD_LOCATION``), Application Default Credentials and, to tune, a
Cloud Storage bucket for the training file (``--ftb-gcs-bucket BUCKET[/PREFIX]``) or a training
file already there (``--ftb-gcs-training-uri gs://...jsonl``, used as is: no upload).

Models (December 2026): ``gemini-2.5-flash``, ``gemini-2.5-flash-lite``, ``gemini-2.5-pro``,
``gemini-3.5-flash`` and ``gemini-3.1-flash-lite`` (:data:`.rules.TUNABLE`). Gemini 1.0, 1.5 and 2.0 are
retired: a one-line error names the replacement. Gemini 3.x tunes only in ``us-central1`` and
``europe-west4``, and its tuned models answer from the ``us``/``eu`` multi-region endpoint (the
client for each endpoint follows the location in its resource name). Adapter sizes 1, 2, 4, 8, 16
(2.5 Pro: up to 8) are checked before anything is uploaded. ``--ftb-learning-rate-multiplier``
scales Vertex AI's default rate; ``--ftb-learning-rate`` (an absolute rate, local models) is refused.

Exactly one job per key (:mod:`..hosted.tuning` runs the ledger's state machine). The key hashes the model,
the pairs, the settings, the adapter size, a given training URI and the Vertex endpoint (base URL,
project, region); jobs carry it as the label ``ftb_key=<key>`` (``tunings.list`` with
``filter=labels.ftb_key="<key>"``). Creates go out with the SDK's retries off.

Stages: ``base`` is the base model, ``tuned`` the tuned model's endpoint, ``epoch:N`` the endpoint
of the checkpoint Vertex AI exported after epoch N (``tuned_model.checkpoints``): after every epoch
up to 10, else about 10 evenly spaced; the epochs that cannot exist are named before the job starts.

Answers: ``models.generate_content`` on the endpoint, ``--ftb-concurrency`` at a time, with
temperature, seed and ``max_output_tokens`` from the options. The output cap covers thinking, so
thinking is off (2.5 Flash), at its minimum with room added to the cap (2.5 Pro: a 128-token budget;
3.x: ``thinking_level=MINIMAL`` and 256 tokens); an empty reply (the cap used up, finish reason
``MAX_TOKENS``) is a run error naming why, never graded as a wrong answer. 408, 429 and 5xx are
retried ``--ftb-api-retries`` times with backoff (retry-after honored); an answer that still fails
records the API's message. A create refused by the concurrent-tuning quota is one line, not resent.

Sleeps (job polls, retry backoff) all scale with ``--ftb-poll-interval``: 0 makes them instant;
a replayed cassette skips them. While a cassette replays, the clients get static credentials
(no Application Default Credentials needed). Base URLs: ``GOOGLE_VERTEX_BASE_URL`` (google-genai's own override) and
``STORAGE_EMULATOR_HOST`` (google-cloud-storage's) point the clients at an emulator such as
:mod:`pytest_finetunebench.testing.vertex.emulator`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import google.auth.credentials
import google.auth.exceptions
import google.oauth2.credentials
from google import genai
from google.genai import errors, types

from ...store import ledger as L
from ...store.ledger import Ledger
from .. import RunContext
from ..base import Answer, Endpoint, Prompt, ProviderError, TuneRequest
from ..hosted.api import MAX_POLL_INTERVAL, Unavailable, create_verdict, requested_epochs
from ..hosted.cost import Estimate, estimate, price_for
from ..hosted.tuning import RemoteProvider
from .answer import RETRY_CODES, answerer
from .rules import (
    ADAPTER_SIZES,
    CREDENTIALS_HINT,
    PRICES_PER_1M,
    TRANSPORT_ERRORS,
    api_message,
    check_config,
    checkpoint_epochs,
    endpoint_location,
    estimate_tokens,
    one_line,
    retired,
    thinking_for,
    training_jsonl,
)

SUCCEEDED_STATES = ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED")
FAILED_STATES = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


def create(ctx: RunContext) -> GeminiProvider:
    """The registry's factory."""
    return GeminiProvider(ctx)


def _state(job: Any) -> str:
    state = getattr(job, "state", None)
    return str(getattr(state, "value", state) or "JOB_STATE_UNSPECIFIED")


class GeminiProvider(RemoteProvider):
    """The Gemini provider (Vertex AI tuning)."""

    name = "gemini"
    service = "Vertex AI"
    job_noun = "tuning job"
    tag = "label ftb_key={key}"
    job_field, status_field, tuned_field = "job_name", "remote_state", "tuned_endpoint"
    succeeded = frozenset(SUCCEEDED_STATES)
    failed = frozenset(FAILED_STATES)
    no_checkpoint = (
        "Vertex AI exported no checkpoint for it (a job of more than 10 epochs exports about 10, evenly spaced)"
    )
    create_errors = (errors.APIError, *TRANSPORT_ERRORS)

    def __init__(
        self,
        ctx: RunContext,
        *,
        client: Any = None,
        storage_client: Any = None,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
    ) -> None:
        super().__init__(ctx, PRICES_PER_1M, poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        o = ctx.options
        self.project = o.get("gcp_project") or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        self.location = o.get("gcp_location") or os.environ.get("GOOGLE_CLOUD_LOCATION") or None
        self.bucket = o.get("gcs_bucket") or None
        self.training_uri = o.get("gcs_training_uri") or None
        self.adapter_size = o.get("adapter_size")
        # Clients by "replaying?": a replay gets static credentials (no credential lookup at all).
        self._clients: dict[tuple[bool, str | None], Any] = (
            {(r, self.location): client for r in (False, True)} if client is not None else {}
        )
        self._storages: dict[bool, Any] = (
            {False: storage_client, True: storage_client} if storage_client is not None else {}
        )
        self._local = threading.local()  # .replaying: whether the tuning this thread runs replays

    # -- configuration -----------------------------------------------------------------------

    def _check(self, model: str, *, tuning: bool) -> None:
        check_config(
            model,
            self.project,
            self.location,
            tuning=tuning,
            bucket=self.bucket,
            training_uri=self.training_uri,
            adapter_size=self.adapter_size,
        )

    def base_url(self) -> str:
        return os.environ.get("GOOGLE_VERTEX_BASE_URL") or f"https://{self.location}-aiplatform.googleapis.com/"

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        epochs = requested_epochs(request)
        asked = request.settings.checkpoint_epochs
        if epochs and asked and (missing := [e for e in asked if e not in checkpoint_epochs(epochs)]):
            self.ctx.progress(
                f"gemini {request.model}: a {epochs}-epoch job exports checkpoints after epochs "
                f"{', '.join(map(str, checkpoint_epochs(epochs)))} only,"
                f" so epoch {', '.join(map(str, missing))} cannot be evaluated (those items are skipped)"
            )
        return super().endpoints(request, stages)

    def _salt(self) -> str:
        return f"|{self.project}|{self.location}|adapter={self.adapter_size}|uri={self.training_uri or ''}"

    def client_for(self, replaying: bool, location: str | None = None) -> genai.Client:
        """The Vertex AI client for ``location`` (default: the region); replaying: with a static token.

        A 3.x tuned model lives at ``locations/us`` or ``locations/eu``: google-genai sends those to the
        multi-region host (``aiplatform.us.rep.googleapis.com``), so answers use a client for that location.
        """
        location = location or self.location
        if (replaying, location) not in self._clients:
            options = (
                types.HttpOptions(base_url=os.environ["GOOGLE_VERTEX_BASE_URL"])
                if os.environ.get("GOOGLE_VERTEX_BASE_URL")
                else None
            )
            credentials = google.oauth2.credentials.Credentials(token="ftb-cassette-replay") if replaying else None
            try:
                self._clients[replaying, location] = genai.Client(
                    enterprise=True,
                    project=self.project,
                    location=location,
                    credentials=credentials,
                    http_options=options,
                )
            except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
                raise ProviderError(
                    f"the Vertex AI client could not start: {one_line(exc)} ({CREDENTIALS_HINT})"
                ) from None
        return self._clients[replaying, location]

    @property
    def client(self) -> genai.Client:
        """The client for the tuning this thread runs."""
        return self.client_for(getattr(self._local, "replaying", False))

    @property
    def storage(self) -> Any:
        replaying = getattr(self._local, "replaying", False)
        if replaying not in self._storages:
            from google.cloud import storage

            # Else the client fetches the bucket's metadata in a background thread (for tracing),
            # racing the upload: a recorded cassette would randomly miss a request.
            os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")
            try:
                credentials = google.auth.credentials.AnonymousCredentials() if replaying else None
                self._storages[replaying] = storage.Client(project=self.project, credentials=credentials)
            except google.auth.exceptions.GoogleAuthError as exc:
                raise ProviderError(
                    f"the Cloud Storage client could not start: {one_line(exc)} ({CREDENTIALS_HINT})"
                ) from None
        return self._storages[replaying]

    def object_uri(self, key: str) -> str:
        """Where the training file of ``key`` is uploaded: ``gs://BUCKET/PREFIX/ftb-<key>.jsonl``."""
        bucket = str(self.bucket).removeprefix("gs://").strip("/")
        return f"gs://{bucket}/ftb-{key}.jsonl"

    def _plan(self, request: TuneRequest) -> Estimate:
        tokens = estimate_tokens(request.pairs)
        return estimate(
            request.model,
            len(request.pairs),
            tokens,
            requested_epochs(request),
            price_for(request.model, self.opts.prices),
            epochs_by="Vertex AI",
        )

    def _record_fields(self) -> dict[str, Any]:
        return {"project": self.project, "location": self.location}

    def _source(self, request: TuneRequest, key: str) -> str:
        return (
            f"use the training file {self.training_uri}"
            if self.training_uri
            else f"upload {len(request.pairs)} examples to {self.object_uri(key)}"
        )

    def _api_message(self, exc: BaseException) -> str:
        return api_message(exc)

    # -- Provider protocol -------------------------------------------------------------------

    def tune(self, request: TuneRequest) -> dict[str, Any]:
        self._local.replaying = self.replaying(request)
        try:
            return super().tune(request)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ProviderError(api_message(exc)) from None
        finally:
            self._local.replaying = False

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        if prompts and not isinstance(endpoint.handle, Unavailable) and (msg := retired(str(endpoint.handle))):
            return [Answer(None, error=msg) for _ in prompts]
        return super().answer(endpoint, prompts)

    def _answerer(self, endpoint: Endpoint) -> Callable[[Prompt], Answer]:
        model = str(endpoint.handle)
        client = self.client_for(self.replaying(endpoint.model), endpoint_location(model))
        thinking, extra_tokens = thinking_for(endpoint.model)
        config = types.GenerateContentConfig(
            temperature=self.opts.temperature,
            seed=self.opts.seed,
            max_output_tokens=self.opts.max_tokens + extra_tokens,
            candidate_count=1,
            thinking_config=thinking,
        )
        first_delay = min(1.0, self.opts.poll_interval)  # 0: every retry at once (tests, replays)
        return answerer(client, model, config, retries=self.opts.retries, first_delay=first_delay)

    # -- tuning hooks ------------------------------------------------------------------------

    def _upload(self, ledger: Ledger, key: str, request: TuneRequest, record: dict) -> str:
        if self.training_uri:
            if record.get("gcs_uri") != self.training_uri:
                ledger.update(
                    key, L.UPLOADED, note=f"training file given: {self.training_uri}", gcs_uri=self.training_uri
                )
            return str(self.training_uri)
        if record.get("gcs_uri"):  # uploaded by an earlier, interrupted run
            return str(record["gcs_uri"])
        uri = self.object_uri(key)
        bucket, _, name = uri[len("gs://") :].partition("/")
        data = training_jsonl(request.pairs)
        self.ctx.progress(f"gemini: uploading {len(request.pairs)} examples ({len(data):,} bytes) to {uri}")
        try:
            self.storage.bucket(bucket).blob(name).upload_from_string(data, content_type="application/jsonl")
        except ProviderError:
            raise
        except Exception as exc:  # google.api_core / requests / auth errors: the API's message
            raise ProviderError(f"uploading the training file to {uri} failed: {api_message(exc)}") from None
        ledger.update(key, L.UPLOADED, note=f"uploaded {uri}", gcs_uri=uri)
        return uri

    def _create(self, key: str, request: TuneRequest, record: dict, training: str) -> Any:
        config = types.CreateTuningJobConfig(
            epoch_count=requested_epochs(request),
            learning_rate_multiplier=request.settings.learning_rate_multiplier,
            adapter_size=ADAPTER_SIZES[int(self.adapter_size)] if self.adapter_size is not None else None,
            tuned_model_display_name=f"ftb-{request.model}-{key[:8]}",
            labels={"ftb_key": key},
            http_options=types.HttpOptions(
                retry_options=types.HttpRetryOptions(attempts=1)
            ),  # a retried create could launch a second job
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tuning implementation is experimental")
            return self.client.tunings.tune(
                base_model=request.model, training_dataset=types.TuningDataset(gcs_uri=training), config=config
            )

    def _create_failure(self, exc: BaseException) -> str:
        status = exc.code if isinstance(exc, errors.APIError) else None
        # the concurrent-tuning quota does not free up by waiting seconds: say so once
        concurrent = isinstance(exc, errors.APIError) and "concurrent" in str(exc.message or "").lower()
        return create_verdict(status, transport=isinstance(exc, TRANSPORT_ERRORS), not_by_waiting=concurrent)

    def _list_jobs(self, key: str) -> list[Any]:
        try:
            try:
                listed = list(
                    self.client.tunings.list(
                        config=types.ListTuningJobsConfig(filter=f'labels.ftb_key="{key}"', page_size=100)
                    )
                )
            except errors.ClientError as exc:  # a server that takes no label filter: scan every job
                if exc.code != 400:
                    raise
                listed = list(self.client.tunings.list(config=types.ListTuningJobsConfig(page_size=100)))
        except (errors.APIError, *TRANSPORT_ERRORS) as exc:
            raise ProviderError(f"looking up earlier Vertex AI tuning jobs failed: {api_message(exc)}") from None
        return [j for j in listed if (j.labels or {}).get("ftb_key") == key]

    def _job_id(self, job: Any) -> str:
        return job.name

    def _status(self, job: Any) -> str:
        return _state(job)

    def _created(self, job: Any) -> Any:
        return str(job.create_time or "")

    def _pretty(self, status: str) -> str:
        return status.removeprefix("JOB_STATE_").lower()

    def _fetch(self, ledger: Ledger, key: str, job_id: str, model: str) -> Any | None:
        try:
            return self.client.tunings.get(name=job_id)
        except (errors.APIError, *TRANSPORT_ERRORS) as exc:
            if isinstance(exc, errors.ClientError) and exc.code == 404:
                raise self._gone(ledger, key, job_id, model, exc) from None
            if isinstance(exc, errors.ClientError) and exc.code not in RETRY_CODES:
                raise ProviderError(
                    f"checking Vertex AI tuning job {job_id} for {model} failed: {api_message(exc)}"
                ) from None
            self.ctx.progress(
                f"gemini {model} {job_id}: status check failed ({api_message(exc)}), retrying"
            )  # transient: keep waiting
            return None

    def _outcome(self, job: Any, request: TuneRequest) -> dict[str, Any] | str | None:
        state, tuned = _state(job), job.tuned_model
        if state in SUCCEEDED_STATES and tuned and tuned.endpoint:
            checkpoints = {
                str(c.epoch): c.endpoint for c in (tuned.checkpoints or []) if c.epoch is not None and c.endpoint
            }
            hyper = job.supervised_tuning_spec.hyper_parameters if job.supervised_tuning_spec is not None else None
            n_epochs = int(hyper.epoch_count) if hyper is not None and hyper.epoch_count is not None else None
            if n_epochs is not None and str(n_epochs) not in checkpoints:
                checkpoints[str(n_epochs)] = tuned.endpoint
            self.ctx.progress(f"gemini {request.model} {job.name}: succeeded -> {tuned.endpoint}")
            return dict(
                tuned_endpoint=tuned.endpoint, tuned_model=tuned.model, n_epochs=n_epochs, checkpoints=checkpoints
            )
        if state in FAILED_STATES or state in SUCCEEDED_STATES:
            return (
                job.error.message
                if job.error and job.error.message
                else (
                    "it reported no tuned endpoint"
                    if state in SUCCEEDED_STATES
                    else f"the job is {self._pretty(state)}"
                )
            )
        return None

    def _progress_line(self, job: Any, model: str, elapsed: float) -> str:
        return f"gemini {model} {job.name.rsplit('/', 1)[-1]}: {self._pretty(_state(job))}, {elapsed:.0f}s waited"


__all__ = ["GeminiProvider", "Unavailable", "create", "training_jsonl", "retired"]
