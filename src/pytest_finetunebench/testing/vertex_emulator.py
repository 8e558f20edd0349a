"""A Vertex AI (Gemini tuning) and Cloud Storage emulator: a test double that says it is one.

It speaks enough of three Google HTTP APIs for the real ``google-genai`` and
``google-cloud-storage`` clients to run the whole Gemini tuning lifecycle against it:

* Cloud Storage JSON API: object upload (``uploadType=multipart`` and ``resumable``), object
  metadata and download (``alt=media``);
* Vertex AI ``v1beta1`` (and ``v1``): ``tuningJobs`` create / get / list (with
  ``filter=labels.K="V"``) / ``:cancel``, and ``:generateContent`` on tuned endpoints
  (``projects/P/locations/L/endpoints/E``) and on base models
  (``projects/P/locations/L/publishers/google/models/M``);
* an OAuth token endpoint (``POST /token``), so Google's own credential code fetches a token
  from it: :meth:`VertexEmulator.env` writes an ``external_account_authorized_user``
  credentials file whose ``token_url`` points here.

It "trains" by memorizing: a tuned endpoint answers a training prompt with the trained answer and
anything else with ``emulator: no trained answer`` (so do base models). The checkpoint after
epoch ``e`` of ``E`` knows the first ``ceil(n * e / E)`` training pairs, so epoch stages differ.
No model is involved, nothing is learned.

Usage::

    with VertexEmulator(job_seconds=0.5) as emu:
        monkeypatch.setenv(...) for each of emu.env().items()   # base URLs, credentials, project
        ...                                                     # genai.Client(vertexai=True, ...)
        assert emu.jobs_created == 1

or standalone: ``python -m pytest_finetunebench.testing.vertex_emulator --port 8001`` prints the
environment to export before ``pytest --ftb-model gemini-2.5-flash --ftb-gcs-bucket b``.

How the clients are pointed here: ``GOOGLE_VERTEX_BASE_URL=<url>/`` (google-genai's own
override of the Vertex base URL; the provider also passes it as ``http_options.base_url``),
``STORAGE_EMULATOR_HOST=<url>`` (google-cloud-storage's emulator switch: anonymous credentials)
and ``GOOGLE_APPLICATION_CREDENTIALS=<file>`` (token from ``<url>/token``).

Settings are plain attributes, changeable while it runs:

* ``latency``: seconds every request waits before it is answered;
* ``job_seconds`` / ``job_polls``: a job finishes once it is this old *and* was fetched this many
  times (both 0: done at the first get);
* ``end_state`` / ``fail_message``: how finishing jobs end (``JOB_STATE_SUCCEEDED`` by default;
  ``JOB_STATE_FAILED``, ``JOB_STATE_CANCELLED``, ``JOB_STATE_EXPIRED`` with ``error.message``);
  ``fail_jobs = "message"`` is shorthand for a failure with that message;
* ``drop_creates``: the next N job creates are recorded, then the socket is closed unanswered;
* ``lose_creates``: the next N job creates close the socket before anything is recorded (no job);
* ``buckets``: ``None`` accepts any bucket, else uploads to others get GCS's 404;
* :meth:`fault`: the next N requests to a path get an HTTP error (429, 503...).
* ``max_running_jobs``: the concurrent-tuning quota (a create past it gets Vertex AI's 429);
* ``thinking_tokens``: what a Gemini 3.x answer spends on thinking, by ``thinking_level``;
* :meth:`pause`: unfinished jobs become ``JOB_STATE_PAUSED`` (and stay so until resumed).

It refuses what the service refuses: unknown request fields (400), models it does not tune,
retired models (404 to ask), Gemini 3.x tuning outside ``us-central1``/``europe-west4``, adapter
sizes a model does not take. Gemini 3.x tuned endpoints live at ``locations/us`` or ``eu``; a
job of more than 10 epochs exports about 10 evenly spaced checkpoints; a 3.x answer whose
thinking uses up ``maxOutputTokens`` comes back empty with finish reason ``MAX_TOKENS``.

Counters for tests: ``jobs_created``, ``uploads``, ``bodies`` (the last JSON body per Vertex
route), ``requests`` (a Counter of
``"METHOD /route"``, e.g. ``"POST tuningJobs"``, ``"GET tuningJobs/{id}"``, ``"POST
generateContent"``, ``"POST upload"``), ``max_in_flight``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote, unquote

from . import server
from .server import Emulator, Fault, Reply, Request, json_reply

NO_ANSWER = "emulator: no trained answer"

# Base models the emulator tunes (others get the API's 400 message); retired ones answer 404.
TUNABLE = frozenset({"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3.5-flash", "gemini-3.1-flash-lite"})
RETIRED_PREFIXES = ("gemini-1.0", "gemini-1.5", "gemini-2.0", "gemini-pro")
# Gemini 3.x tunes in two regions; its tuned endpoints live at the multi-region location.
GEMINI3_REGIONS = {"us-central1": "us", "europe-west4": "eu"}
ADAPTER_SIZES = ("ADAPTER_SIZE_ONE", "ADAPTER_SIZE_TWO", "ADAPTER_SIZE_FOUR", "ADAPTER_SIZE_EIGHT", "ADAPTER_SIZE_SIXTEEN")
# Thinking tokens a 3.x answer spends before its text, by thinkingLevel (unset: the model's default).
THINKING_TOKENS = {None: 200, "MINIMAL": 8, "LOW": 64, "MEDIUM": 120, "HIGH": 200}
# Request fields the API knows (camelCase, as google-genai sends them); anything else is a 400.
CREATE_FIELDS = frozenset({"baseModel", "supervisedTuningSpec", "tunedModelDisplayName", "description", "labels", "encryptionSpec", "serviceAccount", "preTunedModel"})
GENERATE_FIELDS = frozenset({"contents", "generationConfig", "systemInstruction", "safetySettings", "tools", "toolConfig", "labels", "cachedContent", "continuationToken", "modelArmorConfig", "outputConfig"})

TERMINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED")

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_RPC_CODE = {"JOB_STATE_FAILED": 3, "JOB_STATE_CANCELLED": 1, "JOB_STATE_EXPIRED": 4}
_DEFAULT_END_MESSAGE = {
    "JOB_STATE_FAILED": "Tuning job failed (emulated).",
    "JOB_STATE_CANCELLED": "CANCELED: the tuning job was cancelled (emulated).",
    "JOB_STATE_EXPIRED": "The tuning job expired before it could run (emulated).",
}


def _digits(n: int = 19) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))


def _error(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}Z"


class VertexEmulator(Emulator):
    """The emulated APIs (a thread of this process); a context manager."""

    thread_name = "vertex-emulator"
    methods = ("GET", "POST", "PUT")
    fault_messages = {
        429: "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details. (emulated)",
        500: "Internal error encountered. (emulated)",
        503: "The service is currently unavailable. (emulated)",
    }

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        job_seconds: float = 0.0,
        job_polls: int = 0,
        end_state: str = "JOB_STATE_SUCCEEDED",
        fail_message: str | None = None,
        drop_creates: int = 0,
        lose_creates: int = 0,
        default_epochs: int = 3,
        tunable: frozenset[str] | set[str] = TUNABLE,
        buckets: set[str] | None = None,
        require_auth: bool = True,
        project: str = "ftb-emulated-project",
        location: str = "us-central1",
        max_running_jobs: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port, latency=latency, job_seconds=job_seconds, job_polls=job_polls, drop_creates=drop_creates, lose_creates=lose_creates)
        self.end_state = end_state
        self.fail_message = fail_message
        self.default_epochs = default_epochs
        self.tunable = set(tunable)
        self.buckets = buckets
        self.require_auth = require_auth
        self.max_running_jobs = max_running_jobs  # the concurrent-tuning quota (None: unlimited)
        self.thinking_tokens = dict(THINKING_TOKENS)  # what a 3.x answer spends on thinking, by level
        self.project, self.location = project, location
        self.bodies: dict[str, Any] = {}  # the last JSON body sent to each route
        self.uploads = 0
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._resumable: dict[str, dict[str, Any]] = {}
        self._endpoints: dict[str, dict[str, str]] = {}  # endpoint name -> {prompt: answer} (and _jobs: job name -> job)
        self._tokens: set[str] = set()
        self._tmp: str | None = None

    # -- lifecycle (Emulator.url is the base URL of every emulated API) ----------------------

    @property
    def fail_jobs(self) -> str | None:
        """Shorthand: set a message to make finishing jobs fail with it; ``None`` to succeed again."""
        return self.fail_message if self.end_state == "JOB_STATE_FAILED" else None

    @fail_jobs.setter
    def fail_jobs(self, message: str | None) -> None:
        self.end_state, self.fail_message = ("JOB_STATE_FAILED", message) if message else ("JOB_STATE_SUCCEEDED", None)

    def start(self) -> "VertexEmulator":
        super().start()
        self._tmp = tempfile.mkdtemp(prefix="ftb-vertex-emulator-")
        return self

    def stop(self) -> None:
        super().stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def credentials_file(self) -> str:
        """An ``external_account_authorized_user`` credentials file whose token comes from this emulator."""
        assert self._tmp, "start the emulator first"
        path = os.path.join(self._tmp, "credentials.json")
        if not os.path.exists(path):
            info = {
                "type": "external_account_authorized_user",  # the one file type whose token URL is not fixed to Google's
                "audience": "//iam.googleapis.com/locations/global/workforcePools/ftb-emulator/providers/ftb-emulator",
                "client_id": "ftb-emulator",
                "client_secret": "ftb-emulator",
                "refresh_token": "ftb-emulator",
                "token_url": f"{self.url}/token",
            }
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
        return path

    def env(self) -> dict[str, str]:
        """The environment that points the real clients here (base URLs, credentials, project)."""
        return {
            "GOOGLE_VERTEX_BASE_URL": self.url + "/",
            "STORAGE_EMULATOR_HOST": self.url,
            "GOOGLE_APPLICATION_CREDENTIALS": self.credentials_file(),
            "GOOGLE_CLOUD_PROJECT": self.project,
            "GOOGLE_CLOUD_LOCATION": self.location,
        }

    # -- test controls -----------------------------------------------------------------------

    def fault(self, status: int, count: int = 1, *, route: str | None = "POST generateContent", message: str | None = None, retry_after: float | None = None) -> None:
        """The next ``count`` requests to ``route`` (as counted in :attr:`requests`; ``None``: any) get ``status``."""
        self.add_fault(status, count, message=message, retry_after=retry_after, key=route)

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str = "application/jsonl") -> str:
        """Store an object as if uploaded elsewhere; returns its ``gs://`` URI."""
        with self._lock:
            self._store_object(bucket, name, data, content_type)
        return f"gs://{bucket}/{name}"

    def object(self, uri: str) -> bytes | None:
        """The content of ``gs://bucket/name``, or ``None``."""
        bucket, _, name = uri[len("gs://") :].partition("/")
        with self._lock:
            obj = self._objects.get((bucket, name))
            return None if obj is None else obj["_data"]

    def jobs(self) -> list[dict[str, Any]]:
        """Copies of every job as the API shows it (newest first)."""
        with self._lock:
            return [json.loads(json.dumps(self._public(j))) for j in sorted(self._jobs.values(), key=lambda j: -j["_seq"])]

    def pause(self, paused: bool = True) -> None:
        """Pause every unfinished job (``JOB_STATE_PAUSED``, as from the console), or resume them; a paused job does not finish."""
        with self._lock:
            for job in self._jobs.values():
                if job["state"] not in TERMINAL:
                    job["state"] = "JOB_STATE_PAUSED" if paused else "JOB_STATE_RUNNING"
                    job["updateTime"] = _now()

    def add_endpoint(self, endpoint: str, memory: dict[str, str] | None = None) -> None:
        """Make an endpoint resource name answerable, with these trained answers."""
        with self._lock:
            self._endpoints[endpoint] = dict(memory or {})

    # -- request handling (called by Emulator.handle) ----------------------------------------

    def classify(self, req: Request) -> tuple[str, tuple[str, dict[str, str]]]:
        route, args = _route(req.method, req.parts.path)
        return f"{req.method} {route}", (route, args)

    def fault_payload(self, fault: Fault) -> dict:
        return _error(fault.status, fault.message)

    def route(self, req: Request, info: tuple[str, dict[str, str]]) -> Reply | None:
        method, headers, body = req.method, req.headers, req.body
        path = unquote(req.parts.path)
        query = dict(req.query())
        route, args = info
        if route == "token":
            return self._token()
        if route in ("upload", "object", "bucket"):
            return self._gcs(method, route, args, query, headers, body)
        if route == "unknown":
            return json_reply(404, _error(404, f"The requested URL {path} was not found on this server. (emulated)"))
        if self.require_auth:
            auth = headers.get("Authorization", "")
            with self._lock:
                ok = auth.startswith("Bearer ") and auth[len("Bearer ") :] in self._tokens
            if not ok:
                return json_reply(401, _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token. (emulated)"))
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return json_reply(400, _error(400, "Invalid JSON payload received. (emulated)"))
        with self._lock:
            self.bodies[f"{method} {route}"] = payload
        project, location = args["project"], args["location"]
        if route == "tuningJobs" and method == "POST":
            if self._lose_create():
                return None
            return self._create_job(project, location, payload)
        if route == "tuningJobs" and method == "GET":
            return self._list_jobs(project, location, query)
        if route.startswith("tuningJobs/"):
            name = f"projects/{project}/locations/{location}/tuningJobs/{args['id']}"
            with self._lock:
                job = self._jobs.get(name)
            if job is None:
                return json_reply(404, _error(404, f"The TuningJob does not exist: {name} (emulated)"))
            if route == "tuningJobs/{id}" and method == "GET":
                with self._lock:
                    self._advance(job, poll=True)
                    return json_reply(200, self._public(job))
            if route == "tuningJobs/{id}:cancel" and method == "POST":
                return self._cancel(job)
        if route == "generateContent" and method == "POST":
            return self._generate(args["model"], payload)
        return json_reply(404, _error(404, f"Method not found: {method} {path} (emulated)"))

    # OAuth

    def _token(self) -> Reply:
        token = f"ftb-emulator-token-{secrets.token_hex(8)}"
        with self._lock:
            self._tokens.add(token)
        return json_reply(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/cloud-platform"})

    # Cloud Storage

    def _gcs(self, method: str, route: str, args: dict, query: dict, headers: Any, body: bytes) -> Reply:
        bucket = args["bucket"]
        if self.buckets is not None and bucket not in self.buckets:
            return json_reply(404, _error(404, "The specified bucket does not exist."))
        if route == "bucket" and method == "GET":
            return json_reply(200, {"kind": "storage#bucket", "id": bucket, "name": bucket, "projectNumber": "0", "location": "US", "storageClass": "STANDARD", "metageneration": "1", "timeCreated": _now(), "updated": _now(), "etag": "CAE="})
        if route == "upload" and method == "POST" and query.get("uploadType") == "multipart":
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body)
            if not msg.is_multipart():
                return json_reply(400, _error(400, "Multipart upload needs a multipart/related body. (emulated)"))
            parts = list(msg.iter_parts())
            meta = json.loads(parts[0].get_payload(decode=True) or b"{}")
            data = parts[1].get_payload(decode=True) or b""
            return self._finish_upload(bucket, meta.get("name") or query.get("name"), data, meta, parts[1].get_content_type())
        if route == "upload" and method == "POST" and query.get("uploadType") == "resumable":
            meta = json.loads(body) if body else {}
            upload_id = secrets.token_hex(12)
            with self._lock:
                self._resumable[upload_id] = {"bucket": bucket, "meta": meta, "name": meta.get("name") or query.get("name"), "data": b"", "type": headers.get("X-Upload-Content-Type") or meta.get("contentType") or "application/octet-stream"}
            location = f"{self.url}/upload/storage/v1/b/{quote(bucket)}/o?uploadType=resumable&upload_id={upload_id}"
            return Reply(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        if route == "upload" and method == "PUT" and query.get("upload_id"):
            with self._lock:
                state = self._resumable.get(query["upload_id"])
            if state is None:
                return json_reply(404, _error(404, "No such upload session. (emulated)"))
            crange = headers.get("Content-Range", "")
            m = re.match(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", crange)
            if body:
                state["data"] += body
            total = m.group(3) if m else str(len(state["data"]))
            if total != "*" and len(state["data"]) >= int(total):
                with self._lock:
                    self._resumable.pop(query["upload_id"], None)
                return self._finish_upload(state["bucket"], state["name"], state["data"], state["meta"], state["type"])
            headers_out = {"Range": f"bytes=0-{len(state['data']) - 1}"} if state["data"] else {}
            return Reply(308, b"", headers_out)
        if route == "object" and method == "GET":
            with self._lock:
                obj = self._objects.get((bucket, args["name"]))
            if obj is None:
                return json_reply(404, _error(404, f"No such object: {bucket}/{args['name']}"))
            if query.get("alt") == "media":
                return Reply(200, obj["_data"], {}, obj["contentType"])
            return json_reply(200, self._public(obj))
        return json_reply(400, _error(400, "Unsupported Cloud Storage request (emulated)."))

    def _finish_upload(self, bucket: str, name: str | None, data: bytes, meta: dict, content_type: str) -> Reply:
        if not name:
            return json_reply(400, _error(400, "Required object name is missing. (emulated)"))
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if meta.get("md5Hash") and meta["md5Hash"] != md5:
            return json_reply(400, _error(400, "Provided MD5 hash does not match the calculated MD5 hash of the data. (emulated)"))
        crc = _crc32c(data)
        if meta.get("crc32c") and crc is not None and meta["crc32c"] != crc:
            return json_reply(400, _error(400, "Provided CRC32C does not match the calculated CRC32C of the data. (emulated)"))
        with self._lock:
            self.uploads += 1
            obj = self._store_object(bucket, name, data, meta.get("contentType") or content_type)
            return json_reply(200, self._public(obj))

    def _store_object(self, bucket: str, name: str, data: bytes, content_type: str) -> dict:
        generation = str(time.time_ns() // 1000)
        obj = {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{generation}",
            "selfLink": f"{self.url}/storage/v1/b/{quote(bucket)}/o/{quote(name, safe='')}",
            "mediaLink": f"{self.url}/download/storage/v1/b/{quote(bucket)}/o/{quote(name, safe='')}?generation={generation}&alt=media",
            "name": name,
            "bucket": bucket,
            "generation": generation,
            "metageneration": "1",
            "contentType": content_type,
            "storageClass": "STANDARD",
            "size": str(len(data)),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "timeCreated": _now(),
            "updated": _now(),
            "etag": secrets.token_hex(6),
            "_data": data,
        }
        crc = _crc32c(data)
        if crc is not None:
            obj["crc32c"] = crc
        self._objects[(bucket, name)] = obj
        return obj

    # Vertex tuning

    def _create_job(self, project: str, location: str, p: dict) -> Reply | None:
        base = p.get("baseModel")
        spec = p.get("supervisedTuningSpec") or {}
        uri = spec.get("trainingDatasetUri")
        if unknown := sorted(set(p) - CREATE_FIELDS):
            return json_reply(400, _error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field. (emulated)'))
        if not base:
            return json_reply(400, _error(400, "Request contains an invalid argument: base_model is required. (emulated)"))
        if base not in self.tunable:
            return json_reply(400, _error(400, f"Base model {base} is not supported for supervised tuning. (emulated)"))
        if base.startswith("gemini-3") and location not in GEMINI3_REGIONS:
            return json_reply(400, _error(400, f"Base model {base} can be tuned only in {', '.join(GEMINI3_REGIONS)}; {location} is not supported. (emulated)"))
        adapter = (spec.get("hyperParameters") or {}).get("adapterSize")
        allowed = ADAPTER_SIZES[:4] if base.startswith("gemini-2.5-pro") else ADAPTER_SIZES
        if adapter is not None and adapter not in allowed:
            return json_reply(400, _error(400, f"Adapter size {adapter} is not supported for {base}; supported: {', '.join(allowed)}. (emulated)"))
        if self.max_running_jobs is not None:
            with self._lock:
                running = sum(1 for j in self._jobs.values() if j["state"] not in TERMINAL)
            if running >= self.max_running_jobs:
                return json_reply(429, _error(429, f"Quota exceeded for aiplatform.googleapis.com/concurrent_tuning_jobs: {self.max_running_jobs} concurrent tuning jobs per region. (emulated)"))
        if not uri or not str(uri).startswith("gs://"):
            return json_reply(400, _error(400, "Request contains an invalid argument: training_dataset_uri must be a gs:// URI. (emulated)"))
        for key, value in (p.get("labels") or {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) or not re.fullmatch(r"[a-z0-9_-]{0,63}", str(value)):
                return json_reply(400, _error(400, f"Label {key}={value!r} is invalid: keys and values hold lowercase letters, digits, _ and - (at most 63). (emulated)"))
        hp = dict(spec.get("hyperParameters") or {})
        epochs = int(hp.get("epochCount") or self.default_epochs)
        resolved = {"epochCount": str(epochs), "learningRateMultiplier": float(hp.get("learningRateMultiplier") or 1.0), "adapterSize": hp.get("adapterSize") or "ADAPTER_SIZE_FOUR"}
        with self._lock:
            self.jobs_created += 1
            name = f"projects/{project}/locations/{location}/tuningJobs/{_digits()}"
            job = {
                "name": name,
                "tunedModelDisplayName": p.get("tunedModelDisplayName") or f"{base}-tuned",
                "baseModel": base,
                "supervisedTuningSpec": {"trainingDatasetUri": uri, "hyperParameters": resolved, **({"exportLastCheckpointOnly": True} if spec.get("exportLastCheckpointOnly") else {})},
                "state": "JOB_STATE_PENDING",
                "createTime": _now(),
                "updateTime": _now(),
                "labels": p.get("labels") or {},
                "_seq": self.jobs_created,
                "_t0": time.monotonic(),
                "_polls": 0,
                "_project": project,
                "_location": location,
            }
            if p.get("description"):
                job["description"] = p["description"]
            self._jobs[name] = job
            if self._drop_create():
                return None
            return json_reply(200, self._public(job))

    def _list_jobs(self, project: str, location: str, query: dict) -> Reply:
        wanted: dict[str, str] = {}
        for clause in filter(None, re.split(r"\s+AND\s+", query.get("filter", "").strip())):
            m = re.fullmatch(r'labels\.([\w-]+)\s*=\s*"?([^"]*)"?', clause.strip())
            if not m:
                return json_reply(400, _error(400, f"Unsupported filter: {clause} (emulated supports labels.KEY=\"VALUE\")"))
            wanted[m.group(1)] = m.group(2)
        size = int(query.get("pageSize") or 100)
        start = int(query.get("pageToken") or 0)
        prefix = f"projects/{project}/locations/{location}/"
        with self._lock:
            jobs = [j for j in sorted(self._jobs.values(), key=lambda j: -j["_seq"]) if j["name"].startswith(prefix)]
            jobs = [j for j in jobs if all(j["labels"].get(k) == v for k, v in wanted.items())]
            page = jobs[start : start + size]
            for job in page:
                self._advance(job, poll=False)
            body: dict[str, Any] = {"tuningJobs": [self._public(j) for j in page]} if page else {}
            if start + size < len(jobs):
                body["nextPageToken"] = str(start + size)
            return json_reply(200, body)

    def _cancel(self, job: dict) -> Reply:
        with self._lock:
            if job["state"] in TERMINAL:
                return json_reply(400, _error(400, f"The TuningJob {job['name']} is in state {job['state']} and cannot be cancelled. (emulated)"))
            self._end(job, "JOB_STATE_CANCELLED", "CANCELED: the tuning job was cancelled by a request. (emulated)")
            return json_reply(200, {})

    def _advance(self, job: dict, poll: bool) -> None:
        if job["state"] in TERMINAL or job["state"] == "JOB_STATE_PAUSED":
            return
        if poll:
            job["_polls"] += 1
        elapsed = time.monotonic() - job["_t0"]
        if not (elapsed >= self.job_seconds and job["_polls"] >= self.job_polls):
            if job["state"] == "JOB_STATE_PENDING" and (job["_polls"] >= 1 or elapsed > self.job_seconds * 0.1):
                job["state"] = "JOB_STATE_RUNNING"
                job["startTime"] = job["updateTime"] = _now()
            return
        problem = self._training(job)
        if problem:
            self._end(job, "JOB_STATE_FAILED", problem)
        elif self.end_state != "JOB_STATE_SUCCEEDED":
            self._end(job, self.end_state, self.fail_message or _DEFAULT_END_MESSAGE.get(self.end_state, "emulated failure"))
        else:
            self._succeed(job)

    def _training(self, job: dict) -> str | None:
        uri = job["supervisedTuningSpec"]["trainingDatasetUri"]
        bucket, _, name = uri[len("gs://") :].partition("/")
        obj = self._objects.get((bucket, name))
        if obj is None:
            return f"Failed to read the training dataset {uri}: No such object. (emulated)"
        memory: list[tuple[str, str]] = []
        for n, line in enumerate(obj["_data"].decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                contents = json.loads(line)["contents"]
                user = "".join(p.get("text", "") for p in next(c for c in reversed(contents) if c["role"] == "user")["parts"])
                model = "".join(p.get("text", "") for p in next(c for c in reversed(contents) if c["role"] == "model")["parts"])
            except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
                return f"Dataset validation failed: line {n} of {uri} is not a supervised tuning example (each line needs \"contents\" with a user and a model turn). (emulated)"
            memory.append((user, model))
        if not memory:
            return f"Dataset validation failed: {uri} holds no examples. (emulated)"
        job["_memory"] = memory
        return None

    def _end(self, job: dict, state: str, message: str) -> None:
        job["state"] = state
        job["endTime"] = job["updateTime"] = _now()
        job["error"] = {"code": _RPC_CODE.get(state, 2), "message": message}

    def _succeed(self, job: dict) -> None:
        memory = job["_memory"]
        epochs = int(job["supervisedTuningSpec"]["hyperParameters"]["epochCount"])
        serving = GEMINI3_REGIONS[job["_location"]] if job["baseModel"].startswith("gemini-3") else job["_location"]
        prefix = f"projects/{job['_project']}/locations/{serving}"
        endpoint = f"{prefix}/endpoints/{_digits()}"
        self._endpoints[endpoint] = dict(memory)
        checkpoints = []
        if not job["supervisedTuningSpec"].get("exportLastCheckpointOnly"):
            # Up to 10 epochs: one checkpoint each; more: about 10, evenly spaced, the last after the final epoch.
            exported = range(1, epochs + 1) if epochs <= 10 else sorted({math.ceil(epochs * i / 10) for i in range(1, 11)})
            for epoch in exported:
                ckpt = endpoint if epoch == epochs else f"{prefix}/endpoints/{_digits()}"
                self._endpoints[ckpt] = dict(memory[: math.ceil(len(memory) * epoch / epochs)])
                checkpoints.append({"checkpointId": str(epoch), "epoch": str(epoch), "step": str(epoch * len(memory)), "endpoint": ckpt})
        job["state"] = "JOB_STATE_SUCCEEDED"
        job["endTime"] = job["updateTime"] = _now()
        job["tunedModel"] = {"model": f"{prefix}/models/{_digits()}@1", "endpoint": endpoint, **({"checkpoints": checkpoints} if checkpoints else {})}
        job["tuningDataStats"] = {"supervisedTuningDataStats": {"tuningDatasetExampleCount": str(len(memory)), "totalTuningCharacterCount": str(sum(len(q) + len(a) for q, a in memory))}}

    # Gemini answers

    def _thinks(self, model: str) -> bool:
        """Whether ``model`` (a base model or a tuned endpoint) is a Gemini 3.x that thinks."""
        if "/endpoints/" not in model:
            return _thinks_by_name(model)
        with self._lock:
            return any(j.get("tunedModel") and j["baseModel"].startswith("gemini-3") and model in _endpoints_of(j) for j in self._jobs.values())

    def _generate(self, model: str, p: dict) -> Reply:
        contents = p.get("contents") or []
        if unknown := sorted(set(p) - GENERATE_FIELDS):
            return json_reply(400, _error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field. (emulated)'))
        if not contents:
            return json_reply(400, _error(400, "Request contains an invalid argument: contents is not specified. (emulated)"))
        if "/endpoints/" in model:
            with self._lock:
                memory = self._endpoints.get(model)
            if memory is None:
                return json_reply(404, _error(404, f"Endpoint `{model}` not found. (emulated)"))
        else:
            base = model.rsplit("/", 1)[-1]
            if not base.startswith("gemini-") or base.startswith(RETIRED_PREFIXES):
                return json_reply(404, _error(404, f"Publisher Model `{model}` was not found or your project does not have access to it. (emulated)"))
            memory = {}
        user = next((c for c in reversed(contents) if c.get("role", "user") == "user"), {})
        prompt = "".join(part.get("text", "") for part in user.get("parts") or [])
        answer = memory.get(prompt, memory.get(prompt.strip(), NO_ANSWER))
        config = p.get("generationConfig") or {}
        finish = "STOP"
        limit = int(config["maxOutputTokens"]) if config.get("maxOutputTokens") else None
        # A 3.x model thinks first (tuned endpoints of 3.x models too), and thinking counts against the cap.
        thinks = self._thinks(model)
        thoughts = self.thinking_tokens.get(_thinking_level(config), self.thinking_tokens[None]) if thinks else 0
        if limit is not None and thoughts >= limit:
            thoughts, answer, finish = limit, "", "MAX_TOKENS"
        elif limit is not None and len(answer.split()) > limit - thoughts:
            answer, finish = " ".join(answer.split()[: limit - thoughts]), "MAX_TOKENS"
        content: dict[str, Any] = {"role": "model", "parts": [{"text": answer}]} if answer else {"role": "model"}
        usage = {"promptTokenCount": len(prompt) // 4 + 1, "candidatesTokenCount": len(answer) // 4 + 1 if answer else 0, "totalTokenCount": (len(prompt) + len(answer)) // 4 + 2 + thoughts}
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return json_reply(
            200,
            {
                "candidates": [{"content": content, "finishReason": finish}],
                "usageMetadata": usage,
                "modelVersion": model.rsplit("/", 1)[-1],
                "createTime": _now(),
                "responseId": secrets.token_urlsafe(12),
            },
        )


def _thinking_level(config: dict) -> str | None:
    """The thinking level asked for (google-genai writes this field in snake_case; the API takes both)."""
    thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
    return thinking.get("thinkingLevel", thinking.get("thinking_level"))


def _endpoints_of(job: dict) -> set[str]:
    tuned = job["tunedModel"]
    return {tuned["endpoint"], *(c["endpoint"] for c in tuned.get("checkpoints", []))}


def _thinks_by_name(model: str) -> bool:
    return model.rsplit("/", 1)[-1].startswith("gemini-3")


def _crc32c(data: bytes) -> str | None:
    try:
        import google_crc32c
    except ImportError:  # the emulator runs without it: no CRC32C checks
        return None
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


_VERTEX = re.compile(r"^/v1(?:beta1)?/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/(?P<rest>.+)$")


def _route(method: str, raw: str) -> tuple[str, dict[str, str]]:
    """``(route, args)`` for a raw (still quoted) path; routes name what :attr:`requests` counts."""
    path = raw.rstrip("/")
    if path == "/token":
        return "token", {}
    m = re.match(r"^/storage/v1/b/([^/]+)$", path)
    if m:
        return "bucket", {"bucket": unquote(m.group(1))}
    m = re.match(r"^/upload/storage/v1/b/([^/]+)/o$", path)
    if m:
        return "upload", {"bucket": unquote(m.group(1))}
    m = re.match(r"^/(?:download/)?storage/v1/b/([^/]+)/o/(.+)$", path)
    if m:
        return "object", {"bucket": unquote(m.group(1)), "name": unquote(m.group(2))}
    m = _VERTEX.match(unquote(path))
    if not m:
        return "unknown", {}
    args = {"project": m["project"], "location": m["location"]}
    rest = m["rest"]
    if rest == "tuningJobs":
        return "tuningJobs", args
    t = re.fullmatch(r"tuningJobs/([^/:]+)(:cancel)?", rest)
    if t:
        return "tuningJobs/{id}" + (t.group(2) or ""), {**args, "id": t.group(1)}
    g = re.fullmatch(r"((?:endpoints|publishers/google/models)/[^/:]+):generateContent", rest)
    if g:
        return "generateContent", {**args, "model": f"projects/{m['project']}/locations/{m['location']}/{g.group(1)}"}
    return "unknown", {}


def main(argv: list[str] | None = None) -> None:
    args = server.parser("vertex_emulator", "Run the Vertex AI tuning + Cloud Storage emulator (a test double: it memorizes, it does not learn).", port=8001, polls="gets").parse_args(argv)
    emu = VertexEmulator(host=args.host, port=args.port, latency=args.latency, job_seconds=args.job_seconds, job_polls=args.job_polls)
    emu.fail_jobs = args.fail_jobs
    server.serve(emu, lambda emu: [f"Vertex AI + Cloud Storage emulator on {emu.url}; Ctrl-C stops. Export:", *(f"  export {key}={value}" for key, value in emu.env().items())])


if __name__ == "__main__":
    main()
