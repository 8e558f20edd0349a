"""Together AI fine-tuning: open-weight models tuned through the official ``together`` SDK, once per training set.

Models are ``together:<model>`` (``together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference``,
``together:Qwen/Qwen3-8B``...); which ones tune, and with which limits, is Together's own
answer (the SDK asks ``/fine-tunes/models/limits`` before a create, and an unknown model is its
404, in one line). The SDK reads ``TOGETHER_API_KEY`` and ``TOGETHER_BASE_URL``.

Tuning: the chat-format JSONL is uploaded with the SDK's own file check (``files.upload(check=
True)``; the same bytes uploaded again are Together's 409, answered with the existing file), then
``fine_tuning.create`` with ``n_epochs``, the learning rate (an absolute rate at Together, so
``--ftb-learning-rate``; the multiplier flag is refused), ``--ftb-batch-size``, LoRA (``--ftb-lora=R``,
``0`` for a full fine-tune; default Together's), ``random_seed`` and the suffix ``ftb-<key>``.
Exactly one job per key (:mod:`.hosted.tuning` runs the ledger's state machine): before any create,
``fine_tuning.list`` is searched for a job with that suffix; the create goes out with the SDK's
retries off (a resent create could start a second paid job).

Stages: ``base`` and ``tuned`` (the job's output model, answered through chat completions,
``--ftb-concurrency`` at a time, 429 ``retry-after`` honoured by the SDK's retries). Together
serves intermediate checkpoints only as downloads, so ``epoch:N`` stages are skipped with that
reason. A tuned model that is not served serverless fails each item with Together's message and
what to do (start a dedicated endpoint and pass its model name as ``together:<name>``).

Cost: no built-in price table (Together prices by model size and method and the numbers could
not be checked here): ``--ftb-price MODEL:USD`` for the estimate before upload, and after the
upload Together's own estimate (``/fine-tunes/estimate-price``) is checked against
``--ftb-max-cost`` before the create.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import together

from ..items import BASE, TUNED
from ..store import ledger as L
from ..store.ledger import Ledger
from . import RunContext
from .base import Answer, Endpoint, Prompt, ProviderError, TrainingPair, TuneRequest
from .hosted.api import (
    MAX_POLL_INTERVAL,
    Unavailable,
    chat_answer,
    chat_jsonl,
    check_stages,
    create_verdict,
    requested_epochs,
    server_url,
    start_client,
)
from .hosted.cost import Estimate, estimate, price_for, usd
from .hosted.tuning import RemoteProvider

DEFAULT_BASE_URL = "https://api.together.ai"
DEFAULT_EPOCHS = 3  # the provider's default when --ftb-epochs is not given (the SDK's is 1)
PREFIX = "together:"
DEDICATED_HINT = (
    "; Together serves this tuned model only on a dedicated endpoint: start one (together endpoints create --model "
    "<it>)"
    " and evaluate it as together:<the endpoint's model name>"
)


def create(ctx: RunContext) -> TogetherProvider:
    """The registry's factory."""
    return TogetherProvider(ctx)


def api_model(name: str) -> str:
    """``together:<model>`` -> ``<model>``."""
    return name.removeprefix(PREFIX)


def estimate_tokens(pairs: Sequence[TrainingPair]) -> int:
    """Training tokens per epoch, estimated without a tokenizer (~4 UTF-8 bytes a token, plus a little per turn)."""
    return sum(8 + math.ceil(len(p.prompt.encode()) / 4) + math.ceil(len(p.answer.encode()) / 4) for p in pairs)


