"""OpenAI fine-tuning: upload, launch exactly one paid job per training set, wait, answer.

Models: the chat snapshots OpenAI still tunes (:data:`TUNABLE`: ``gpt-4o-2024-08-06``,
``gpt-4o-mini-2024-07-18``, ``gpt-4.1-2025-04-14``, ``gpt-4.1-mini-2025-04-14``) are tuned;
``ft:...`` ids are evaluated as they are (no training); ``openai:<name>`` is ``<name>`` at any
compatible server. The SDK reads ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` from the environment.

Exactly one job per key (:mod:`..hosted.tuning` runs the ledger's state machine). The tuning key hashes
the model, the pairs, the settings and the base URL; jobs carry it as ``metadata.ftb_key``. The
create goes out with the SDK's retries off (its retry could launch a second paid job); the
ledger and the ``metadata.ftb_key`` lookup are the protection (an ``Idempotency-Key`` header is
sent too, but it is not part of OpenAI's API and nothing relies on it).

Refused before anything is sent to OpenAI itself (one line each; compatible servers keep their
own rules): fewer than 10 training examples (the API would create the job and then fail it), the
retired snapshots in :data:`RETIRED` (unless their cassettes replay), and the completion models
``davinci-002``/``babbage-002`` (prompt/completion training and ``/v1/completions``, which this
chat provider does not speak). A refused create says what OpenAI's 2026 policy means
(:data:`REFUSED_HINT`); a 429 ``insufficient_quota`` is billing and is not re-sent.

Answers: chat completions with ``max_completion_tokens`` (``max_tokens`` is deprecated and refused
by reasoning models). A model that just finished tuning answers 404 for a while: the first prompt
waits for it (bounded by :data:`MODEL_READY_TIMEOUT`, with a progress line), then all are asked.

Stages: ``base`` is the base model, ``tuned`` the final model, ``epoch:N`` the checkpoint after
epoch N (OpenAI keeps checkpoints of the last three epochs only; other epochs are skipped with
the reason).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import openai

from ...items import BASE, TUNED
from ...store import ledger as L
from ...store.ledger import Ledger
from .. import OPENAI_URL, RunContext
from ..base import SYSTEM_PROMPT, Answer, Endpoint, Prompt, ProviderError, TuneRequest
from ..hosted.api import (
    MAX_POLL_INTERVAL,
    Unavailable,
    chat_answer,
    chat_jsonl,
    check_stages,
    create_verdict,
    requested_epochs,
    server_url,
    sleep,
    start_client,
)
from ..hosted.cost import Estimate, estimate, parse_prices, price_for, usd  # noqa: F401 - parse_prices, usd: re-exported
from ..hosted.tuning import RemoteProvider
from .rules import (
    COMPLETION_MODELS,
    MIN_EXAMPLES,
    MODEL_READY_TIMEOUT,
    PRICES_PER_1M,
    REFUSED_HINT,
    RETIRED,
    TUNABLE,
    api_message,
    api_model,
    ask_until_served,
    auto_epochs,
    checkpoints_by_epoch,
    estimate_tokens,
    scores_of,
    tuning_error,
)

DEFAULT_BASE_URL = OPENAI_URL


def create(ctx: RunContext) -> OpenAIProvider:
    """The registry's factory."""
    return OpenAIProvider(ctx)


