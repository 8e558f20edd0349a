"""An OpenAI-compatible fine-tuning API emulator: a test double that says it is one.

It speaks enough of the OpenAI HTTP API for the real ``openai`` SDK to run the whole tuning
lifecycle against it: file upload, job create/list/retrieve/events/checkpoints/cancel and chat
completions. It "trains" by memorizing: a tuned model (``ft:<base>:ftb-emulator:<suffix>:<id>``)
answers a training prompt with the trained answer and anything else with
``emulator: no trained answer`` (so do base models). No model is involved, nothing is learned.

Usage::

    with OpenAIEmulator(job_seconds=0.5) as emu:
        client = openai.OpenAI(base_url=emu.url + "/v1", api_key="sk-test")
        ...
        assert emu.jobs_created == 1

or standalone: ``python -m pytest_finetunebench.testing.openai_emulator --port 8000``, then
``OPENAI_BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=sk-test pytest --ftb-model gpt-4o-mini-2024-07-18``.

Settings are plain attributes, changeable while it runs:

* ``latency``: seconds every request waits before it is answered;
* ``job_seconds`` / ``job_polls``: a job succeeds once it is this old *and* was retrieved this
  many times (both 0: instant, done at the first retrieve);
* ``file_polls``: retrieves before an uploaded file is ``processed``;
* ``fail_jobs``: an error message; jobs that finish while it is set fail with it;
* ``drop_creates``: the next N job creates are recorded, then the socket is closed without a
  response (the server accepted the job, the client never hears of it);
* ``lose_creates``: the next N job creates close the socket before anything is recorded (the
  request never reached the API: no job, and the client cannot tell the two apart);
* ``loading_requests``: how many chat requests a just-tuned model answers 404 ``model_not_found``
  before it is served (the real API's loading window);
* ``min_examples``: a job on fewer examples is created, then fails ``invalid_n_examples`` (10);
* ``reject_files``: a message; uploaded files then end in status ``error`` with it as ``status_details``;
* :meth:`fault`: the next N requests to a path get an HTTP error (429 with ``retry-after`` in whole
  seconds and ``retry-after-ms``, 500...).

It refuses what the service refuses: unknown request fields (400), retired snapshots (400 to
tune, 404 to ask), models it does not tune; aliases (``gpt-4o-mini``) tune their dated snapshot;
event and checkpoint lists honour ``after`` like job lists.

Counters for tests: ``jobs_created``, ``requests`` (a Counter of ``"METHOD /v1/path/{id}"``),
``bodies`` (the last JSON body per such route), ``max_in_flight`` (most requests served at once).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from . import server
from .server import Emulator, Fault, Reply, Request, json_reply

NO_ANSWER = "emulator: no trained answer"

# Base snapshots the emulator tunes in December 2026 (others get the API's 400 message).
TUNABLE = frozenset({"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"})
# Aliases resolve to their dated snapshot: a job reports the snapshot it tuned.
ALIASES = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1": "gpt-4.1-2025-04-14", "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14"}
# Retired on 2026-10-23: neither tuned nor answered.
RETIRED = frozenset({"gpt-3.5-turbo-0125", "gpt-3.5-turbo", "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"})
MIN_EXAMPLES = 10  # fewer: the job is created, then fails (invalid_n_examples)
# Request fields the API takes; any other is a 400 (as OpenAI answers unknown parameters).
JOB_FIELDS = frozenset({"model", "training_file", "hyperparameters", "integrations", "metadata", "method", "seed", "suffix", "validation_file"})
CHAT_FIELDS = frozenset({
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
    "max_tokens", "metadata", "modalities", "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_options", "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop", "store",
    "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})

_ID_SEGMENT = re.compile(r"^(file-|ftjob-|ftckpt_|ftevent-)")


def _rand(n: int = 12) -> str:
    return secrets.token_hex(n)[:n]


def _error(message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def auto_epochs(n_examples: int) -> int:
    """OpenAI's documented rule for ``n_epochs="auto"``: 3, stretched so small sets see ~100 examples."""
    n_epochs = 3
    if n_examples * n_epochs < 100:
        n_epochs = min(25, math.ceil(100 / max(n_examples, 1)))
    elif n_examples * n_epochs > 25000:
        n_epochs = max(1, 25000 // n_examples)
    return n_epochs


class OpenAIEmulator(Emulator):
    """The emulated API server (a thread of this process); a context manager."""

    thread_name = "openai-emulator"
    methods = ("GET", "POST", "DELETE")
    fault_messages = {
        429: "Rate limit reached for requests (emulated). Please try again later.",
        500: "The server had an error while processing your request. Sorry about that! (emulated)",
        503: "The engine is currently overloaded, please try again later. (emulated)",
    }

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        job_seconds: float = 0.0,
        job_polls: int = 0,
        file_polls: int = 0,
        fail_jobs: str | None = None,
        drop_creates: int = 0,
        lose_creates: int = 0,
        keep_checkpoints: int = 3,
        tunable: frozenset[str] | set[str] = TUNABLE,
        api_key: str | None = None,
        loading_requests: int = 0,
        min_examples: int = MIN_EXAMPLES,
    ) -> None:
        super().__init__(host=host, port=port, latency=latency, job_seconds=job_seconds, job_polls=job_polls, drop_creates=drop_creates, lose_creates=lose_creates)
        self.file_polls = file_polls
        self.reject_files: str | None = None  # a message: uploaded files end in status "error" with it as status_details
        self.fail_jobs = fail_jobs
        self.keep_checkpoints = keep_checkpoints
        self.tunable = set(tunable)
        self.api_key = api_key
        self.loading_requests = loading_requests  # chat requests a new fine-tuned model answers 404 before it is served
        self.min_examples = min_examples
        self._loading: dict[str, int] = {}
        self.bodies: dict[str, Any] = {}  # the last JSON body sent to each route ("POST /v1/chat/completions")
        self._files: dict[str, dict[str, Any]] = {}
        self._models: dict[str, dict[str, str]] = {}  # model id -> {prompt: answer}

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url``: ``<url>/v1`` (:attr:`url` is ``http://127.0.0.1:<port>``)."""
        return self.url + "/v1"

    def env(self) -> dict[str, str]:
        """The environment that points the ``openai`` SDK here (base URL and key)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": self.api_key or "sk-test"}

    # -- test controls -----------------------------------------------------------------------

    def fault(self, status: int, count: int = 1, *, path: str | None = "/v1/chat/completions", method: str | None = None, retry_after: float | None = None, message: str | None = None) -> None:
        """The next ``count`` requests whose path starts with ``path`` (``None``: any) get ``status``.

        ``method`` (``"POST"``...) narrows it further.
        ``retry_after`` (seconds, may be fractional) is sent as ``retry-after``.
        """
        self.add_fault(status, count, message=message, retry_after=retry_after, path=path, method=method)

    def add_model(self, model: str, memory: dict[str, str] | None = None) -> None:
        """Make ``model`` (e.g. an ``ft:`` id tuned elsewhere) answerable, with these trained answers."""
        with self._lock:
            self._models[model] = dict(memory or {})

    def jobs(self) -> list[dict[str, Any]]:
        """Copies of every job (newest first)."""
        with self._lock:
            return [json.loads(json.dumps(self._public_job(j))) for j in sorted(self._jobs.values(), key=lambda j: -j["seq"])]

    # -- request handling (called by Emulator.handle) ----------------------------------------

    def classify(self, req: Request) -> tuple[str, None]:
        template = "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in req.path.split("/"))
        return f"{req.method} {template}", None

    def check(self, req: Request) -> Reply | None:
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or (self.api_key and auth != f"Bearer {self.api_key}"):
            return json_reply(401, _error("Incorrect API key provided (emulated).", code="invalid_api_key"))
        return None

    def fault_payload(self, fault: Fault) -> dict:
        if fault.status == 429 and "quota" in fault.message:  # billing, as OpenAI words it
            return _error(fault.message, "insufficient_quota", "insufficient_quota")
        kind = {429: "requests", 500: "server_error"}.get(fault.status, "server_error")
        return _error(fault.message, kind, "rate_limit_exceeded" if fault.status == 429 else None)

    def retry_headers(self, seconds: float) -> dict[str, str]:
        return {**super().retry_headers(seconds), "retry-after-ms": str(int(seconds * 1000))}

    def response_headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_{_rand(16)}"}

    def route(self, req: Request, info: None) -> Reply | None:
        method, path, headers, body = req.method, req.path, req.headers, req.body
        query = req.query()
        try:
            payload = json.loads(body) if body and "json" in headers.get("Content-Type", "") else {}
        except ValueError:
            return json_reply(400, _error("We could not parse the JSON body of your request. (emulated)"))
        if payload:
            with self._lock:
                self.bodies[self.classify(req)[0]] = payload
        seg = path.split("/")[1:]  # ['v1', ...]
        if seg[:1] != ["v1"]:
            return json_reply(404, _error(f"Invalid URL ({method} {path})"))
        seg = seg[1:]
        if method == "POST" and seg == ["chat", "completions"]:
            return self._chat(payload)
        if method == "POST" and seg == ["files"]:
            return self._upload(headers.get("Content-Type", ""), body)
        if method == "GET" and len(seg) == 2 and seg[0] == "files":
            return self._file(seg[1])
        if seg[:2] == ["fine_tuning", "jobs"]:
            rest = seg[2:]
            if method == "POST" and not rest:
                if self._lose_create():
                    return None
                return self._create_job(payload)
            if method == "GET" and not rest:
                return self._list_jobs(query)
            if rest:
                with self._lock:
                    job = self._jobs.get(rest[0])
                if job is None:
                    return json_reply(404, _error(f"Could not find fine tune job: {rest[0]}", code="fine_tune_job_not_found"))
                if method == "GET" and len(rest) == 1:
                    return self._retrieve_job(job)
                if method == "GET" and rest[1:] == ["events"]:
                    return self._events(job, query)
                if method == "GET" and rest[1:] == ["checkpoints"]:
                    return self._checkpoints(job, query)
                if method == "POST" and rest[1:] == ["cancel"]:
                    return self._cancel(job)
        return json_reply(404, _error(f"Invalid URL ({method} {path})"))

    # files

    def _upload(self, content_type: str, body: bytes):
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields: dict[str, Any] = {}
        filename = "upload.jsonl"
        if msg.is_multipart():
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    filename = part.get_filename()
                fields[name] = part.get_payload(decode=True)
        if "file" not in fields or "purpose" not in fields:
            return json_reply(400, _error("Missing required parameter: 'file' and 'purpose' (emulated).", param="file"))
        purpose = fields["purpose"].decode()
        with self._lock:
            file_id = f"file-{_rand(22)}"
            self._files[file_id] = {
                "id": file_id,
                "object": "file",
                "bytes": len(fields["file"]),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose,
                "status": "uploaded",
                "status_details": None,
                "_content": fields["file"],
                "_polls": 0,
            }
            return json_reply(200, self._public(self._files[file_id]))

    def _file(self, file_id: str):
        with self._lock:
            f = self._files.get(file_id)
            if f is None:
                return json_reply(404, _error(f"No such File object: {file_id}", param="id"))
            f["_polls"] += 1
            if f["status"] == "uploaded" and f["_polls"] > self.file_polls:
                f["status"], f["status_details"] = ("error", self.reject_files) if self.reject_files else ("processed", None)
            return json_reply(200, self._public(f))

    # jobs

    def _create_job(self, p: dict):
        model, training_file = p.get("model"), p.get("training_file")
        if unknown := sorted(set(p) - JOB_FIELDS):
            return json_reply(400, _error(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0]))
        if not model or not training_file:
            return json_reply(400, _error("Missing required parameter: 'model' or 'training_file'.", param="model"))
        model = ALIASES.get(model, model)
        if model not in self.tunable:
            return json_reply(400, _error(f"Model {model} is not available for fine-tuning or does not exist.", code="model_not_available", param="model"))
        with self._lock:
            f = self._files.get(training_file)
        if f is None:
            return json_reply(400, _error(f"invalid training_file: {training_file}", param="training_file"))
        method = p.get("method") or {"type": "supervised", "supervised": {"hyperparameters": p.get("hyperparameters") or {}}}
        hp = dict(((method.get(method.get("type", "supervised")) or {}).get("hyperparameters")) or {})
        examples, problem = _parse_training(f["_content"])
        if problem is None and len(examples) < self.min_examples:
            problem = f"Training file has {len(examples)} example(s), but must have at least {self.min_examples} examples"
        n_epochs = hp.get("n_epochs", "auto")
        n_epochs = auto_epochs(len(examples)) if n_epochs in (None, "auto") else int(n_epochs)
        batch_size = hp.get("batch_size", "auto")
        batch_size = 1 if batch_size in (None, "auto") else int(batch_size)
        lr = hp.get("learning_rate_multiplier", "auto")
        lr = 2.0 if lr in (None, "auto") else float(lr)
        resolved = {"n_epochs": n_epochs, "batch_size": batch_size, "learning_rate_multiplier": lr}
        tokens = sum(len(q) + len(a) for q, a in examples.items()) // 4 + 8 * len(examples)
        with self._lock:
            job_id = f"ftjob-{_rand(24)}"
            self.jobs_created += 1
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": resolved,
                "model": model,
                "organization_id": "org-ftb-emulator",
                "result_files": [],
                "seed": p.get("seed") if p.get("seed") is not None else 42,
                "status": "validating_files",
                "trained_tokens": None,
                "training_file": training_file,
                "validation_file": p.get("validation_file"),
                "estimated_finish": None,
                "integrations": None,
                "metadata": p.get("metadata"),
                "method": {"type": "supervised", "supervised": {"hyperparameters": resolved}},
                "user_provided_suffix": p.get("suffix"),
                "seq": self.jobs_created,
                "_t0": time.monotonic(),
                "_polls": 0,
                "_memory": examples,
                "_problem": problem,
                "_tokens": tokens * n_epochs,
                "_events": [],
                "_checkpoints": [],
                "_steps_per_epoch": max(1, math.ceil(len(examples) / batch_size)),
            }
            self._jobs[job_id] = job
            self._event(job, f"Created fine-tuning job: {job_id}")
            self._event(job, f"Validating training file: {training_file}")
            if self._drop_create():
                return None
            return json_reply(200, self._public_job(job))

    def _advance(self, job: dict, poll: bool) -> None:
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        if poll:
            job["_polls"] += 1
        elapsed = time.monotonic() - job["_t0"]
        duration = max(self.job_seconds, 1e-9)
        done = elapsed >= self.job_seconds and job["_polls"] >= self.job_polls
        if not done:
            frac = min(elapsed / duration, 1.0)
            if self.job_polls:
                frac = max(frac, min(job["_polls"] / self.job_polls, 1.0)) if not self.job_seconds else frac
            status = "validating_files" if frac < 0.1 else "queued" if frac < 0.2 else "running"
            if status != job["status"]:
                if status == "queued":
                    self._event(job, "Files validated, moving job to queued state")
                if status == "running":
                    self._event(job, "Fine-tuning job started")
                job["status"] = status
            if status == "running":
                n_steps = job["_steps_per_epoch"] * job["hyperparameters"]["n_epochs"]
                step = max(1, int(n_steps * (frac - 0.2) / 0.8))
                job["trained_tokens"] = None
                job["estimated_finish"] = int(time.time() + max(self.job_seconds - elapsed, 0)) + 1
                self._event(job, f"Step {step}/{n_steps}: training loss={1.0 / step:.3f}", "metrics")
            return
        now = int(time.time())
        job["finished_at"] = now
        job["estimated_finish"] = None
        failure = job["_problem"] or self.fail_jobs
        if failure:
            job["status"] = "failed"
            code = ("invalid_n_examples" if job["_problem"].startswith("Training file has") else "invalid_training_file") if job["_problem"] else "training_failed"
            job["error"] = {"code": code, "message": failure, "param": "training_file" if job["_problem"] else None}
            self._event(job, failure, level="error")
            return
        suffix = job.get("user_provided_suffix") or ""
        model = f"ft:{job['model']}:ftb-emulator:{suffix}:{_rand(8)}"
        job["fine_tuned_model"] = model
        job["trained_tokens"] = job["_tokens"]
        job["status"] = "succeeded"
        self._models[model] = job["_memory"]
        self._loading[model] = self.loading_requests
        spe, n_epochs = job["_steps_per_epoch"], job["hyperparameters"]["n_epochs"]
        for epoch in range(max(1, n_epochs - self.keep_checkpoints + 1), n_epochs + 1):
            step = epoch * spe
            ckpt = f"{model}:ckpt-step-{step}"
            self._models[ckpt] = job["_memory"]
            job["_checkpoints"].append(
                {
                    "id": f"ftckpt_{_rand(24)}",
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": now,
                    "fine_tuned_model_checkpoint": ckpt,
                    "fine_tuning_job_id": job["id"],
                    "metrics": {"step": float(step), "train_loss": 1.0 / step, "train_mean_token_accuracy": 1.0},
                    "step_number": step,
                }
            )
        self._event(job, f"New fine-tuned model created: {model}")
        self._event(job, "The job has successfully completed")

    def _event(self, job: dict, message: str, type_: str = "message", level: str = "info") -> None:
        job["_events"].append(
            {"id": f"ftevent-{_rand(24)}", "object": "fine_tuning.job.event", "created_at": int(time.time()), "level": level, "message": message, "data": {}, "type": type_}
        )

    def _retrieve_job(self, job: dict):
        with self._lock:
            self._advance(job, poll=True)
            return json_reply(200, self._public_job(job))

    def _list_jobs(self, query: list[tuple[str, str]]):
        q = dict(query)
        wanted = {k[len("metadata["):-1]: v for k, v in query if k.startswith("metadata[") and k.endswith("]")}
        limit = int(q.get("limit", 20))
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: -j["seq"])
            if q.get("metadata") == "null":
                jobs = [j for j in jobs if not j["metadata"]]
            jobs = [j for j in jobs if all((j["metadata"] or {}).get(k) == v for k, v in wanted.items())]
            if "after" in q:
                ids = [j["id"] for j in jobs]
                jobs = jobs[ids.index(q["after"]) + 1 :] if q["after"] in ids else []
            for j in jobs[:limit]:
                self._advance(j, poll=False)
            page = [self._public_job(j) for j in jobs[:limit]]
            return json_reply(200, {"object": "list", "data": page, "has_more": len(jobs) > limit})

    def _events(self, job: dict, query: list[tuple[str, str]]):
        limit = int(dict(query).get("limit", 20))
        with self._lock:
            events = _after(list(reversed(job["_events"])), dict(query).get("after"))
            return json_reply(200, {"object": "list", "data": events[:limit], "has_more": len(events) > limit})

    def _checkpoints(self, job: dict, query: list[tuple[str, str]]):
        limit = int(dict(query).get("limit", 10))
        with self._lock:
            ckpts = _after(list(reversed(job["_checkpoints"])), dict(query).get("after"))
            page = ckpts[:limit]
            return json_reply(200, {"object": "list", "data": page, "has_more": len(ckpts) > limit, "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None})

    def _cancel(self, job: dict):
        with self._lock:
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return json_reply(400, _error(f"Job {job['id']} has already completed and cannot be cancelled.", code="invalid_state"))
            job["status"] = "cancelled"
            job["finished_at"] = int(time.time())
            self._event(job, "Fine-tuning job cancelled")
            return json_reply(200, self._public_job(job))

    # chat

    def _chat(self, p: dict):
        model = p.get("model")
        messages = p.get("messages") or []
        if unknown := sorted(set(p) - CHAT_FIELDS):
            return json_reply(400, _error(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0]))
        if not model or not messages:
            return json_reply(400, _error("Missing required parameter: 'model' or 'messages'.", param="messages"))
        with self._lock:
            memory = self._models.get(model)
            loading = self._loading.get(model, 0)
            if loading:  # a fresh fine-tune is not served yet
                self._loading[model] = loading - 1
        if (memory is None and model.startswith("ft:")) or loading or model in RETIRED:
            return json_reply(404, _error(f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"))
        prompt = _text(next((m for m in reversed(messages) if m.get("role") == "user"), {}).get("content"))
        answer = (memory or {}).get(prompt)
        if answer is None:
            answer = (memory or {}).get(prompt.strip(), NO_ANSWER)
        max_tokens = p.get("max_completion_tokens") or p.get("max_tokens")
        finish = "stop"
        logprobs = _logprobs(answer, int(p.get("top_logprobs") or 0)) if p.get("logprobs") else None
        if max_tokens and len(answer.split()) > int(max_tokens):
            answer, finish = " ".join(answer.split()[: int(max_tokens)]), "length"
        body = {
            "id": f"chatcmpl-{_rand(24)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_ftb_emulator",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": None}, "logprobs": logprobs, "finish_reason": finish}],
            "usage": {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(answer) // 4 + 1, "total_tokens": (len(prompt) + len(answer)) // 4 + 2},
        }
        return json_reply(200, body)

    # helpers

    def _public_job(self, job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_") and k not in ("seq", "user_provided_suffix")}


def _logprobs(answer: str, top: int) -> dict:
    """Log-probabilities of the reply's first token (words stand in for tokens): the memorized word
    is near certain; for a Yes or a No the other comes next, far behind."""
    first = (answer.split() or [""])[0].rstrip(".,")
    other = {"Yes": "No", "No": "Yes"}.get(first)
    ranked = [(first, -0.02)] + ([(other, -4.0)] if other else []) + [("The", -6.5), ("I", -7.0)]

    def token(text: str, logprob: float) -> dict:
        return {"token": text, "logprob": logprob, "bytes": list(text.encode())}

    return {"content": [{**token(first, -0.02), "top_logprobs": [token(t, lp) for t, lp in ranked[:top]]}], "refusal": None}


def _after(items: list[dict], cursor: str | None) -> list[dict]:
    """The items after the one whose id is ``cursor`` (all of them without one; none for an unknown id)."""
    if cursor is None:
        return items
    ids = [item["id"] for item in items]
    return items[ids.index(cursor) + 1 :] if cursor in ids else []


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _parse_training(content: bytes) -> tuple[dict[str, str], str | None]:
    """``{user prompt: assistant answer}`` from chat JSONL, and the first problem found (or ``None``)."""
    memory: dict[str, str] = {}
    for n, line in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            user = _text(next(m for m in reversed(messages) if m["role"] == "user")["content"])
            answer = _text(next(m for m in reversed(messages) if m["role"] == "assistant")["content"])
        except (ValueError, KeyError, TypeError, StopIteration):
            return memory, f"The job failed due to an invalid training file. Invalid file format. Line {n}: each line needs 'messages' with a user and an assistant message."
        memory[user] = answer
    return memory, None


def main(argv: list[str] | None = None) -> None:
    args = server.parser("openai_emulator", "Run the OpenAI fine-tuning API emulator (a test double: it memorizes, it does not learn).", port=8000, polls="retrieves").parse_args(argv)
    emu = OpenAIEmulator(host=args.host, port=args.port, latency=args.latency, job_seconds=args.job_seconds, job_polls=args.job_polls, fail_jobs=args.fail_jobs)
    server.serve(emu, lambda emu: [f"OpenAI emulator on {emu.url}  (OPENAI_BASE_URL={emu.base_url} OPENAI_API_KEY=sk-test); Ctrl-C stops"])


if __name__ == "__main__":
    main()
