"""A Together AI fine-tuning API emulator: a test double that says it is one.

It speaks enough of Together's HTTP API for the real ``together`` SDK to run the whole tuning
lifecycle against it: the file upload dance (``POST /v1/files`` answers 302 to an upload URL, a
``PUT`` there, then ``POST /v1/files/{id}/preprocess``), model limits, the price estimate, job
create / list / retrieve / events / checkpoints / cancel, and chat completions. It "trains" by
memorizing: the job's output model answers a training prompt with the trained answer and anything
else with ``emulator: no trained answer`` (so do base models). No model is involved.

It refuses what the service refuses: unknown models (404 from the limits endpoint), more epochs
or a larger LoRA rank than the model's limits, unknown request fields and suffixes over 40
characters (400), a second upload of the same bytes (409 with the existing ``file_id``). The jobs
half (limits, estimate, create, progress) is :mod:`.jobs`.

Settings are plain attributes: ``latency``, ``job_seconds`` / ``job_polls`` (a job completes once
it is this old *and* was retrieved this many times), ``fail_jobs`` (a message: finishing jobs end
in ``error``), ``drop_creates`` / ``lose_creates`` (a create recorded then unanswered / never
recorded), ``dedicated_only`` (output models that answer only on a dedicated endpoint), and
:meth:`fault`. Counters: ``jobs_created``, ``requests`` (``"METHOD /v1/path/{id}"``), ``bodies``.

    python -m pytest_finetunebench.testing.together.emulator --port 8002
    TOGETHER_BASE_URL=http://127.0.0.1:8002 TOGETHER_API_KEY=t pytest --ftb-model together:<model>
"""

from __future__ import annotations

import json
import secrets
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from .. import server
from ..server import Emulator, Fault, Reply, Request, ServerOptions, json_reply
from .jobs import TERMINAL, TUNABLE, FineTuneJobsMixin, api_error

if TYPE_CHECKING:
    from typing_extensions import Unpack

NO_ANSWER = "emulator: no trained answer"

_ID_PREFIXES = ("file-", "ft-")