class OpenAIProvider(RemoteProvider):
    """The OpenAI provider (also any OpenAI-compatible server through ``OPENAI_BASE_URL``)."""

    name = "openai"
    service = "OpenAI"
    job_noun = "fine-tuning job"
    tag = "ftb_key {key}"
    job_field, status_field, tuned_field = "job_id", "remote_status", "tuned_model"
    succeeded = frozenset({"succeeded"})
    failed = frozenset({"failed", "cancelled"})
    no_checkpoint = "OpenAI keeps checkpoints of the last three epochs only"
    create_errors = (openai.APIError,)

    def __init__(
        self,
        ctx: RunContext,
        *,
        client: Any = None,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
    ) -> None:
        super().__init__(ctx, PRICES_PER_1M, poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self._client = client
        self._fresh: set[str] = set()  # tuned model ids that succeeded moments ago and may not be served yet

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            hint = "set OPENAI_API_KEY; OPENAI_BASE_URL for a compatible server"
            self._client = start_client(
                openai.OpenAI, openai.OpenAIError, "OpenAI", hint, max_retries=self.opts.retries
            )
        return self._client

    def base_url(self) -> str:
        return server_url(self._client, "OPENAI_BASE_URL", DEFAULT_BASE_URL)

    def _api_model(self, request: TuneRequest) -> str:
        return api_model(request.model)

    def _api_message(self, exc: BaseException) -> str:
        return api_message(exc)

    def _check(self, model: str, *, tuning: bool) -> None:
        name = api_model(model)
        retired = RETIRED.get(name)
        if retired and self._official() and not self.ctx.replaying(self.name, model):
            raise ProviderError(
                f"{name} was retired on {retired}: it can no longer be tuned or asked; fix: replay its cassettes"
                " or its published answers (--ftb-responses), or pick a current model such as gpt-4.1-mini-2025-04-14"
            )
        if name in COMPLETION_MODELS and self._official():
            raise ProviderError(
                f"{name} is a completion model (prompt/completion training, /v1/completions), which this chat "
                "provider does not drive;"
                f" pick a chat model OpenAI tunes: {', '.join(TUNABLE)}"
            )

    def _official(self) -> bool:
        """Talking to OpenAI itself: its own rules (the minimum, the retirements) apply, not a compatible server's."""
        return self.base_url() == DEFAULT_BASE_URL

    def system(self) -> str | None:
        """The system message sent (and trained on): a compatible server's the local provider's; OpenAI's none."""
        return None if self._official() else SYSTEM_PROMPT

    def _refused_hint(self) -> str:
        return REFUSED_HINT if self._official() else ""

    def _n_epochs(self, request: TuneRequest) -> int | str:
        epochs = requested_epochs(request)
        return "auto" if epochs is None else epochs

    def _plan(self, request: TuneRequest) -> Estimate:
        model, n, epochs = api_model(request.model), len(request.pairs), requested_epochs(request)
        return estimate(
            model,
            n,
            estimate_tokens(request.pairs),
            auto_epochs(n) if epochs is None else epochs,
            price_for(model, self.opts.prices),
            auto_epochs=epochs is None,
        )

    # -- Provider protocol -------------------------------------------------------------------

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        model = api_model(request.model)
        tuning = any(s != BASE for s in stages)
        if (
            tuning
            and not model.startswith("ft:")
            and len(request.pairs) < MIN_EXAMPLES
            and self._official()
            and not self.ctx.replaying(self.name, request)
        ):
            raise ProviderError(
                f"{model}: OpenAI fine-tuning needs at least {MIN_EXAMPLES} training examples and the selected cases"
                f" give {len(request.pairs)}; nothing was uploaded; fix: select more cases (a larger --ftb-limit, "
                "more datasets)"
            )
        if not model.startswith("ft:"):
            out = super().endpoints(request, stages)
            record = self.ledger_for(request).get(self.key(request)) if tuning and not self.opts.dry_run else None
            if (
                record and time.time() - float(record.get("updated_at") or 0) < MODEL_READY_TIMEOUT
            ):  # tuned just now: maybe not served yet
                self._fresh.update(
                    str(e.handle) for s, e in out.items() if s != BASE and not isinstance(e.handle, Unavailable)
                )
            return out
        base = model.split(":")[1]  # ft:<base>:<org>:<suffix>:<id> is evaluated as it is (no training)
        out = {}
        check_stages(self.name, stages)
        for stage in stages:
            if self.opts.dry_run:
                handle: Any = Unavailable(
                    f"dry run (--ftb-dry-run): would ask {model if stage == TUNED else base}; launched nothing"
                )
            elif stage in (TUNED, BASE):
                handle = model if stage == TUNED else base
            else:
                handle = Unavailable(
                    f"{model} is evaluated as given (no training here), so it has no epoch checkpoints"
                )
            out[stage] = Endpoint(request.model, stage, handle)
        return out

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        if str(endpoint.handle) not in self._fresh or not prompts:
            return super().answer(endpoint, prompts)
        return [self._first_answer(endpoint, prompts[0]), *super().answer(endpoint, prompts[1:])]

    def _first_answer(self, endpoint: Endpoint, prompt: Prompt) -> Answer:
        """The first prompt to a tuned model, asked until the model is served (404 right after a job succeeds)."""
        model = str(endpoint.handle)
        answer = ask_until_served(self._asker(), model, prompt, min(self.opts.poll_interval, 5.0), self.ctx.progress)
        if answer.error is None:
            self._fresh.discard(model)
        return answer

    def _asker(self) -> Callable[[str, Prompt], Answer]:
        client, system = self.client.with_options(max_retries=self.opts.retries), self.system()

        def ask(model: str, prompt: Prompt) -> Answer:
            return chat_answer(client, model, prompt, self.opts, tokens_field="max_completion_tokens", system=system)

        return ask

    def score(
        self, endpoint: Endpoint, prompts: Sequence[Prompt], choices: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Per prompt, each choice's log-probability as the reply's first token (:func:`.rules.scores_of`)."""
        if isinstance(endpoint.handle, Unavailable):
            return [[math.nan] * len(c) for c in choices]
        client = self.client.with_options(max_retries=self.opts.retries)
        texts = [p.text for p in prompts]
        return scores_of(
            client, str(endpoint.handle), texts, choices, self.opts.seed, self.system(), self.opts.concurrency
        )

    def _answerer(self, endpoint: Endpoint) -> Callable[[Prompt], Answer]:
        ask, model = self._asker(), str(endpoint.handle)

        def one(prompt: Prompt) -> Answer:
            try:
                return ask(model, prompt)
            except Exception as exc:  # every prompt gets an Answer: the API's message if it failed
                return Answer(None, error=api_message(exc))

        return one

    # -- tuning hooks ------------------------------------------------------------------------

    def _upload(self, ledger: Ledger, key: str, request: TuneRequest, record: dict) -> str:
        file_id = record.get("file_id")
        if file_id:
            try:
                if self.client.files.retrieve(file_id).status != "error":
                    return self._wait_file(file_id)
            except openai.NotFoundError:
                pass
        try:
            f = self.client.files.create(
                file=(f"ftb-{key}.jsonl", chat_jsonl(request.pairs, self.system()), "application/jsonl"),
                purpose="fine-tune",
            )
        except openai.APIError as exc:
            raise ProviderError(tuning_error(exc, self.base_url(), "/files", "uploading the training file")) from None
        ledger.update(key, L.UPLOADED, note=f"file {f.id}", file_id=f.id)
        return self._wait_file(f.id)

    def _wait_file(self, file_id: str) -> str:
        deadline = time.monotonic() + self.opts.job_timeout
        interval = min(self.opts.poll_interval, 2.0)
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
                raise ProviderError(
                    f"training file {file_id} still {f.status} after {self.opts.job_timeout:g} s (--ftb-job-timeout)"
                )
            sleep(interval)
            interval = min(interval * 1.5, self.opts.max_poll_interval)

    def _create(self, key: str, request: TuneRequest, record: dict, training: str) -> Any:
        hyper: dict[str, Any] = {"n_epochs": self._n_epochs(request)}
        if request.settings.batch_size is not None:
            hyper["batch_size"] = request.settings.batch_size
        if request.settings.learning_rate_multiplier is not None:
            hyper["learning_rate_multiplier"] = request.settings.learning_rate_multiplier
        return self.client.with_options(max_retries=0).fine_tuning.jobs.create(
            model=api_model(request.model),
            training_file=training,
            method={"type": "supervised", "supervised": {"hyperparameters": hyper}},
            seed=request.settings.seed,
            suffix=f"ftb-{key[:8]}",
            metadata={"ftb_key": key},
            # Harmless where ignored. One per ledger record: a new record (the old one deleted) must
            # be able to create a new job even where the server remembers keys.
            extra_headers={"Idempotency-Key": f"ftb-{key}-{int(record.get('created_at', 0))}"},
        )

    def _create_failure(self, exc: BaseException) -> str:
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
        transport = isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError))
        # insufficient_quota is billing: waiting does not help
        return create_verdict(
            status, transport=transport, not_by_waiting=getattr(exc, "code", None) == "insufficient_quota"
        )

    def _list_jobs(self, key: str) -> list[Any]:
        try:
            return [
                j
                for j in self.client.fine_tuning.jobs.list(metadata={"ftb_key": key}, limit=100)
                if (j.metadata or {}).get("ftb_key") == key
            ]
        except openai.APIError as exc:
            where, doing = "/fine_tuning/jobs", "looking up earlier fine-tuning jobs"
            raise ProviderError(tuning_error(exc, self.base_url(), where, doing)) from None

    def _job_id(self, job: Any) -> str:
        return job.id

    def _status(self, job: Any) -> str:
        return str(job.status)

    def _created(self, job: Any) -> Any:
        return job.created_at or 0

    def _fetch(self, ledger: Ledger, key: str, job_id: str, model: str) -> Any | None:
        try:
            return self.client.fine_tuning.jobs.retrieve(job_id)
        except openai.NotFoundError as exc:
            raise self._gone(ledger, key, job_id, model, exc) from None
        except openai.APIError as exc:  # transient (the SDK already retried): keep waiting
            self.ctx.progress(f"openai {model} {job_id}: status check failed ({api_message(exc)}), retrying")
            return None

    def _outcome(self, job: Any, request: TuneRequest) -> dict[str, Any] | str | None:
        if job.status == "succeeded":
            self.ctx.progress(
                f"openai {api_model(request.model)} {job.id}: succeeded -> {job.fine_tuned_model} "
                f"({job.trained_tokens or 0:,} trained tokens)"
            )
            checkpoints = self._checkpoints(job, len(request.pairs))
            return dict(
                tuned_model=job.fine_tuned_model,
                trained_tokens=job.trained_tokens,
                n_epochs=_int(job.hyperparameters.n_epochs),
                checkpoints=checkpoints,
            )
        if job.status in self.failed:
            detail = job.error.message if job.error and job.error.message else f"the job was {job.status}"
            return detail + (f" ({job.error.code})" if job.error and job.error.code else "")
        return None

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
            self.ctx.progress(
                f"openai {job.id}: listing checkpoints failed ({api_message(exc)}); epoch stages other than the last "
                "are skipped"
            )
            items = []
        steps = [(c.step_number, c.fine_tuned_model_checkpoint) for c in items]
        n_epochs, batch = _int(job.hyperparameters.n_epochs), _int(job.hyperparameters.batch_size)
        return checkpoints_by_epoch(steps, n_epochs, batch, n_examples, job.fine_tuned_model)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = ["OpenAIProvider", "Unavailable", "chat_jsonl", "create", "usd"]