def api_message(exc: BaseException) -> str:
    """The API's own error text (``HTTP 400: <message>``), else the exception's."""
    if isinstance(exc, together.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        message = error.get("message") if isinstance(error, dict) else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    if isinstance(exc, together.APIConnectionError):
        return f"connection error: {exc}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class TogetherProvider(RemoteProvider):
    """The Together AI provider."""

    name = "together"
    service = "Together AI"
    job_noun = "fine-tuning job"
    tag = "suffix ftb-{key}"
    job_field, status_field, tuned_field = "job_id", "remote_status", "tuned_model"
    succeeded = frozenset({"completed"})
    failed = frozenset({"error", "cancelled", "cancel_requested"})
    no_checkpoint = "Together serves only the final model"
    create_errors = (together.APIError,)
    absolute_learning_rate = True  # Together's learning_rate is a rate (default 1e-5), not a multiplier
    quotes_after_upload = True

    def __init__(
        self,
        ctx: RunContext,
        *,
        client: Any = None,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
    ) -> None:
        super().__init__(ctx, {}, poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self._client = client
        self.lora = ctx.options.get("lora")

    @property
    def client(self) -> together.Together:
        if self._client is None:
            hint = "set TOGETHER_API_KEY; TOGETHER_BASE_URL for another server"
            retries = self.opts.retries
            self._client = start_client(
                together.Together, together.TogetherError, "Together", hint, max_retries=retries
            )
        return self._client

    def base_url(self) -> str:
        return server_url(self._client, "TOGETHER_BASE_URL", DEFAULT_BASE_URL)

    def _salt(self) -> str:
        return f"|lora={self.lora}"

    def _api_model(self, request: TuneRequest) -> str:
        return api_model(request.model)

    def _api_message(self, exc: BaseException) -> str:
        return api_message(exc)

    def _plan(self, request: TuneRequest) -> Estimate:
        model, n = api_model(request.model), len(request.pairs)
        return estimate(
            model, n, estimate_tokens(request.pairs), self._epochs(request), price_for(model, self.opts.prices)
        )

    def _epochs(self, request: TuneRequest) -> int:
        return requested_epochs(request) or DEFAULT_EPOCHS

    # -- Provider protocol -------------------------------------------------------------------

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        check_stages(self.name, stages)
        if any(s not in (BASE, TUNED) for s in stages) and not self.opts.dry_run:
            wanted = [s for s in stages if s not in (BASE, TUNED)]
            self.ctx.progress(
                f"together {api_model(request.model)}: {', '.join(wanted)} skipped: Together serves intermediate "
                "checkpoints only as downloads"
            )
        return super().endpoints(request, stages)

    def _answerer(self, endpoint: Endpoint) -> Callable[[Prompt], Answer]:
        client, model = self.client.with_options(max_retries=self.opts.retries), api_model(str(endpoint.handle))

        def one(prompt: Prompt) -> Answer:
            try:
                return chat_answer(client, model, prompt, self.opts)
            except Exception as exc:  # every prompt gets an Answer: the API's message if it failed
                text = api_message(exc)
                return Answer(None, error=text + (DEDICATED_HINT if "non-serverless" in text else ""))

        return one

    # -- tuning hooks ------------------------------------------------------------------------

    def _upload(self, ledger: Ledger, key: str, request: TuneRequest, record: dict) -> str:
        if record.get("file_id"):
            return str(record["file_id"])
        with tempfile.TemporaryDirectory(prefix="ftb-together-") as tmp:
            path = Path(tmp) / f"ftb-{key}.jsonl"  # the SDK uploads a file by path (and checks it first)
            path.write_bytes(chat_jsonl(request.pairs))
            self.ctx.progress(f"together: uploading {len(request.pairs)} examples ({path.stat().st_size:,} bytes)")
            try:
                f = self.client.files.upload(file=path, purpose="fine-tune", check=True)
            except together.APIError as exc:
                raise ProviderError(f"uploading the training file failed: {api_message(exc)}") from None
            except Exception as exc:  # the SDK's own file check (FileTypeError...)
                raise ProviderError(
                    f"the together SDK refused the training file: {' '.join(str(exc).split())}"
                ) from None
        if f.processing_status not in (None, "COMPLETED"):
            report = f.validation_report.error if f.validation_report is not None else None
            raise ProviderError(f"Together rejected training file {f.id}: {report or f.processing_status}")
        ledger.update(key, L.UPLOADED, note=f"file {f.id}", file_id=f.id)
        self._check_quote(f.id, request)
        return f.id

    def _check_quote(self, training: str, request: TuneRequest) -> None:
        """``--ftb-max-cost`` against Together's own estimate for the uploaded file (nothing is launched if over)."""
        if self.opts.max_cost is None or price_for(api_model(request.model), self.opts.prices) is not None:
            return  # no limit, or already checked before the upload against --ftb-price
        try:
            quote = self.client.fine_tuning.estimate_price(
                training_file=training,
                model=api_model(request.model),
                n_epochs=self._epochs(request),
                **({"training_type": {"type": "Full"}} if self.lora == 0 else {}),
            )  # LoRA is the default
        except together.APIError as exc:
            raise ProviderError(f"Together's price estimate failed: {api_message(exc)}; nothing was launched") from None
        price = getattr(quote, "estimated_total_price", None)
        if price is None:
            raise ProviderError(
                f"Together gives no price estimate for {request.model} "
                f"({getattr(quote, 'unavailable_reason', 'unavailable')}),"
                f" so --ftb-max-cost {usd(self.opts.max_cost)} cannot be checked; nothing was launched (pass "
                "--ftb-price MODEL:USD)"
            )
        k = self.opts.seeds  # --ftb-seeds=K: K such jobs, all counted before the first is launched
        every = f", {usd(price * k)} for all {k} seeds" if k > 1 else ""
        self.ctx.progress(
            f"together: Together estimates {usd(price)} for this job{every} (--ftb-max-cost {usd(self.opts.max_cost)})"
        )
        if price * k > self.opts.max_cost:
            raise ProviderError(
                f"refusing to launch: Together estimates {usd(price)}{' a job' + every if k > 1 else ''}, over"
                f" --ftb-max-cost {usd(self.opts.max_cost)}; the file is uploaded, nothing was launched"
            )

    def _create(self, key: str, request: TuneRequest, record: dict, training: str) -> Any:
        model, epochs = api_model(request.model), self._epochs(request)
        lora: dict[str, Any] = (
            {}
            if self.lora is None
            else ({"lora": False} if int(self.lora) == 0 else {"lora": True, "lora_r": int(self.lora)})
        )
        extra: dict[str, Any] = {}
        if request.settings.learning_rate is not None:
            extra["learning_rate"] = request.settings.learning_rate
        if request.settings.batch_size is not None:
            extra["batch_size"] = request.settings.batch_size
        return self.client.with_options(max_retries=0).fine_tuning.create(
            training_file=training,
            model=model,
            n_epochs=epochs,
            suffix=f"ftb-{key}",
            random_seed=request.settings.seed,
            train_on_inputs="auto",
            **lora,
            **extra,
        )

    def _create_failure(self, exc: BaseException) -> str:
        status = exc.status_code if isinstance(exc, together.APIStatusError) else None
        return create_verdict(
            status, transport=isinstance(exc, (together.APIConnectionError, together.APITimeoutError))
        )

    def _list_jobs(self, key: str) -> list[Any]:
        try:
            return [j for j in self.client.fine_tuning.list().data if j.suffix == f"ftb-{key}"]
        except together.APIError as exc:
            raise ProviderError(f"looking up earlier Together fine-tuning jobs failed: {api_message(exc)}") from None

    def _job_id(self, job: Any) -> str:
        return job.id

    def _status(self, job: Any) -> str:
        return str(getattr(job.status, "value", job.status))

    def _pretty(self, status: str) -> str:
        return "failed (status error)" if status == "error" else status  # "<job> error: ..." reads as a typo

    def _created(self, job: Any) -> Any:
        return str(job.created_at or "")

    def _fetch(self, ledger: Ledger, key: str, job_id: str, model: str) -> Any | None:
        try:
            return self.client.fine_tuning.retrieve(job_id)
        except together.NotFoundError as exc:
            raise self._gone(ledger, key, job_id, model, exc) from None
        except together.APIError as exc:  # transient (the SDK already retried): keep waiting
            self.ctx.progress(f"together {model} {job_id}: status check failed ({api_message(exc)}), retrying")
            return None

    def _outcome(self, job: Any, request: TuneRequest) -> dict[str, Any] | str | None:
        status = self._status(job)
        if status == "completed":
            name = job.x_model_output_name
            if not name:
                return "it reported no output model"
            self.ctx.progress(f"together {api_model(request.model)} {job.id}: completed -> {name}")
            return dict(tuned_model=name, n_epochs=job.n_epochs, checkpoints={})
        if status in self.failed:
            errors = [e.message for e in (job.events or []) if getattr(e, "level", None) == "error"]
            return errors[-1] if errors else f"the job is {status}"
        return None

    def _progress_line(self, job: Any, model: str, elapsed: float) -> str:
        parts = [f"together {model} {job.id}: {self._status(job)}"]
        if job.progress is not None and job.progress.estimate_available:
            parts.append(
                "ETA " + time.strftime("%H:%M:%S", time.localtime(time.time() + job.progress.seconds_remaining))
            )
        parts.append(f"{elapsed:.0f}s waited")
        return ", ".join(parts)


__all__ = ["TogetherProvider", "Unavailable", "create"]
