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

or standalone: ``python -m pytest_finetunebench.testing.vertex.emulator --port 8001`` prints the
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

import json
import os
import re
import secrets
import shutil
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .. import server
from ..server import Emulator, Fault, Reply, Request, ServerOptions, json_reply
from .generate import THINKING_TOKENS, GenerateContentMixin
from .jobs import TERMINAL, TUNABLE, TuningJobsMixin
from .storage import CloudStorageMixin, google_error, google_reply, now

if TYPE_CHECKING:
    from typing_extensions import Unpack


class VertexEmulator(CloudStorageMixin, TuningJobsMixin, GenerateContentMixin, Emulator):
    """The emulated APIs (a thread of this process); a context manager."""

    thread_name = "vertex-emulator"
    methods = ("GET", "POST", "PUT")
    fault_messages = {
        429: "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details. (emulated)",
        500: "Internal error encountered. (emulated)",
        503: "The service is currently unavailable. (emulated)",
    }

    def __init__(
        self,
        *,
        end_state: str = "JOB_STATE_SUCCEEDED",
        fail_message: str | None = None,
        default_epochs: int = 3,
        tunable: frozenset[str] | set[str] = TUNABLE,
        buckets: set[str] | None = None,
        require_auth: bool = True,
        project: str = "ftb-emulated-project",
        location: str = "us-central1",
        max_running_jobs: int | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
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
        self._endpoints: dict[
            str, dict[str, str]
        ] = {}  # endpoint name -> {prompt: answer} (and _jobs: job name -> job)
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

    def start(self) -> VertexEmulator:
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
                # the one file type whose token URL is not fixed to Google's
                "type": "external_account_authorized_user",
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

    def fault(
        self,
        status: int,
        count: int = 1,
        *,
        route: str | None = "POST generateContent",
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next ``count`` requests to ``route`` (as counted in :attr:`requests`; ``None``: any) get ``status``."""
        self.add_fault(status, count, message=message, retry_after=retry_after, key=route)

    def jobs(self) -> list[dict[str, Any]]:
        """Copies of every job as the API shows it (newest first)."""
        with self._lock:
            return [
                json.loads(json.dumps(self._public(j))) for j in sorted(self._jobs.values(), key=lambda j: -j["_seq"])
            ]

    def pause(self, paused: bool = True) -> None:
        """Pause every unfinished job (``JOB_STATE_PAUSED``, as from the console), or resume them; a paused job does
        not finish."""
        with self._lock:
            for job in self._jobs.values():
                if job["state"] not in TERMINAL:
                    job["state"] = "JOB_STATE_PAUSED" if paused else "JOB_STATE_RUNNING"
                    job["updateTime"] = now()

    def add_endpoint(self, endpoint: str, memory: dict[str, str] | None = None) -> None:
        """Make an endpoint resource name answerable, with these trained answers."""
        with self._lock:
            self._endpoints[endpoint] = dict(memory or {})

    # -- request handling (called by Emulator.handle) ----------------------------------------

    def classify(self, req: Request) -> tuple[str, tuple[str, dict[str, str]]]:
        route, args = _route(req.method, req.parts.path)
        return f"{req.method} {route}", (route, args)

    def fault_payload(self, fault: Fault) -> dict:
        return google_error(fault.status, fault.message)

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
            return google_reply(404, f"The requested URL {path} was not found on this server. (emulated)")
        if self.require_auth:
            auth = headers.get("Authorization", "")
            with self._lock:
                ok = auth.startswith("Bearer ") and auth[len("Bearer ") :] in self._tokens
            if not ok:
                return google_reply(
                    401, "Request had invalid authentication credentials. Expected OAuth 2 access token. (emulated)"
                )
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return google_reply(400, "Invalid JSON payload received. (emulated)")
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
                return google_reply(404, f"The TuningJob does not exist: {name} (emulated)")
            if route == "tuningJobs/{id}" and method == "GET":
                with self._lock:
                    self._advance(job, poll=True)
                    return json_reply(200, self._public(job))
            if route == "tuningJobs/{id}:cancel" and method == "POST":
                return self._cancel(job)
        if route == "generateContent" and method == "POST":
            return self._generate(args["model"], payload)
        return google_reply(404, f"Method not found: {method} {path} (emulated)")

    # OAuth

    def _token(self) -> Reply:
        token = f"ftb-emulator-token-{secrets.token_hex(8)}"
        with self._lock:
            self._tokens.add(token)
        return json_reply(
            200,
            {
                "access_token": token,
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
            },
        )

    # Gemini answers


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
    server.main(
        VertexEmulator,
        argv,
        "vertex.emulator",
        "Run the Vertex AI tuning + Cloud Storage emulator (a test double: it memorizes, it does not learn).",
        port=8001,
        polls="gets",
        banner=lambda emu: [
            f"Vertex AI + Cloud Storage emulator on {emu.url}; Ctrl-C stops. Export:",
            *(f"  export {key}={value}" for key, value in emu.env().items()),
        ],
    )


if __name__ == "__main__":
    main()
