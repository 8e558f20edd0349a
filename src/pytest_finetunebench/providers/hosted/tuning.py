"""Tuning exactly once per key over the :mod:`ledger <pytest_finetunebench.store.ledger>`: what the
paid-API providers (:mod:`..openai`, :mod:`..gemini`, :mod:`..together`) share beyond :mod:`.api`.

:class:`RemoteProvider` runs the state machine; a subclass supplies only what is specific to its
API (listing, creating and polling jobs, reading their states, answering one prompt). Under
:meth:`Ledger.claim` on the key, :meth:`RemoteProvider.tune`

1. reuses what the ledger recorded (a finished job, a job to wait for, a failure to report);
2. ``creating`` (an earlier create's outcome is unknown): looks the job up; if it is not listed,
   raises and leaves the record as it is. It never creates again on its own: a job list can lag
   a create, and a second create is a second paid job (the message names the ledger file whose
   deletion allows a new create);
3. else adopts a job tagged with the key (a run killed after the create was accepted, or a lost
   ledger), else estimates the cost, checks ``--ftb-max-cost``, uploads, records ``creating`` and
   sends the create once, with the SDK's retries off. A refusal (4xx) goes back to ``uploaded``
   (nothing launched); a 429 is re-sent after a backoff (the server turned it away); anything
   unclear (dropped connection, timeout, 408/409/5xx) is looked up a few times with backoff and,
   if still not listed, handled as in 2.

Jobs are adopted by exclusion: a listed job counts unless its state is a failed one (so a job in
a state this code does not know, e.g. one the API added later, is adopted, never duplicated).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ...items import BASE, TUNED, epoch_of
from ...store import ledger as L
from ...store.ledger import Ledger, strip_userinfo
from .. import RunContext
from ..base import Answer, Endpoint, Prompt, ProviderError, TuneRequest
from .api import (
    MAX_POLL_INTERVAL,
    REFUSED,
    UNCLEAR,
    ApiOptions,
    Unavailable,
    answer_concurrently,
    check_learning_rate,
    check_stages,
    checkpoint_or_skip,
    sleep,
)
from .cost import Estimate, check_max_cost, over_budget, usd

CREATE_TRIES = 5  # creates turned away with a 429 (nothing launched) are re-sent this many times in all
UNCLEAR_LOOKS = 4  # job-list lookups (with backoff) after a create whose outcome is unknown


class RemoteProvider(ABC):
    """The shared half of an API provider: endpoints, answers, and tuning once per key.

    Subclasses set the class attributes and implement the abstract hooks below (job objects are
    whatever the SDK returns; only the hooks look inside them).
    """

    name: ClassVar[str]
    service: ClassVar[str]  # "OpenAI", "Vertex AI"
    job_noun: ClassVar[str]  # "fine-tuning job", "tuning job"
    tag: ClassVar[str]  # how a job carries its key, as a progress line names it
    job_field: ClassVar[str]  # ledger field of the job's id
    status_field: ClassVar[str]  # ledger field of the job's last seen status
    tuned_field: ClassVar[str]  # ledger field of the tuned model's handle
    succeeded: ClassVar[frozenset[str]]
    failed: ClassVar[frozenset[str]]  # failed, cancelled, expired: every other listed job is adopted
    no_checkpoint: ClassVar[str]  # why an epoch has no checkpoint (the job ran it)
    create_errors: ClassVar[tuple[type[BaseException], ...]]
    absolute_learning_rate: ClassVar[bool] = (
        False  # the API takes a rate (--ftb-learning-rate), not a multiplier of its default
    )
    quotes_after_upload: ClassVar[bool] = (
        False  # the API prices the uploaded file itself: --ftb-max-cost is checked then, not before
    )

    def __init__(
        self,
        ctx: RunContext,
        prices: Mapping[str, float],
        *,
        poll_interval: float | None = None,
        max_poll_interval: float = MAX_POLL_INTERVAL,
    ) -> None:
        self.ctx = ctx
        self.ledger = Ledger(ctx.store, self.name)  # the live ledger (a replay uses its own: ledger_for)
        self.opts = ApiOptions.from_ctx(ctx, prices, poll_interval=poll_interval, max_poll_interval=max_poll_interval)

    @property
    def poll_interval(self) -> float:
        return self.opts.poll_interval

    def ledger_for(self, request: TuneRequest) -> Ledger:
        """The ledger of ``request``'s job: the live one, or while its cassette replays a throwaway one."""
        return Ledger(self.ctx.ledger_store(self.name, request), self.name)

    def replaying(self, request: TuneRequest | str) -> bool:
        """Whether every call for ``request``'s model (or model name) is answered from a cassette."""
        return self.ctx.replaying(self.name, request)

    # -- what each API implements --------------------------------------------------------------

    @abstractmethod
    def base_url(self) -> str:
        """The server this provider talks to (part of the tuning key)."""

    @abstractmethod
    def _api_message(self, exc: BaseException) -> str:
        """The API's own error text for ``exc``."""

    @abstractmethod
    def _plan(self, request: TuneRequest) -> Estimate:
        """The tokens and cost the job for ``request`` is expected to take."""

    @abstractmethod
    def _upload(self, ledger: Ledger, key: str, request: TuneRequest, record: dict) -> str:
        """Put the training data where the API reads it (unless ``record`` says it is there); its reference."""

    @abstractmethod
    def _create(self, key: str, request: TuneRequest, record: dict, training: str) -> Any:
        """Send the create once (the SDK's retries off); the job."""

    @abstractmethod
    def _create_failure(self, exc: BaseException) -> str:
        """``REFUSED`` or ``THROTTLED`` (nothing launched) or ``UNCLEAR`` (:func:`.api.create_verdict`)."""

    @abstractmethod
    def _list_jobs(self, key: str) -> list[Any]:
        """Every job tagged with ``key``."""

    @abstractmethod
    def _job_id(self, job: Any) -> str:
        """The job's id."""

    @abstractmethod
    def _status(self, job: Any) -> str:
        """The job's state as the API spells it."""

    @abstractmethod
    def _created(self, job: Any) -> Any:
        """A sort key of the job's creation (newer is larger)."""

    @abstractmethod
    def _fetch(self, ledger: Ledger, key: str, job_id: str, model: str) -> Any | None:
        """The job now; ``None`` after a transient failure; raises :meth:`_gone` when it no longer exists."""

    @abstractmethod
    def _outcome(self, job: Any, request: TuneRequest) -> dict[str, Any] | str | None:
        """A finished job's ledger fields, or why it failed (a str), or ``None`` while it runs."""

    @abstractmethod
    def _progress_line(self, job: Any, model: str, elapsed: float) -> str:
        """One line on a running job."""

    @abstractmethod
    def _answerer(self, endpoint: Endpoint) -> Callable[[Prompt], Answer]:
        """A thread-safe function answering one prompt, never raising."""

    # -- hooks with a default ------------------------------------------------------------------

    def key(self, request: TuneRequest) -> str:
        """The tuning key: the request's hash salted with the provider, its server (no credentials) and ``salt()``."""
        return request.key(salt=f"{self.name}|{strip_userinfo(self.base_url())}{self._salt()}")

    def _salt(self) -> str:
        return ""

    def _check(self, model: str, *, tuning: bool) -> None:  # noqa: B027 - a hook whose default checks nothing
        """Raise a one-line :class:`ProviderError` for a model or configuration that cannot work."""

    def _api_model(self, request: TuneRequest) -> str:
        return request.model

    def _refused_hint(self) -> str:
        """What a refused create can mean at this service, and where to turn (appended to the one line)."""
        return ""

    def _record_fields(self) -> dict[str, Any]:
        """Extra fields of a new ledger record."""
        return {}

    def _source(self, request: TuneRequest, key: str) -> str:
        """What a dry run would do with the training data (``upload 12 examples``)."""
        return f"upload {len(request.pairs)} examples"

    def _pretty(self, status: str) -> str:
        return status

    # -- Provider protocol -------------------------------------------------------------------

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        check_stages(self.name, stages)
        needs_tuning = any(s != BASE for s in stages)
        if needs_tuning:
            check_learning_rate(self.service, self.ctx.options, absolute=self.absolute_learning_rate)
        self._check(request.model, tuning=needs_tuning)
        model = self._api_model(request)
        if self.opts.dry_run:
            reason = (
                "dry run (--ftb-dry-run): "
                + (self._dry_run_line(request) if needs_tuning else f"would ask {model}")
                + "; launched nothing"
            )
            self.ctx.progress(f"{self.name}: {reason}")
            return {s: Endpoint(request.model, s, Unavailable(reason)) for s in stages}
        out: dict[str, Endpoint] = {}
        if BASE in stages:
            out[BASE] = Endpoint(request.model, BASE, model)
        if needs_tuning:
            record = self.tune(request)
            for stage in stages:
                if stage == TUNED:
                    out[stage] = Endpoint(request.model, stage, record[self.tuned_field])
                elif stage != BASE:
                    out[stage] = Endpoint(
                        request.model,
                        stage,
                        checkpoint_or_skip(
                            record, epoch_of(stage) or 0, record.get(self.job_field), self.no_checkpoint
                        ),
                    )
        return {s: out[s] for s in stages}

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        if isinstance(endpoint.handle, Unavailable):
            return [Answer(None, skip=endpoint.handle.reason) for _ in prompts]
        if not prompts:
            return []
        label = f"{self.name} {endpoint.model} [{endpoint.stage}]"
        return answer_concurrently(label, prompts, self._answerer(endpoint), self.opts.concurrency, self.ctx.progress)

    # -- tuning once -------------------------------------------------------------------------

    def tune(self, request: TuneRequest) -> dict[str, Any]:
        """The ledger record of the succeeded job for ``request``, launching it only if none exists."""
        self._check(request.model, tuning=True)
        key, ledger = self.key(request), self.ledger_for(request)
        with ledger.claim(key):
            record = ledger.get(key)
            state = record["state"] if record else None
            if state == L.SUCCEEDED:
                return record
            if state == L.FAILED:
                raise ProviderError(
                    f"{record['error']} [recorded in {ledger.path(key)}; delete it to launch a new job]"
                )
            if record is None or not record.get(self.job_field):
                if state == L.CREATING:  # an earlier create's outcome is unknown: look, never re-send
                    job = self._look_again(
                        ledger, key, request, "was sent by an earlier run, which recorded no answer", wait_first=False
                    )
                else:
                    job = self._find_job(key, include_failed=False) or self._launch(ledger, key, request, record)
                record = ledger.update(
                    key,
                    L.RUNNING,
                    note=f"job {self._job_id(job)}",
                    **{self.job_field: self._job_id(job), self.status_field: self._status(job)},
                )
            return self._wait(ledger, key, record, request)

    def _launch(self, ledger: Ledger, key: str, request: TuneRequest, record: dict | None) -> Any:
        model = self._api_model(request)
        plan = self._plan(request)
        self.ctx.progress(f"{self.name}: launching a {self.job_noun}: {plan.line}")
        if not (self.quotes_after_upload and plan.cost is None):  # every seed's job counted, from the first
            check_max_cost(plan.times(self.opts.seeds), self.opts.max_cost)
        if record is None:
            cost = None if plan.cost is None else round(plan.cost, 4)
            fields = dict(
                ftb_key=key,
                model=model,
                base_url=self.base_url(),
                n_examples=len(request.pairs),
                estimated_training_tokens=plan.training_tokens,
                estimated_cost_usd=cost,
            )
            record = ledger.update(key, L.NEW, **fields, **self._record_fields())
        training = self._upload(ledger, key, request, record)
        backoff, attempt = self.opts.poll_interval, 0
        while True:
            attempt += 1
            record = ledger.update(
                key, L.CREATING, note="create sent", create_attempts=int(record.get("create_attempts", 0)) + 1
            )
            try:
                return self._create(key, request, record, training)
            except self.create_errors as exc:
                message = self._api_message(exc)
                verdict = self._create_failure(exc)
                if verdict == UNCLEAR:
                    self.ctx.progress(
                        f"{self.name}: {self.job_noun} create for {model} got no clear answer ({message}); looking "
                        "for it (nothing is re-sent)"
                    )
                    return self._look_again(ledger, key, request, f"got no clear answer ({message})", wait_first=True)
                record = ledger.update(key, L.UPLOADED, note=f"create refused: {message}", last_error=message)
                if verdict == REFUSED or attempt == CREATE_TRIES:
                    raise ProviderError(
                        f"{self.service} refused the {self.job_noun} for {model}: {message}{self._refused_hint()}"
                    ) from None
                self.ctx.progress(
                    f"{self.name}: {self.job_noun} create for {model} turned away ({message}); nothing was launched, "
                    f"retrying in {backoff:g} s"
                )
                sleep(backoff)
                backoff = min(backoff * 2, self.opts.max_poll_interval)

    def _look_again(self, ledger: Ledger, key: str, request: TuneRequest, why: str, *, wait_first: bool) -> Any:
        """The job of a create whose outcome is unknown, looked up ``UNCLEAR_LOOKS`` times with backoff.

        Not listed: the record stays ``creating`` and this raises; nothing is ever re-sent.
        """
        backoff = self.opts.poll_interval
        for look in range(UNCLEAR_LOOKS):
            if look or wait_first:
                sleep(backoff)
                backoff = min(backoff * 2, self.opts.max_poll_interval)
            job = self._find_job(key, include_failed=True)
            if job is not None:
                return job
        path = ledger.path(key)
        ledger.update(key, note=f"no job listed after {UNCLEAR_LOOKS} looks; nothing re-sent")
        raise ProviderError(
            f"{self.service} {self.job_noun} for {self._api_model(request)}: outcome unknown: its create {why}, and "
            "no job with its "
            f"{self.tag.format(key=key)} is listed after {UNCLEAR_LOOKS} looks. Nothing was re-sent (a second create "
            "could launch "
            f"a second paid job); a rerun looks again. Once you are sure no job was launched at {self.service}, "
            f"delete {path} to allow a new create"
        )

    def _find_job(self, key: str, *, include_failed: bool) -> Any | None:
        """The newest succeeded job tagged ``key``, else the newest not failed, else (``include_failed``) the newest
        failed."""
        jobs = sorted(self._list_jobs(key), key=self._created, reverse=True)
        done = [j for j in jobs if self._status(j) in self.succeeded]
        active = [j for j in jobs if self._status(j) not in self.succeeded and self._status(j) not in self.failed]
        failed = [j for j in jobs if self._status(j) in self.failed] if include_failed else []
        found = done or active or failed
        if not found:
            return None
        job = found[0]
        self.ctx.progress(
            f"{self.name}: resuming {self.job_noun} {self._job_id(job)} ({self._pretty(self._status(job))}) found by "
            f"its {self.tag.format(key=key)}"
        )
        return job

    def _wait(self, ledger: Ledger, key: str, record: dict, request: TuneRequest) -> dict[str, Any]:
        job_id, model = record[self.job_field], self._api_model(request)
        started = time.monotonic()
        deadline = started + self.opts.job_timeout
        interval = self.opts.poll_interval
        status = record.get(self.status_field)
        name = f"{self.service} {self.job_noun} {job_id} for {model}"
        while True:
            job = self._fetch(ledger, key, job_id, model)
            if job is not None:
                if self._status(job) != status:
                    status = self._status(job)
                    ledger.update(key, L.RUNNING, note=f"remote {status}", **{self.status_field: status})
                outcome = self._outcome(job, request)
                if isinstance(outcome, dict):
                    return ledger.update(key, L.SUCCEEDED, **outcome)
                if isinstance(outcome, str):
                    message = f"{name} {self._pretty(status)}: {outcome}"
                    ledger.update(key, L.FAILED, note=message, error=message)
                    raise ProviderError(message)
                self.ctx.progress(self._progress_line(job, model, time.monotonic() - started))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"{name} still {self._pretty(status or 'unknown')} after {self.opts.job_timeout:g} s "
                    "(--ftb-job-timeout); "
                    f"it keeps running at {self.service} and a rerun resumes waiting for it"
                )
            sleep(min(interval, remaining))
            interval = min(interval * 1.5, self.opts.max_poll_interval)

    def _gone(self, ledger: Ledger, key: str, job_id: str, model: str, exc: BaseException) -> ProviderError:
        """Record that the job no longer exists (a failure); the error to raise."""
        message = f"{self.service} {self.job_noun} {job_id} for {model} is gone: {self._api_message(exc)}"
        ledger.update(key, L.FAILED, note=message, error=message)
        return ProviderError(message)

    def _dry_run_line(self, request: TuneRequest) -> str:
        key = self.key(request)
        record = self.ledger_for(request).get(key)
        if record and record["state"] == L.SUCCEEDED:
            return f"would reuse {record[self.tuned_field]} (job {record[self.job_field]}, ledger {key})"
        if record and record.get(self.job_field):
            return (
                f"would resume waiting for job {record[self.job_field]} ({record.get(self.status_field)}, ledger {key})"
            )
        plan = self._plan(request).times(self.opts.seeds)
        line = f"would {self._source(request, key)} and launch a {self.job_noun}: {plan.line}"
        if over_budget(plan, self.opts.max_cost):
            line += f"; --ftb-max-cost {usd(self.opts.max_cost)} would refuse it"
        return line
