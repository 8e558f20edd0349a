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

or standalone: ``python -m pytest_finetunebench.testing.openai.emulator --port 8000``, then
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
import re
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from .. import server
from ..server import Emulator, Fault, Reply, Request, ServerOptions, json_reply
from .jobs import MIN_EXAMPLES, TUNABLE, FineTuningJobsMixin, error_body, rand, text_of

if TYPE_CHECKING:
    from typing_extensions import Unpack

NO_ANSWER = "emulator: no trained answer"

# Retired on 2026-10-23: neither tuned nor answered.
RETIRED = frozenset({"gpt-3.5-turbo-0125", "gpt-3.5-turbo", "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"})
# fmt: off
CHAT_FIELDS = frozenset({
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens",
    "max_tokens", "metadata", "modalities", "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_options", "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier",
    "seed", "service_tier", "stop", "store",
    "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
    "web_search_options",
})
# fmt: on

_ID_SEGMENT = re.compile(r"^(file-|ftjob-|ftckpt_|ftevent-)")


class OpenAIEmulator(FineTuningJobsMixin, Emulator):
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
        file_polls: int = 0,
        fail_jobs: str | None = None,
        keep_checkpoints: int = 3,
        tunable: frozenset[str] | set[str] = TUNABLE,
        api_key: str | None = None,
        loading_requests: int = 0,
        min_examples: int = MIN_EXAMPLES,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
        self.file_polls = file_polls
        self.reject_files: str | None = (
            None  # a message: uploaded files end in status "error" with it as status_details
        )
        self.fail_jobs = fail_jobs
        self.keep_checkpoints = keep_checkpoints
        self.tunable = set(tunable)
        self.api_key = api_key
        self.loading_requests = loading_requests  # chat requests a new fine-tuned model answers 404 before it is served
        self.min_examples = min_examples
        # other servers' habits: error bodies shaped as "openai" ({"error": {"message"}}), "message", "detail"
        # (FastAPI), "validation" (FastAPI's list), "error" (a string) or "text" (plain text); and
        # logprobs=False ignores the logprobs field (as `transformers serve` does)
        self.error_shape = "openai"
        self.logprobs = True
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

    def fault(
        self,
        status: int,
        count: int = 1,
        *,
        path: str | None = "/v1/chat/completions",
        method: str | None = None,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
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
            return [
                json.loads(json.dumps(self._public_job(j)))
                for j in sorted(self._jobs.values(), key=lambda j: -j["seq"])
            ]

    # -- request handling (called by Emulator.handle) ----------------------------------------

    def classify(self, req: Request) -> tuple[str, None]:
        template = "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in req.path.split("/"))
        return f"{req.method} {template}", None

    def check(self, req: Request) -> Reply | None:
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or (self.api_key and auth != f"Bearer {self.api_key}"):
            return json_reply(401, error_body("Incorrect API key provided (emulated).", code="invalid_api_key"))
        return None

    def fault_payload(self, fault: Fault) -> dict | Reply:
        shape = self.error_shape
        if shape == "text":
            return Reply(fault.status, fault.message.encode(), {}, "text/plain")
        if shape != "openai":  # FastAPI's detail (a string or validation errors), a top-level message, vLLM's error
            nested = [{"loc": ["body", "model"], "msg": fault.message, "type": "value_error"}]
            key, value = {"detail": ("detail", fault.message), "validation": ("detail", nested)}.get(
                shape, (shape, fault.message)
            )
            return {key: value}
        if fault.status == 429 and "quota" in fault.message:  # billing, as OpenAI words it
            return error_body(fault.message, "insufficient_quota", "insufficient_quota")
        kind = {429: "requests", 500: "server_error"}.get(fault.status, "server_error")
        return error_body(fault.message, kind, "rate_limit_exceeded" if fault.status == 429 else None)

    def retry_headers(self, seconds: float) -> dict[str, str]:
        return {**super().retry_headers(seconds), "retry-after-ms": str(int(seconds * 1000))}

    def response_headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_{rand(16)}"}

    def route(self, req: Request, info: None) -> Reply | None:
        method, path, headers, body = req.method, req.path, req.headers, req.body
        query = req.query()
        try:
            payload = json.loads(body) if body and "json" in headers.get("Content-Type", "") else {}
        except ValueError:
            return json_reply(400, error_body("We could not parse the JSON body of your request. (emulated)"))
        if payload:
            with self._lock:
                self.bodies[self.classify(req)[0]] = payload
        seg = path.split("/")[1:]  # ['v1', ...]
        if seg[:1] != ["v1"]:
            return json_reply(404, error_body(f"Invalid URL ({method} {path})"))
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
                    return json_reply(
                        404, error_body(f"Could not find fine tune job: {rest[0]}", code="fine_tune_job_not_found")
                    )
                if method == "GET" and len(rest) == 1:
                    return self._retrieve_job(job)
                if method == "GET" and rest[1:] == ["events"]:
                    return self._events(job, query)
                if method == "GET" and rest[1:] == ["checkpoints"]:
                    return self._checkpoints(job, query)
                if method == "POST" and rest[1:] == ["cancel"]:
                    return self._cancel(job)
        return json_reply(404, error_body(f"Invalid URL ({method} {path})"))

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
            return json_reply(
                400, error_body("Missing required parameter: 'file' and 'purpose' (emulated).", param="file")
            )
        purpose = fields["purpose"].decode()
        with self._lock:
            file_id = f"file-{rand(22)}"
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
                return json_reply(404, error_body(f"No such File object: {file_id}", param="id"))
            f["_polls"] += 1
            if f["status"] == "uploaded" and f["_polls"] > self.file_polls:
                f["status"], f["status_details"] = (
                    ("error", self.reject_files) if self.reject_files else ("processed", None)
                )
            return json_reply(200, self._public(f))

    # chat

    def _chat(self, p: dict):
        model = p.get("model")
        messages = p.get("messages") or []
        if unknown := sorted(set(p) - CHAT_FIELDS):
            return json_reply(
                400, error_body(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
            )
        if not model or not messages:
            return json_reply(400, error_body("Missing required parameter: 'model' or 'messages'.", param="messages"))
        with self._lock:
            memory = self._models.get(model)
            loading = self._loading.get(model, 0)
            if loading:  # a fresh fine-tune is not served yet
                self._loading[model] = loading - 1
        if (memory is None and model.startswith("ft:")) or loading or model in RETIRED:
            return json_reply(
                404,
                error_body(
                    f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
                ),
            )
        prompt = text_of(next((m for m in reversed(messages) if m.get("role") == "user"), {}).get("content"))
        answer = (memory or {}).get(prompt)
        if answer is None:
            answer = (memory or {}).get(prompt.strip(), NO_ANSWER)
        max_tokens = p.get("max_completion_tokens") or p.get("max_tokens")
        finish = "stop"
        logprobs = _logprobs(answer, int(p.get("top_logprobs") or 0)) if p.get("logprobs") and self.logprobs else None
        if max_tokens and len(answer.split()) > int(max_tokens):
            answer, finish = " ".join(answer.split()[: int(max_tokens)]), "length"
        body = {
            "id": f"chatcmpl-{rand(24)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_ftb_emulator",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer, "refusal": None},
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4 + 1,
                "completion_tokens": len(answer) // 4 + 1,
                "total_tokens": (len(prompt) + len(answer)) // 4 + 2,
            },
        }
        return json_reply(200, body)


