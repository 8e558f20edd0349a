"""The plumbing the API emulators share: a stdlib HTTP server in a thread, and its test controls.

:class:`Emulator` is the base of :class:`~.openai.emulator.OpenAIEmulator` and
:class:`~.vertex.emulator.VertexEmulator`. It serves on ``127.0.0.1`` (port 0: a free one) in a
daemon thread, as a context manager, and answers every request through one skeleton:

1. :meth:`Emulator.classify` names the request: the key :attr:`Emulator.requests` counts
   (``"METHOD /route"``) and whatever the subclass's :meth:`Emulator.route` needs from the path;
2. ``latency`` seconds pass;
3. :meth:`Emulator.check` may answer first (a missing API key, say);
4. a queued :meth:`fault <Emulator.add_fault>` may answer instead (an HTTP error, with ``retry-after``);
5. :meth:`Emulator.route` answers: a :class:`Reply`, or ``None`` to drop the connection unanswered.

It also keeps what both tuning emulators count and control: ``max_in_flight``, ``jobs_created``,
``job_seconds`` / ``job_polls``, ``drop_creates`` / ``lose_creates`` and :meth:`Emulator.finish_jobs`.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import SplitResult, parse_qsl, urlsplit

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack


@dataclass
class Reply:
    """One answer: status, raw body, extra headers (after ``Content-Type`` and ``Content-Length``)."""

    status: int
    body: bytes
    headers: dict[str, str]
    content_type: str = "application/json"


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON :class:`Reply`."""
    return Reply(status, json.dumps(payload).encode(), headers or {})


@dataclass
class Request:
    """One request as :meth:`Emulator.route` sees it."""

    method: str
    parts: SplitResult  # the raw path, split (path still quoted)
    headers: Any
    body: bytes

    @property
    def path(self) -> str:
        """The (still quoted) path, without a trailing ``/``."""
        return self.parts.path.rstrip("/")

    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.parts.query, keep_blank_values=True)


@dataclass
class Fault:
    """A queued HTTP error for the next ``remaining`` requests that match (``None``: any)."""

    status: int
    remaining: int
    message: str
    retry_after: float | None = None
    path: str | None = None  # the request path starts with this
    method: str | None = None
    key: str | None = None  # the request is counted under this key

    def matches(self, method: str, path: str, key: str) -> bool:
        return (
            (self.path is None or path.startswith(self.path))
            and self.method in (None, method)
            and self.key in (None, key)
        )


class ServerOptions(TypedDict, total=False):
    """What every emulator's constructor takes, as keywords, for :class:`Emulator`."""

    host: str  # default 127.0.0.1
    port: int  # default 0: a free one
    latency: float  # seconds added to every request
    job_seconds: float  # how long a job takes (0: instant)
    job_polls: int  # polls a job needs before it finishes
    drop_creates: int  # job creates to drop unanswered, after doing them
    lose_creates: int  # job creates to drop unanswered, before doing them


