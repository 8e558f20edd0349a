"""What the paid-API providers (:mod:`.openai`, :mod:`.gemini`) share: their options, concurrent
answers, and tuning exactly once per key over the :mod:`ledger <pytest_finetunebench.store.ledger>`.

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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..store import ledger as L
from ..store.ledger import Ledger, strip_userinfo
from . import RunContext
from .base import (
    BASE,
    TUNED,
    Answer,
    Endpoint,
    Prompt,
    ProviderError,
    TuneRequest,
    epoch_of,
)
from .cost import check_max_cost, over_budget, parse_prices, usd

MAX_POLL_INTERVAL = 60.0
CREATE_TRIES = 5  # creates turned away with a 429 (nothing launched) are re-sent this many times in all
UNCLEAR_LOOKS = 4  # job-list lookups (with backoff) after a create whose outcome is unknown
PROGRESS_SECONDS = 2.0  # while answering, a progress line at least this often

REFUSED, THROTTLED, UNCLEAR = "refused", "throttled", "unclear"


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


def answer_concurrently(label: str, prompts: Sequence[Prompt], one: Callable[[Prompt], Answer], concurrency: int, progress: Callable[[str], None]) -> list[Answer]:
    """``one(prompt)`` for every prompt, ``concurrency`` at a time, in order; a progress line every
    ~5% of the answers and at least every :data:`PROGRESS_SECONDS`."""
    results: list[Answer] = [Answer(None)] * len(prompts)  # every slot is filled below
    total, done, failed = len(prompts), 0, 0
    step, last = max(1, total // 20), time.monotonic()
    workers = max(1, min(concurrency, total))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ftb-answer") as pool:  # pragma: no mutate (a thread name no output shows)
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
    max_tokens: int
    retries: int
    prices: dict[str, float]

    @classmethod
    def from_ctx(cls, ctx: RunContext, prices: Mapping[str, float], *, poll_interval: float | None = None, max_poll_interval: float = MAX_POLL_INTERVAL) -> "ApiOptions":
        """Read ``ctx.options`` (``poll_interval``/``max_poll_interval`` arguments override them, for tests).

        A poll interval of 0 is honored (every sleep is then instant), not replaced by the default.
        """
        o = ctx.options
        if poll_interval is None:
            poll_interval = o.get("poll_interval")
        poll = float(poll_interval) if poll_interval is not None else 10.0
        return cls(
            concurrency=max(1, int(o.get("concurrency") or 16)),
            max_cost=None if o.get("max_cost") is None else float(o["max_cost"]),
            dry_run=bool(o.get("dry_run")),
            job_timeout=float(o.get("job_timeout") or 21600.0),
            poll_interval=poll,
            max_poll_interval=max(max_poll_interval, poll),
            temperature=float(o.get("temperature") or 0.0),
            seed=int(o.get("seed") or 0),
            max_tokens=int(o.get("max_new_tokens") or 32),
            retries=int(o["api_retries"]) if o.get("api_retries") is not None else 8,
            prices={**prices, **parse_prices(o.get("price"))},
        )


class RemoteProvider:
    """The shared half of an API provider: endpoints, answers, and tuning once per key.

    Subclasses set the class attributes and implement these hooks (job objects are whatever the
    SDK returns; only the hooks look inside them):

    * ``base_url()``; ``_api_message(exc)``: the API's own error text; ``_plan(request)``: an
      :class:`~.cost.Estimate`;
    * ``_upload(ledger, key, request, record)``: put the training data where the API reads it
      (unless ``record`` says it is there), return its reference;
    * ``_create(key, request, record, training)``: send the create once (no retries), return the job;
      ``_create_failure(exc)``: ``REFUSED`` or ``THROTTLED`` (nothing launched) or ``UNCLEAR``;
    * ``_list_jobs(key)``: every job tagged with ``key``; ``_job_id(job)``, ``_status(job)``,
      ``_created(job)`` (a sort key, newer is larger);
    * ``_fetch(ledger, key, job_id, model)``: the job now, ``None`` after a transient failure,
      raising :meth:`_gone` when it no longer exists; ``_outcome(job, request)``: a finished
      job's ledger fields, or why it failed (a str), or ``None`` while it runs;
      ``_progress_line(job, model, elapsed)``;
    * ``_answerer(endpoint)``: a thread-safe function answering one prompt, never raising.
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
    absolute_learning_rate: ClassVar[bool] = False  # the API takes a rate (--ftb-learning-rate), not a multiplier of its default
    quotes_after_upload: ClassVar[bool] = False  # the API prices the uploaded file itself: --ftb-max-cost is checked then, not before

    def __init__(self, ctx: RunContext, prices: Mapping[str, float], *, poll_interval: float | None = None, max_poll_interval: float = MAX_POLL_INTERVAL) -> None:
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

    # -- hooks -------------------------------------------------------------------------------

    def key(self, request: TuneRequest) -> str:
        """The tuning key: the request's hash salted with the provider, its server (no credentials) and ``salt()``."""
        return request.key(salt=f"{self.name}|{strip_userinfo(self.base_url())}{self._salt()}")

    def _salt(self) -> str:
        return ""

    def _check(self, model: str, *, tuning: bool) -> None:
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
        if needs_tuning and not self.absolute_learning_rate and self.ctx.options.get("learning_rate") is not None:
            raise ProviderError(f"--ftb-learning-rate is an absolute rate for local models; {self.service} takes a multiplier of its own default:"
                                " pass --ftb-learning-rate-multiplier instead (e.g. 2.0)")
        if needs_tuning and self.absolute_learning_rate and self.ctx.options.get("learning_rate_multiplier") is not None:
            raise ProviderError(f"--ftb-learning-rate-multiplier scales a default rate, but {self.service} takes an absolute learning rate:"
                                " pass --ftb-learning-rate instead (e.g. 1e-5)")
        self._check(request.model, tuning=needs_tuning)
        model = self._api_model(request)
        if self.opts.dry_run:
            reason = "dry run (--ftb-dry-run): " + (self._dry_run_line(request) if needs_tuning else f"would ask {model}") + "; launched nothing"
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
                    out[stage] = Endpoint(request.model, stage, checkpoint_or_skip(record, epoch_of(stage) or 0, record.get(self.job_field), self.no_checkpoint))
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
                raise ProviderError(f"{record['error']} [recorded in {ledger.path(key)}; delete it to launch a new job]")
            if record is None or not record.get(self.job_field):
                if state == L.CREATING:  # an earlier create's outcome is unknown: look, never re-send
                    job = self._look_again(ledger, key, request, "was sent by an earlier run, which recorded no answer", wait_first=False)
                else:
                    job = self._find_job(key, include_failed=False) or self._launch(ledger, key, request, record)
                record = ledger.update(key, L.RUNNING, note=f"job {self._job_id(job)}", **{self.job_field: self._job_id(job), self.status_field: self._status(job)})
            return self._wait(ledger, key, record, request)

    def _launch(self, ledger: Ledger, key: str, request: TuneRequest, record: dict | None) -> Any:
        model = self._api_model(request)
        plan = self._plan(request)
        self.ctx.progress(f"{self.name}: launching a {self.job_noun}: {plan.line}")
        if not (self.quotes_after_upload and plan.cost is None):
            check_max_cost(plan, self.opts.max_cost)
        if record is None:
            cost = None if plan.cost is None else round(plan.cost, 4)
            fields = dict(ftb_key=key, model=model, base_url=self.base_url(), n_examples=len(request.pairs), estimated_training_tokens=plan.training_tokens, estimated_cost_usd=cost)
            record = ledger.update(key, L.NEW, **fields, **self._record_fields())
        training = self._upload(ledger, key, request, record)
        backoff, attempt = self.opts.poll_interval, 0
        while True:
            attempt += 1
            record = ledger.update(key, L.CREATING, note="create sent", create_attempts=int(record.get("create_attempts", 0)) + 1)
            try:
                return self._create(key, request, record, training)
            except self.create_errors as exc:
                message = self._api_message(exc)
                verdict = self._create_failure(exc)
                if verdict == UNCLEAR:
                    self.ctx.progress(f"{self.name}: {self.job_noun} create for {model} got no clear answer ({message}); looking for it (nothing is re-sent)")
                    return self._look_again(ledger, key, request, f"got no clear answer ({message})", wait_first=True)
                record = ledger.update(key, L.UPLOADED, note=f"create refused: {message}", last_error=message)
                if verdict == REFUSED or attempt == CREATE_TRIES:
                    raise ProviderError(f"{self.service} refused the {self.job_noun} for {model}: {message}{self._refused_hint()}") from None
                self.ctx.progress(f"{self.name}: {self.job_noun} create for {model} turned away ({message}); nothing was launched, retrying in {backoff:g} s")
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
            f"{self.service} {self.job_noun} for {self._api_model(request)}: outcome unknown: its create {why}, and no job with its "
            f"{self.tag.format(key=key)} is listed after {UNCLEAR_LOOKS} looks. Nothing was re-sent (a second create could launch "
            f"a second paid job); a rerun looks again. Once you are sure no job was launched at {self.service}, delete {path} to allow a new create"
        )

    def _find_job(self, key: str, *, include_failed: bool) -> Any | None:
        """The newest succeeded job tagged ``key``, else the newest not failed, else (``include_failed``) the newest failed."""
        jobs = sorted(self._list_jobs(key), key=self._created, reverse=True)
        done = [j for j in jobs if self._status(j) in self.succeeded]
        active = [j for j in jobs if self._status(j) not in self.succeeded and self._status(j) not in self.failed]
        failed = [j for j in jobs if self._status(j) in self.failed] if include_failed else []
        found = done or active or failed
        if not found:
            return None
        job = found[0]
        self.ctx.progress(f"{self.name}: resuming {self.job_noun} {self._job_id(job)} ({self._pretty(self._status(job))}) found by its {self.tag.format(key=key)}")
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
                    f"{name} still {self._pretty(status or 'unknown')} after {self.opts.job_timeout:g} s (--ftb-job-timeout); "
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
            return f"would resume waiting for job {record[self.job_field]} ({record.get(self.status_field)}, ledger {key})"
        plan = self._plan(request)
        line = f"would {self._source(request, key)} and launch a {self.job_noun}: {plan.line}"
        if over_budget(plan, self.opts.max_cost):
            line += f"; --ftb-max-cost {usd(self.opts.max_cost)} would refuse it"
        return line