def _logprobs(answer: str, top: int) -> dict:
    """Log-probabilities of the reply's first token (words stand in for tokens): the memorized word
    is near certain; for a Yes or a No the other comes next, far behind."""
    first = (answer.split() or [""])[0].rstrip(".,")
    other = {"Yes": "No", "No": "Yes"}.get(first)
    ranked = [(first, -0.02)] + ([(other, -4.0)] if other else []) + [("The", -6.5), ("I", -7.0)]

    def token(text: str, logprob: float) -> dict:
        return {"token": text, "logprob": logprob, "bytes": list(text.encode())}

    return {
        "content": [{**token(first, -0.02), "top_logprobs": [token(t, lp) for t, lp in ranked[:top]]}],
        "refusal": None,
    }


def main(argv: list[str] | None = None) -> None:
    server.main(
        OpenAIEmulator,
        argv,
        "openai.emulator",
        "Run the OpenAI fine-tuning API emulator (a test double: it memorizes, it does not learn).",
        port=8000,
        polls="retrieves",
        banner=lambda emu: [
            f"OpenAI emulator on {emu.url}  (OPENAI_BASE_URL={emu.base_url} OPENAI_API_KEY=sk-test); Ctrl-C stops"
        ],
    )


if __name__ == "__main__":
    main()