class Emulator:
    """An emulated API server (a thread of this process); a context manager.

    Subclasses set :attr:`thread_name`, :attr:`methods` and :attr:`fault_messages`, and
    implement :meth:`classify`, :meth:`route` and :meth:`fault_payload`.
    """

    thread_name = "emulator"
    methods: tuple[str, ...] = ("GET", "POST")  # others get the stdlib's 501
    fault_messages: dict[int, str] = {}  # the default message of a fault, by status
    fail_jobs: str | None = None  # a message: jobs that finish while it is set fail with it

    def __init__(self, **options: Unpack[ServerOptions]) -> None:
        self.host, self.port = options.get("host", "127.0.0.1"), options.get("port", 0)
        self.latency = options.get("latency", 0.0)
        self.job_seconds = options.get("job_seconds", 0.0)
        self.job_polls = options.get("job_polls", 0)
        self.drop_creates = options.get("drop_creates", 0)
        self.lose_creates = options.get("lose_creates", 0)
        self.requests: collections.Counter[str] = collections.Counter()
        self.jobs_created = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: list[Fault] = []
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self.observers: list[
            Callable[[Request, Reply], None]
        ] = []  # called with every request and its reply (conformance checks)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------

    def count(self, key: str) -> int:
        """Requests seen for ``key`` (as counted in :attr:`requests`)."""
        return self.requests[key]

    def finish_jobs(self) -> None:
        """Let every running job finish at its next poll (sets ``job_seconds`` and ``job_polls`` to 0)."""
        self.job_seconds = 0.0
        self.job_polls = 0

    def add_fault(
        self,
        status: int,
        count: int,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        path: str | None = None,
        method: str | None = None,
        key: str | None = None,
    ) -> None:
        """Queue a :class:`Fault`: the next ``count`` matching requests get ``status`` (see the subclasses'
        ``fault``)."""
        message = message or self.fault_messages.get(status, f"emulated HTTP {status}")
        with self._lock:
            self._faults.append(Fault(status, count, message, retry_after, path, method, key))

    def _lose_create(self) -> bool:
        """True (and one fewer to lose) while ``lose_creates`` says a job create vanishes unrecorded."""
        return self._take_one("lose_creates")

    def _drop_create(self) -> bool:
        """True (and one fewer to drop) while ``drop_creates`` says a recorded create goes unanswered."""
        return self._take_one("drop_creates")

    def _take_one(self, counter: str) -> bool:
        with self._lock:
            left = getattr(self, counter)
            if left > 0:
                setattr(self, counter, left - 1)
            return left > 0

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # -- request handling (called by the handler) --------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply | None:
        """Answer one request, or ``None`` to drop the connection unanswered."""
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            req = Request(method, urlsplit(raw_path), headers, body)
            reply = self._handle(req)
            if reply is not None:
                for observe in self.observers:
                    observe(req, reply)
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1

    def _handle(self, req: Request) -> Reply | None:
        key, info = self.classify(req)
        with self._lock:
            self.requests[key] += 1
        if self.latency:
            time.sleep(self.latency)
        early = self.check(req)
        if early is not None:
            return early
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(req.method, req.path, key):
                    fault.remaining -= 1
                    payload = self.fault_payload(fault)
                    if isinstance(payload, Reply):  # a body of its own (plain text, another server's shape)
                        return payload
                    return json_reply(
                        fault.status,
                        payload,
                        self.retry_headers(fault.retry_after) if fault.retry_after is not None else {},
                    )
        return self.route(req, info)

    def retry_headers(self, seconds: float) -> dict[str, str]:
        """How a throttled reply says when to come back: ``retry-after`` in whole seconds, as HTTP defines it."""
        return {"retry-after": str(math.ceil(seconds))}

    def classify(self, req: Request) -> tuple[str, Any]:
        """``(key counted in requests, whatever route() needs)``."""
        raise NotImplementedError

    def check(self, req: Request) -> Reply | None:
        """An answer that comes before any fault (e.g. a 401), or ``None``."""
        return None

    def fault_payload(self, fault: Fault) -> Any:
        """The JSON error body of a fault."""
        raise NotImplementedError

    def route(self, req: Request, info: Any) -> Reply | None:
        raise NotImplementedError

    def response_headers(self) -> dict[str, str]:
        """Headers sent with every answer (after ``Content-Length``)."""
        return {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        if method not in emulator.methods:  # as the stdlib answers a method it has no do_ for
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({method!r})")
            return
        body = self._body()
        reply = emulator.handle(method, self.path, self.headers, body)
        if reply is None:  # accepted, then the connection "drops"
            self.close_connection = True
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        head = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
        ]
        head += [f"{k}: {v}" for k, v in {**emulator.response_headers(), **reply.headers}.items()]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")


# -- python -m ... -----------------------------------------------------------------------------


def parser(module: str, description: str, *, port: int, polls: str) -> argparse.ArgumentParser:
    """The options both standalone emulators take (``polls``: what a job needs, e.g. "retrieves")."""
    p = argparse.ArgumentParser(prog=f"python -m pytest_finetunebench.testing.{module}", description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=port)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--job-seconds", type=float, default=0.0, help="how long a job takes (0: instant)")
    p.add_argument("--job-polls", type=int, default=0, help=f"{polls} a job needs before it finishes")
    p.add_argument("--fail-jobs", metavar="MESSAGE", help="fail every job with this error message")
    return p


def serve(emulator: Emulator, banner: Callable[[Emulator], Iterable[str]]) -> None:
    """Run ``emulator`` until Ctrl-C, after printing ``banner(emulator)`` (it knows the URL by then)."""
    with emulator:
        for line in banner(emulator):
            print(line, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def main(
    make: Callable[..., Emulator],
    argv: list[str] | None,
    module: str,
    description: str,
    *,
    port: int,
    polls: str,
    banner: Callable[[Emulator], Iterable[str]],
) -> None:
    """A standalone emulator's command line: the shared options (:func:`parser`), then :func:`serve`."""
    args = parser(module, description, port=port, polls=polls).parse_args(argv)
    emulator = make(
        host=args.host, port=args.port, latency=args.latency, job_seconds=args.job_seconds, job_polls=args.job_polls
    )
    emulator.fail_jobs = args.fail_jobs
    serve(emulator, banner)