class TogetherEmulator(FineTuneJobsMixin, Emulator):
    """The emulated API server (a thread of this process); a context manager."""

    thread_name = "together-emulator"
    methods = ("GET", "POST", "PUT", "DELETE")
    fault_messages = {
        429: "You have been rate limited (emulated). Please try again later.",
        500: "Internal server error (emulated).",
        503: "The server is overloaded (emulated).",
    }

    def __init__(
        self,
        *,
        fail_jobs: str | None = None,
        tunable: frozenset[str] | set[str] = TUNABLE,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
        self.fail_jobs = fail_jobs
        self.tunable = set(tunable)
        self.dedicated_only: set[str] = set()
        self.bodies: dict[str, Any] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._models: dict[str, dict[str, str]] = {}

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url`` (its paths carry ``/v1`` themselves)."""
        return self.url

    def env(self) -> dict[str, str]:
        """The environment that points the ``together`` SDK here."""
        return {"TOGETHER_BASE_URL": self.base_url, "TOGETHER_API_KEY": "together-emulator-key"}

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
        """The next ``count`` requests whose path starts with ``path`` get ``status``."""
        self.add_fault(status, count, message=message, retry_after=retry_after, path=path, method=method)

    def jobs(self) -> list[dict[str, Any]]:
        """Copies of every job as the API shows it (newest first)."""
        with self._lock:
            return [
                json.loads(json.dumps(self._public(j))) for j in sorted(self._jobs.values(), key=lambda j: -j["_seq"])
            ]

    # -- request handling ----------------------------------------------------------------------

    def classify(self, req: Request) -> tuple[str, None]:
        template = "/".join("{id}" if s.startswith(_ID_PREFIXES) else s for s in req.path.split("/"))
        return f"{req.method} {template}", None

    def check(self, req: Request) -> Reply | None:
        if req.path.startswith("/upload-target/"):
            return None  # a presigned URL: no API key
        if not req.headers.get("Authorization", "").startswith("Bearer "):
            return json_reply(401, api_error("Invalid API key provided (emulated).", "invalid_api_key"))
        return None

    def fault_payload(self, fault: Fault) -> dict:
        return api_error(fault.message, "rate_limit" if fault.status == 429 else "server_error")

    def route(self, req: Request, info: None) -> Reply | None:
        method, path = req.method, req.path
        query = dict(req.query())
        payload: dict[str, Any] = {}
        if req.body and "json" in req.headers.get("Content-Type", ""):
            try:
                payload = json.loads(req.body)
            except ValueError:
                return json_reply(400, api_error("Invalid JSON body (emulated)."))
            with self._lock:
                self.bodies[self.classify(req)[0]] = payload
        seg = path.split("/")[1:]
        if seg[:1] == ["upload-target"] and method == "PUT":
            return self._put_file(seg[1], req.body)
        if seg[:1] != ["v1"]:
            return json_reply(404, api_error(f"Not found: {method} {path} (emulated)"))
        seg = seg[1:]
        if seg == ["files"] and method == "POST":
            return self._start_upload(req)
        if len(seg) == 3 and seg[0] == "files" and seg[2] == "preprocess" and method == "POST":
            return self._preprocess(seg[1])
        if len(seg) == 2 and seg[0] == "files" and method == "GET":
            with self._lock:
                f = self._files.get(seg[1])
            return (
                json_reply(200, self._file_json(f))
                if f and f["_done"]
                else json_reply(404, api_error(f"File {seg[1]} not found (emulated)."))
            )
        if seg == ["fine-tunes", "models", "limits"] and method == "GET":
            return self._limits(query.get("model_name", ""))
        if seg == ["fine-tunes", "estimate-price"] and method == "POST":
            return self._estimate(payload)
        if seg == ["fine-tunes"] and method == "POST":
            if self._lose_create():
                return None
            return self._create(payload)
        if seg == ["fine-tunes"] and method == "GET":
            with self._lock:
                jobs = sorted(self._jobs.values(), key=lambda j: -j["_seq"])
                for job in jobs:
                    self._advance(job, poll=False)
                return json_reply(200, {"data": [self._listed(j) for j in jobs]})
        if len(seg) >= 2 and seg[0] == "fine-tunes":
            with self._lock:
                job = self._jobs.get(seg[1])
            if job is None:
                return json_reply(404, api_error(f"Fine-tune job {seg[1]} not found (emulated).", code="not_found"))
            rest = seg[2:]
            with self._lock:
                if method == "GET" and not rest:
                    self._advance(job, poll=True)
                    return json_reply(200, self._public(job))
                if method == "GET" and rest == ["events"]:
                    return json_reply(200, {"data": list(job["events"])})
                if method == "GET" and rest == ["checkpoints"]:
                    return json_reply(200, {"data": list(reversed(job["_checkpoints"]))})
                if method == "POST" and rest == ["cancel"]:
                    if job["status"] in TERMINAL:
                        return json_reply(
                            400, api_error(f"Job {job['id']} is {job['status']} and cannot be cancelled (emulated).")
                        )
                    job["status"] = "cancelled"
                    self._event(job, "cancel_requested", "Job cancelled by the user")
                    return json_reply(200, self._public(job))
        if seg == ["chat", "completions"] and method == "POST":
            return self._chat(payload)
        return json_reply(404, api_error(f"Not found: {method} {path} (emulated)"))

    # -- files ---------------------------------------------------------------------------------

    def _start_upload(self, req: Request) -> Reply:
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + req.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + req.body
        )
        fields = {
            part.get_param("name", header="content-disposition"): (part.get_payload(decode=True) or b"").decode()
            for part in (msg.iter_parts() if msg.is_multipart() else [])
        }
        if not fields.get("file_name") or fields.get("purpose") != "fine-tune":
            return json_reply(400, api_error("Missing file_name, or purpose is not fine-tune (emulated)."))
        with self._lock:
            same = next(
                (f for f in self._files.values() if f["_checksum"] == fields.get("checksum") and f["_done"]), None
            )
            if same is not None:
                return json_reply(409, {"message": "File already exists (emulated).", "file_id": same["id"]})
            file_id = f"file-{secrets.token_hex(16)}"
            self._files[file_id] = {
                "id": file_id,
                "filename": fields["file_name"],
                "_checksum": fields.get("checksum"),
                "_data": None,
                "_done": False,
                "created_at": int(time.time()),
            }
        return Reply(302, b"", {"Location": f"{self.url}/upload-target/{file_id}", "X-Together-File-Id": file_id})

    def _put_file(self, file_id: str, body: bytes) -> Reply:
        with self._lock:
            f = self._files.get(file_id)
            if f is None:
                return Reply(404, b"no such upload (emulated)", {}, "text/plain")
            f["_data"] = body
        return Reply(200, b"", {}, "text/plain")

    def _preprocess(self, file_id: str) -> Reply:
        with self._lock:
            f = self._files.get(file_id)
            if f is None or f["_data"] is None:
                return json_reply(404, api_error(f"File {file_id} was not uploaded (emulated)."))
            f["_done"] = True
            f["_memory"], problem = _parse(f["_data"])
            f["_problem"] = problem
            return json_reply(200, self._file_json(f))

    def _file_json(self, f: dict) -> dict:
        report = {"valid": f["_problem"] is None, "nlines": len(f["_memory"]), "dataset_format": "conversation"}
        if f["_problem"]:
            report.update(error=f["_problem"], error_type="INVALID_FORMAT")
        return {
            "id": f["id"],
            "object": "file",
            "bytes": len(f["_data"]),
            "created_at": f["created_at"],
            "filename": f["filename"],
            "FileType": "jsonl",
            "purpose": "fine-tune",
            "processing_status": "COMPLETED" if f["_problem"] is None else "INVALID_FORMAT",
            "validation_report": report,
        }

    # -- answers -------------------------------------------------------------------------------

    def _chat(self, p: dict) -> Reply:
        model, messages = p.get("model"), p.get("messages") or []
        if not model or not messages:
            return json_reply(400, api_error("model and messages are required (emulated)."))
        if model in self.dedicated_only:
            return json_reply(
                400,
                api_error(
                    f"Unable to access non-serverless model {model}. Please visit https://api.together.ai/models/{model}"
                    " to create and start a new dedicated endpoint for the model. (emulated)",
                    code="model_not_available",
                ),
            )
        with self._lock:
            memory = self._models.get(model)
        if memory is None and model.startswith("ftb-emulator/"):
            return json_reply(404, api_error(f"Unable to access model {model} (emulated).", code="model_not_found"))
        prompt = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
        answer = (memory or {}).get(prompt, NO_ANSWER)
        finish = "stop"
        if p.get("max_tokens") and len(answer.split()) > int(p["max_tokens"]):
            answer, finish = " ".join(answer.split()[: int(p["max_tokens"])]), "length"
        return json_reply(
            200,
            {
                "id": f"emu-{secrets.token_hex(8)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "prompt": [],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": finish,
                        "seed": p.get("seed"),
                    }
                ],
                "usage": {
                    "prompt_tokens": len(prompt) // 4 + 1,
                    "completion_tokens": len(answer) // 4 + 1,
                    "total_tokens": (len(prompt) + len(answer)) // 4 + 2,
                },
            },
        )


def _parse(data: bytes) -> tuple[dict[str, str], str | None]:
    """``{user prompt: assistant answer}`` from conversational JSONL, and the first problem (or ``None``)."""
    memory: dict[str, str] = {}
    for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            user = next(m for m in reversed(messages) if m["role"] == "user")["content"]
            memory[user] = next(m for m in reversed(messages) if m["role"] == "assistant")["content"]
        except (ValueError, KeyError, TypeError, StopIteration):
            return memory, f"Line {n}: each line needs messages with a user and an assistant turn (emulated)."
    return memory, None


def main(argv: list[str] | None = None) -> None:
    server.main(
        TogetherEmulator,
        argv,
        "together.emulator",
        "Run the Together AI fine-tuning emulator (a test double: it memorizes, it does not learn).",
        port=8002,
        polls="retrieves",
        banner=lambda emu: [
            f"Together AI emulator on {emu.url}  (TOGETHER_BASE_URL={emu.base_url} TOGETHER_API_KEY=t); Ctrl-C stops"
        ],
    )


if __name__ == "__main__":
    main()
