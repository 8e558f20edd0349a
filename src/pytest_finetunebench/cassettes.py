"""Cassettes: record a real run's HTTP traffic once, replay the whole benchmark from it forever.

One cassette per tuned model (``<dir>/<provider>/<model>/<key>.json``, gzip-compressed under the
same name when large; ``<key>`` is :meth:`TuneRequest.key`, so the model, the training pairs and
the settings pick it)
holds the fine-tuning job's lifecycle (upload, create, every status poll, checkpoints) and every
answer. It stays open for the whole session: the tuning call and each later answer batch of the
same model go into it, while other models' calls interleave with their own cassettes. It is
saved at session end, atomically, under a lock (one writer, also under pytest-xdist).

Record modes (``--ftb-record-mode``, pytest-recording's meaning):

* ``none`` (the default): replay only. A model without a cassette fails with a one-line error
  that says how to record; a request the cassette lacks fails naming it and the cassette.
* ``once``: replay a cassette that exists; record one that does not (keys and network needed).
* ``new_episodes``: replay what matches, send the rest to the API and append it.
* ``all``: send everything to the API and replace the cassette with what came back.
* ``off``: no cassettes at all (a live run; nothing is written).

Only HTTP providers are affected (decided by the provider name the recording seam gets): the
local model and the published-answers provider never touch a cassette.

Matching is indexed: a request's fingerprint is (method, origin, path, query without secrets,
canonical body hash): JSON bodies compare with key order free, multipart uploads without their
random boundary. Each fingerprint holds a queue of responses replayed in recorded order, so a
job's polls replay as they happened. Replay skips the providers' and the SDK's sleeps and never
reaches the network.

Credential traffic (OAuth/STS token exchanges, IAM credentials, the GCE metadata server, any
form or JSON body carrying ``grant_type``, ``refresh_token``, ``client_secret``...) is never
written: it is sent live while recording, and answered with a placeholder token while replaying.

While a model's cassette replays, :meth:`Recorder.replay_store` (``RunContext.replaying`` and
``RunContext.ledger_store`` for providers) hands providers a throwaway job store for their
ledger, so a replay never writes the recording's job into the user's live ledger.

The HTTP interception itself is vcrpy's (>= 8.2, the first to patch httpx2, which openai>=3
talks through); the cassette object, its index, format and persistence are ours.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from .providers.base import ProviderError, TuneRequest
from .store import JobStore, atomic_write

MODES = ("none", "once", "new_episodes", "all", "off")
DEFAULT_MODE = "none"
FORMAT = "pytest-finetunebench cassette 1"
MIN_VCRPY = (8, 2)

# Providers that never speak HTTP: no cassette, whatever the mode.
NO_HTTP = frozenset({"local", "published"})

# Scrubbed before anything is written.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "openai-organization", "openai-project", "cookie"}
)
# Request headers worth keeping (matching never looks at headers; the rest is SDK noise, or
# credentials under a name nobody listed).
KEPT_REQUEST_HEADERS = frozenset({"content-type", "accept", "openai-beta", "anthropic-version", "anthropic-beta"})
SECRET_RESPONSE_HEADERS = frozenset({"set-cookie", "openai-organization", "openai-project"})
SECRET_PARAMS = frozenset({"key", "api_key", "access_token", "refresh_token", "client_secret", "assertion", "subject_token"})
# JSON fields holding credentials, wherever they appear in a recorded body.
SECRET_FIELDS = frozenset(
    {"access_token", "accessToken", "id_token", "idToken", "refresh_token", "refreshToken", "client_secret", "clientSecret",
     "subject_token", "subjectToken", "assertion", "private_key", "private_key_id"}
)
# A form or JSON body with one of these top-level fields is a credential exchange.
AUTH_BODY_FIELDS = frozenset({"grant_type", "subject_token", "assertion", "refresh_token", "client_secret"})
_AUTH_BODY_BYTES = tuple(name.encode() for name in AUTH_BODY_FIELDS)
# Hosts that only ever serve credentials (Google's OAuth, STS, IAM credentials, the GCE metadata server).
AUTH_HOSTS = frozenset(
    {"oauth2.googleapis.com", "accounts.google.com", "sts.googleapis.com", "iamcredentials.googleapis.com",
     "metadata.google.internal", "metadata", "169.254.169.254", "fd00:ec2::254"}
)
AUTH_PATH_ENDS = ("/token", "/oauthtoken", ":generateAccessToken", ":generateIdToken", ":signJwt", ":signBlob")
# What a replay answers a credential request with (nothing is sent; the token opens nothing).
REPLAY_TOKEN = "ftb-cassette-replay-token"
SCRUBBED = "<scrubbed>"
_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|_SECRET|_KEY)$")

GZIP_OVER = 256 * 1024  # bytes of JSON above which a cassette is written gzipped (under the same name)
GZIP_MAGIC = b"\x1f\x8b"
_CREDENTIAL_NAME = re.compile(r"token|secret|assertion|password|private_key|^key$|api_?key")
_USERINFO = re.compile(r"(\w+://)[^/\s@]+@")

# Credentials an SDK insists on before it sends anything: a placeholder while replaying, if unset
# (a replay sends nothing anywhere, so CI needs no key).
REPLAY_ENV: dict[str, tuple[str, ...]] = {"openai": ("OPENAI_API_KEY",), "gemini": ("GEMINI_API_KEY",), "together": ("TOGETHER_API_KEY",)}
REPLAY_PLACEHOLDER = "ftb-cassette-replay-no-key"
# Set to "1" while a cassette replays (a process-wide hint; providers should ask RunContext.replaying).
REPLAY_FLAG = "FTB_REPLAY"

# Sleeps whose caller lives in these modules are skipped while a cassette replays.
SLEEPY_MODULES = ("openai", "anthropic", "google", "together", "httpx", "httpx2", "pytest_finetunebench.providers")


class CassetteError(ProviderError):
    """A cassette is missing, unreadable or unusable (the message is one line, shown as is)."""


class CassetteMiss(Exception):
    """A replayed request the cassette has no (more) responses for.

    A plain ``Exception`` on purpose: SDKs retry their transport errors, not this, so a miss
    fails at once instead of after minutes of backoff.
    """


# -- fingerprints ------------------------------------------------------------------------------


def is_auth(uri: str, body: bytes | None = None) -> bool:
    """Credential traffic, never written to a cassette: a token exchange, IAM credentials, the
    metadata server, or any request whose form/JSON body carries ``grant_type``, ``refresh_token``..."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if host in AUTH_HOSTS or host.endswith(".metadata.google.internal"):
        return True
    if parts.path.endswith(AUTH_PATH_ENDS) or parts.path.startswith("/computeMetadata/"):
        return True
    return bool(_body_fields(body) & AUTH_BODY_FIELDS)


def _body_fields(body: bytes | None) -> set[str]:
    """The top-level field names of a JSON object or form-encoded body (none for anything else)."""
    if not body or len(body) > 1 << 20 or not any(name in body for name in _AUTH_BODY_BYTES):
        return set()
    head = body.lstrip()[:1]
    if head == b"{":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return set()
        return set(data) if isinstance(data, dict) else set()
    if head in (b"[", b"-") or b"\0" in body:
        return set()
    try:
        return {k for k, _ in parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)}
    except (ValueError, UnicodeDecodeError):
        return set()


def _auth_secrets(body: bytes | None) -> set[str]:
    """The credential values in a credential exchange's form or JSON body (so that no echo of
    them is ever written): every string under a name like ``*token*``, ``*secret*``, ``assertion``..."""
    out: set[str] = set()
    if not body:
        return out
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        try:
            data = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return out
    _collect_credentials(data, out)
    return out


def _collect_credentials(data: Any, out: set[str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            name = str(key).lower()
            if isinstance(value, str) and _CREDENTIAL_NAME.search(name) and not name.endswith(("type", "url", "uri")):
                out.add(value)
            else:
                _collect_credentials(value, out)
    elif isinstance(data, list):
        for value in data:
            _collect_credentials(value, out)


def _scrub_json(data: Any, secrets: set[str]) -> bool:
    """Replace every string under a :data:`SECRET_FIELDS` name (at any depth) with ``<scrubbed>``,
    collecting the values into ``secrets``; whether anything was replaced."""
    changed = False
    if isinstance(data, dict):
        for key, value in data.items():
            if key in SECRET_FIELDS and isinstance(value, str) and value != SCRUBBED:
                secrets.add(value)
                data[key] = SCRUBBED
                changed = True
            else:
                changed = _scrub_json(value, secrets) or changed
    elif isinstance(data, list):
        for value in data:
            changed = _scrub_json(value, secrets) or changed
    return changed


def _scrub_body(body: bytes, secrets: set[str]) -> bytes:
    """A JSON body with its credential fields scrubbed (unchanged, byte for byte, if it has none)."""
    head = body.lstrip()[:1]
    if head not in (b"{", b"["):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    return json.dumps(data, ensure_ascii=False).encode() if _scrub_json(data, secrets) else body


def _query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
    return urlencode(sorted(pairs))


def scrub_uri(uri: str) -> str:
    """``uri`` without ``user:password@`` and without its secret query parameters (``key=``...)."""
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    if parts.query:
        pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
        parts = parts._replace(query=urlencode(pairs))
    return urlunsplit(parts)


def origin(uri: str) -> str:
    """``scheme://host[:port]`` of ``uri``, without any ``user:password@``."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def canonical_body(body: bytes | None, content_type: str = "") -> bytes:
    """What of a body a match compares: JSON with sorted keys, multipart without its boundary."""
    if not body:
        return b""
    if body[:2] == b"--":
        first = body.split(b"\r\n", 1)[0]
        if len(first) > 2 and body.rstrip().endswith(first + b"--"):
            return _canonical_multipart(body, first)
    ct = content_type.lower()
    if "json" in ct or body[:1] in (b"{", b"["):
        try:
            return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except (ValueError, UnicodeDecodeError):
            pass
    if "x-www-form-urlencoded" in ct:
        try:
            return _query(body.decode()).encode()
        except UnicodeDecodeError:
            pass
    return body


def _canonical_multipart(body: bytes, delimiter: bytes) -> bytes:
    out = [b"multipart"]
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk
        head, _, content = chunk.partition(b"\r\n\r\n")
        lines = sorted(line.strip() for line in head.split(b"\r\n") if line.strip())
        out.append(b"\n".join(lines) + b"\0" + hashlib.sha256(content).hexdigest().encode())
    return b"\1".join(out)


def fingerprint(method: str, uri: str, body: bytes | None, content_type: str = "") -> str:
    """The index key of a request: ``METHOD origin/path?query#body-hash``."""
    parts = urlsplit(uri)
    origin = f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    digest = "" if is_auth(uri, body) else hashlib.sha256(canonical_body(body, content_type)).hexdigest()[:32]
    return f"{method.upper()} {origin}{parts.path}?{_query(parts.query)}#{digest}"


def describe(method: str, uri: str) -> str:
    """``POST /v1/chat/completions`` (with its query, secrets removed, cut to a readable length)."""
    parts = urlsplit(scrub_uri(uri))
    text = f"{method.upper()} {parts.path}" + (f"?{parts.query}" if parts.query else "")
    return text if len(text) <= 160 else text[:157] + "..."


# -- bodies and headers as stored ---------------------------------------------------------------


def _encode_body(body: bytes | None) -> Any:
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def _decode_body(stored: Any) -> bytes:
    if stored is None:
        return b""
    if isinstance(stored, dict):
        return base64.b64decode(stored["base64"])
    return stored.encode("utf-8")


def _header_lists(headers: Any) -> dict[str, list[str]]:
    """Headers as ``{name: [values]}`` from a vcrpy HeadersDict, a dict of lists or of strings."""
    out: dict[str, list[str]] = {}
    for name, value in (headers or {}).items():
        values = out.setdefault(str(name), [])
        if isinstance(value, (list, tuple)):
            values.extend(str(v) for v in value)
        else:
            values.append(str(value))
    return out


def _content_type(headers: Mapping[str, list[str]]) -> str:
    for name, values in headers.items():
        if name.lower() == "content-type" and values:
            return values[0]
    return ""


# -- the cassette --------------------------------------------------------------------------------


class Cassette:
    """One model's interactions, indexed for replay; duck-types the cassette vcrpy's stubs call.

    ``replayable`` interactions (those loaded, unless the mode is ``all``) are served from a
    ``{fingerprint: deque of responses}`` index in recorded order; new ones are appended to
    ``new`` and written at :meth:`save`.
    """

    custom_patches: tuple = ()
    skip_patchers: tuple = ()
    allow_playback_repeats = False

    def __init__(self, path: Path, mode: str, meta: dict[str, Any], data: dict[str, Any] | None = None, session: str | None = None) -> None:
        self.path = path  # one name, whether the file is plain JSON or gzip (see read)
        self._path = str(path)  # vcrpy names its patched connection classes after it
        self.mode = mode
        self.record_mode = mode
        self.meta = meta
        # Recorded before this session: under xdist another worker of this session may have saved
        # it already, and a cassette this session is still recording is no reason to stop recording.
        self.existed = data is not None and (session is None or data.get("session") != session)
        self.loaded: list[dict] = [i for i in (data or {}).get("interactions") or [] if not _is_auth_item(i)]
        self.new: list[dict] = []
        self.secrets: set[str] = set()
        self.replayed = 0
        self.misses: list[str] = []
        self._lock = threading.Lock()
        self._index: dict[str, deque] = {}
        self._seen: dict[str, int] = {}  # fingerprint -> responses recorded (for miss messages)
        self._paths: set[str] = set()
        self._origins: set[str] = set()
        if mode != "all":
            for item in self.loaded:
                req = item["request"]
                body = None if req.get("body") is None else _decode_body(req["body"])
                fp = fingerprint(req["method"], req["uri"], body, _content_type(req.get("headers") or {}))
                self._index.setdefault(fp, deque()).append(item["response"])
                self._seen[fp] = self._seen.get(fp, 0) + 1
                self._paths.add(f"{req['method'].upper()} {urlsplit(req['uri']).path}")
                self._origins.add(origin(req["uri"]))

    # mode -----------------------------------------------------------------------------------

    @property
    def write_protected(self) -> bool:
        """Replay only (no live request can happen; sleeps are skipped): ``none``, and ``once``
        for a cassette recorded before this session."""
        return self.mode == "none" or (self.mode == "once" and self.existed)

    @property
    def dirty(self) -> bool:
        return bool(self.new)

    @property
    def display(self) -> str:
        return _relative(self.path)

    # the interface vcrpy's stubs call --------------------------------------------------------

    def can_play_response_for(self, request: Any) -> bool:
        body = _request_body(request)
        if is_auth(request.uri, body):
            if not self.write_protected:
                return False  # credentials go live while recording (and are never written: append)
            request._ftb_response = _replay_token_response()
            return True
        fp = fingerprint(request.method, request.uri, body, _request_header(request, "content-type"))
        with self._lock:
            queue = self._index.get(fp)
            if queue:
                request._ftb_response = queue.popleft()
                self.replayed += 1
                return True
        if not self.write_protected:
            return False  # new_episodes, all, a new cassette under once: go live, then append
        message = self._miss_message(request.method, request.uri, fp)
        with self._lock:
            self.misses.append(message)
        raise CassetteMiss(message)

    def play_response(self, request: Any) -> dict[str, Any]:
        stored = request.__dict__.pop("_ftb_response")
        return {
            "status": dict(stored["status"]),
            "headers": {k: list(v) for k, v in stored["headers"].items()},
            "body": {"string": _decode_body(stored.get("body"))},
        }

    def filter_request(self, request: Any) -> Any:
        return request

    def append(self, request: Any, response: dict[str, Any]) -> None:
        if is_auth(request.uri, _request_body(request)):
            secrets = self._auth_secrets(request, response)  # never written; remembered so no echo is either
            with self._lock:
                self.secrets |= secrets
            return
        item = self._stored(request, response)
        with self._lock:
            self.new.append(item)

    # helpers ------------------------------------------------------------------------------------

    def _miss_message(self, method: str, uri: str, fp: str) -> str:
        what = describe(method, uri)
        parts = urlsplit(uri)
        here = origin(uri)
        if self._seen.get(fp):
            why = f"all {self._seen[fp]} recorded responses to it were already replayed"
        elif f"{method.upper()} {parts.path}" in self._paths and self._origins <= {here}:
            why = "it was recorded, but with another body or query"
        elif self._origins and here not in self._origins:
            why = f"the cassette was recorded against {', '.join(sorted(self._origins))}, this request goes to {here}"
        else:
            why = "it was never recorded"
        return (f"cassette miss: no recorded response for {what} in {self.display} ({why}); "
                f"record what is missing with --ftb-record-mode=new_episodes, or all of it again with --ftb-record-mode=all")

    def _request_secrets(self, request: Any) -> dict[str, list[str]]:
        """Collect the request's credentials (secret headers, ``key=``, ``user:password@``);
        return the headers worth keeping."""
        headers = {}
        for name, values in _header_lists(request.headers).items():
            if name.lower() in SECRET_HEADERS:
                for v in values:
                    self.secrets.add(v.split(" ", 1)[-1] if v.lower().startswith(("bearer ", "basic ")) else v)
                continue
            if name.lower() in KEPT_REQUEST_HEADERS:
                headers[name] = values
        parts = urlsplit(request.uri)
        for k, v in parse_qsl(parts.query):
            if k.lower() in SECRET_PARAMS and v:
                self.secrets.add(v)
        for userinfo in (parts.username, parts.password):  # https://TOKEN@host or user:password@
            if userinfo:
                self.secrets.add(userinfo)
        return headers

    def _auth_secrets(self, request: Any, response: dict[str, Any]) -> set[str]:
        """Every credential in a credential exchange: its headers, its body, the tokens it returned."""
        self._request_secrets(request)
        found = _auth_secrets(_request_body(request))
        body = _decoded(response)["body"]["string"]
        found |= _auth_secrets(body.encode() if isinstance(body, str) else body)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        if 8 <= len(text.strip()) < 4096 and not text.lstrip().startswith(("{", "[", "<")) and " " not in text.strip():
            found.add(text.strip())  # a bare token (the metadata server's identity endpoint)
        return found

    def _stored(self, request: Any, response: dict[str, Any]) -> dict[str, Any]:
        """The interaction as written: secrets scrubbed, compressed bodies decoded."""
        headers = self._request_secrets(request)
        body = _request_body(request)
        if body:
            body = _scrub_body(body, self.secrets)
        response = _decoded(response)
        resp_headers = {k: list(v) for k, v in response["headers"].items() if k.lower() not in SECRET_RESPONSE_HEADERS}
        resp_body = response["body"]["string"]
        if isinstance(resp_body, str):
            resp_body = resp_body.encode()
        scrubbed = _scrub_body(resp_body, self.secrets) if resp_body else resp_body
        if scrubbed is not resp_body:
            resp_body = scrubbed
            for name in list(resp_headers):
                if name.lower() == "content-length":
                    resp_headers[name] = [str(len(resp_body))]
        return {
            "request": {
                "method": request.method.upper(),
                "uri": scrub_uri(request.uri),
                "headers": headers,
                "body": _encode_body(body),
            },
            "response": {
                "status": {"code": int(response["status"]["code"]), "message": response["status"].get("message") or ""},
                "headers": resp_headers,
                "body": _encode_body(resp_body),
            },
        }

    # persistence --------------------------------------------------------------------------------

    def save(self, store: JobStore, session: str, secrets: set[str]) -> Path | None:
        """Write the cassette (merging what other writers of this session saved); one writer at a time."""
        if not self.dirty:
            return None
        with store.lock("cassettes", hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:24]):
            current = read(self.path)
            if current is not None and (current.get("session") == session or self.mode != "all"):
                base = [i for i in current.get("interactions") or [] if not _is_auth_item(i)]
                meta = {k: v for k, v in current.items() if k != "interactions"}
            else:
                base, meta = [], dict(self.meta)
            interactions = base + self.new
            origins = sorted({origin(i["request"]["uri"]) for i in interactions})
            meta.setdefault("recorded_against", "the live API at " + ", ".join(origins))
            meta["recorded_against"] = _USERINFO.sub(r"\1", str(meta["recorded_against"]))
            meta.update(format=FORMAT, session=session, updated_at=_now(), interactions_count=len(interactions), origins=origins)
            text = json.dumps({**meta, "interactions": interactions}, indent=1, ensure_ascii=False)
            for secret in sorted(secrets | self.secrets, key=len, reverse=True):
                if len(secret) >= 8 and secret != SCRUBBED:
                    text = text.replace(secret, SCRUBBED)
            data = text.encode()
            if len(data) > GZIP_OVER:  # the same name either way: a reader never sees two versions
                data = gzip.compress(data, compresslevel=6, mtime=0)
            atomic_write(self.path, data)
            os.chmod(self.path, 0o644)  # a file to commit and share, not a private temp file
            _legacy_gz(self.path).unlink(missing_ok=True)  # an older version's <key>.json.gz, now superseded
            self.new = []
            return self.path


def read(path: Path) -> dict[str, Any] | None:
    """The cassette at ``path`` (plain or gzipped JSON, told apart by its first bytes), or ``None``;
    a one-line error if unreadable. A ``<path>.gz`` written by older versions is read if ``path`` is not there."""
    for candidate in (path, _legacy_gz(path)):
        try:
            raw = candidate.read_bytes()
        except FileNotFoundError:
            continue
        try:
            data = json.loads(gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw)
        except (OSError, ValueError, EOFError) as exc:
            raise CassetteError(f"cassette {_relative(candidate)} is unreadable ({type(exc).__name__}: {exc}); re-record it with --ftb-record-mode=all") from None
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise CassetteError(f"cassette {_relative(candidate)} is not a pytest-finetunebench cassette (no interactions list)")
        return data
    return None


def exists(path: Path) -> bool:
    return path.exists() or _legacy_gz(path).exists()


def _legacy_gz(path: Path) -> Path:
    return Path(str(path) + ".gz")


def _is_auth_item(item: Mapping[str, Any]) -> bool:
    """A stored credential exchange (older versions wrote them scrubbed): never indexed, never kept."""
    req = item.get("request") or {}
    body = req.get("body")
    if body == SCRUBBED:
        return True
    return is_auth(str(req.get("uri", "")), None if body is None else _decode_body(body))


def _replay_token_response() -> dict[str, Any]:
    """What a replay answers any credential request with: a placeholder token that opens nothing."""
    expires = datetime.fromtimestamp(time.time() + 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"access_token": REPLAY_TOKEN, "accessToken": REPLAY_TOKEN, "token_type": "Bearer", "expires_in": 3600, "expireTime": expires,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}
    return {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"], "metadata-flavor": ["Google"]},
            "body": json.dumps(body)}


def _decoded(response: dict[str, Any]) -> dict[str, Any]:
    """``response`` with its body decompressed (gzip, deflate...) if vcrpy can; else as is."""
    from vcr.filters import decode_response

    try:
        return decode_response({**response, "headers": {k: list(v) for k, v in response["headers"].items()}})
    except Exception:  # an encoding vcrpy cannot decode: keep the bytes (base64)
        return {**response, "headers": {k: list(v) for k, v in response["headers"].items()}}


def _request_body(request: Any) -> bytes | None:
    body = request.body_bytes if hasattr(request, "body_bytes") else request.body
    if body is None:
        return None
    if hasattr(body, "read"):
        return body.read()
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


def _request_header(request: Any, name: str) -> str:
    value = request.headers.get(name) if request.headers is not None else None
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value or ""


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def env_secrets() -> set[str]:
    """Values of environment variables that look like credentials (never written to a cassette)."""
    return {v for k, v in os.environ.items() if _SECRET_ENV.search(k.upper()) and len(v) >= 8}


def credential_file_secrets() -> set[str]:
    """The secrets in the Google credentials file ``GOOGLE_APPLICATION_CREDENTIALS`` names
    (refresh token, client secret, private key...), never written to a cassette either."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    out: set[str] = set()
    if not path:
        return out
    try:
        _scrub_json(json.loads(Path(path).read_text(encoding="utf-8")), out)
    except (OSError, ValueError):
        pass
    return out


# -- vcrpy, sleeps ---------------------------------------------------------------------------------


def require_vcrpy() -> Any:
    """vcrpy, if it is new enough to intercept httpx2; else a one-line usage error."""
    try:
        import vcr
    except ImportError:
        raise pytest.UsageError(
            "cassettes need vcrpy>=8.2: pip install 'pytest-finetunebench[record]' (or run live without cassettes: --ftb-record-mode=off)"
        ) from None
    version = tuple(int(p) for p in re.findall(r"\d+", vcr.__version__)[:2])
    if version < MIN_VCRPY:
        raise pytest.UsageError(
            f"vcrpy {vcr.__version__} is too old: openai>=3 talks through httpx2, which only vcrpy>=8.2 intercepts "
            "(older versions let its requests through unrecorded, silently); pip install -U 'vcrpy>=8.2'"
        )
    return vcr


_sleep_lock = threading.Lock()
_sleep_depth = 0
_real_sleep = time.sleep


def _replay_sleep(seconds: float) -> None:
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller.startswith(SLEEPY_MODULES):
        return  # a poll or retry backoff in replay: the recorded answer is already here
    _real_sleep(seconds)


@contextmanager
def skip_sleeps() -> Iterator[None]:
    """While replaying, sleeps called from SDKs and providers return at once (others still sleep)."""
    global _sleep_depth
    with _sleep_lock:
        _sleep_depth += 1
        if _sleep_depth == 1:
            time.sleep = _replay_sleep
    try:
        yield
    finally:
        with _sleep_lock:
            _sleep_depth -= 1
            if _sleep_depth == 0:
                time.sleep = _real_sleep


@contextmanager
def use(cassette: Cassette) -> Iterator[Cassette]:
    """Route every HTTP library vcrpy knows through ``cassette`` (and skip sleeps when replaying)."""
    require_vcrpy()
    from vcr.patch import CassettePatcherBuilder

    with ExitStack() as stack:
        for patcher in CassettePatcherBuilder(cassette).build():
            stack.enter_context(patcher)
        if cassette.write_protected:
            stack.enter_context(skip_sleeps())
            stack.enter_context(_placeholder_env(REPLAY_ENV.get(cassette.meta.get("provider", ""), ())))
            stack.enter_context(_placeholder_env((REPLAY_FLAG,), "1"))
        yield cassette


@contextmanager
def _placeholder_env(names: tuple[str, ...], value: str = REPLAY_PLACEHOLDER) -> Iterator[None]:
    unset = [n for n in names if not os.environ.get(n)]
    for name in unset:
        os.environ[name] = value
    try:
        yield
    finally:
        for name in unset:
            if os.environ.get(name) == value:
                del os.environ[name]


# -- the session's recorder --------------------------------------------------------------------------


def model_dir(model: str) -> str:
    """A directory name for a model as the user typed it (``ft:a:b`` -> ``ft_a_b``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"


class Recorder:
    """The session's cassettes: one per tuned-model key, open all session, saved at its end.

    Also a pytest plugin object: checks before the first test that every HTTP model has its
    cassette (in ``none`` mode), saves at session end and prints what it did.
    """

    def __init__(self, directory: Path, mode: str, store: JobStore, session: str | None = None, *, worker: bool = False) -> None:
        if mode not in MODES:
            raise pytest.UsageError(f"--ftb-record-mode={mode}: expected one of {', '.join(MODES)}")
        self.directory = Path(directory)
        self.mode = mode
        self.store = store
        self.session = session or uuid.uuid4().hex
        self.worker = worker
        self.cassettes: dict[Path, Cassette] = {}
        self.saved: list[Path] = []
        self._lock = threading.Lock()
        self._by_model: dict[tuple[str, str], Cassette] = {}
        self._replay_store: JobStore | None = None

    @classmethod
    def from_options(cls, opts: Mapping[str, Any], rootdir: Path, store: JobStore, worker: Mapping[str, Any] | None = None) -> "Recorder":
        mode = opts.get("record_mode") or DEFAULT_MODE
        if opts.get("dry_run"):
            mode = "off"  # a dry run sends nothing to record and needs nothing to replay
        directory = Path(opts["cassettes"]) if opts.get("cassettes") else rootdir / "cassettes"
        return cls(directory, mode, store, worker["testrunuid"] if worker else None, worker=worker is not None)

    def path(self, provider: str, request: TuneRequest) -> Path:
        return self.directory / provider / model_dir(request.model) / f"{request.key()}.json"

    def wants(self, provider: str) -> bool:
        return self.mode != "off" and provider not in NO_HTTP

    def missing_message(self, provider: str, request: TuneRequest, path: Path) -> str:
        return (f"no cassette for {request.model} ({provider}, {len(request.pairs)} training pairs, key {request.key()}) at {_relative(path)}: "
                f"record it once with --ftb-record-mode=once (needs the API key and network), run live without cassettes with "
                f"--ftb-record-mode=off, or select the same cases and settings as when it was recorded")

    def cassette(self, provider: str, request: TuneRequest) -> Cassette:
        path = self.path(provider, request)
        with self._lock:
            if path in self.cassettes:
                return self.cassettes[path]
            data = read(path)
            if data is None and self.mode == "none":
                raise CassetteError(self.missing_message(provider, request, path))
            meta = {
                "format": FORMAT,
                "provider": provider,
                "model": request.model,
                "key": request.key(),
                "training_pairs": len(request.pairs),
                "settings": asdict(request.settings),
                "recorded_at": _now(),
                "recorded_with": _versions(),
            }
            self.cassettes[path] = cassette = Cassette(path, self.mode, meta, data, self.session)
            self._by_model[(provider, request.model)] = cassette
            return cassette

    def recording(self, provider: str, request: TuneRequest) -> AbstractContextManager[Any]:
        """The seam :class:`RunContext` calls around every provider call for ``request``'s model."""
        if not self.wants(provider):
            return nullcontext()
        return use(self.cassette(provider, request))

    def replay_store(self, provider: str, request: TuneRequest | str) -> JobStore | None:
        """The seam behind :meth:`RunContext.replaying` and :meth:`RunContext.ledger_store`.

        ``None`` unless every HTTP call for ``request``'s model (a :class:`TuneRequest`, or the
        model name, e.g. ``Endpoint.model``) replays from a cassette with no live request possible
        (mode ``none``; ``once`` with a cassette recorded before this session). While replaying:
        a job store private to this process and session, empty at first and deleted at session end,
        for the provider's ledger, so the replayed job never reaches the user's live ledger.
        """
        if not self.wants(provider):
            return None
        if isinstance(request, TuneRequest):
            cassette: Cassette | None = self.cassette(provider, request)
        else:
            with self._lock:
                cassette = self._by_model.get((provider, request))
        replaying = cassette.write_protected if cassette is not None else self.mode == "none"
        if not replaying:
            return None
        with self._lock:
            if self._replay_store is None:
                self._replay_store = JobStore(tempfile.mkdtemp(prefix="ftb-replay-store-"))
            return self._replay_store

    def close(self) -> None:
        """Delete the replay job store (the session is over)."""
        with self._lock:
            store, self._replay_store = self._replay_store, None
        if store is not None:
            shutil.rmtree(store.root, ignore_errors=True)

    def save(self) -> list[Path]:
        secrets = env_secrets() | credential_file_secrets()
        for cassette in list(self.cassettes.values()):
            written = cassette.save(self.store, self.session, secrets)
            if written is not None:
                self.saved.append(written)
        return self.saved

    # pytest hooks ------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """In ``none`` mode, a missing cassette stops the run before anything runs (one line)."""
        if self.mode == "off":
            return
        from .answer import EVALUATION
        from .providers import spec_for

        evaluation = session.config.stash.get(EVALUATION, None)
        if evaluation is None:
            return
        for model in evaluation.models:
            provider = spec_for(model, evaluation.ctx).name
            if not self.wants(provider):
                continue
            require_vcrpy()
            if self.mode != "none" or self.worker:
                continue
            request = evaluation.request(model)
            path = self.path(provider, request)
            if not exists(path):
                raise pytest.UsageError(self.missing_message(provider, request, path))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            self.save()
        finally:
            self.close()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        used = [c for c in self.cassettes.values()]
        if not used:
            return
        replayed = sum(c.replayed for c in used)
        misses = sum(len(c.misses) for c in used)
        line = f"finetunebench: cassettes ({self.mode}): replayed {replayed} responses from {len(used)} cassette(s)"
        if misses:
            line += f", {misses} request(s) not in the cassette"
        terminalreporter.write_line(line)
        for path in self.saved:
            terminalreporter.write_line(f"finetunebench: cassette written: {_relative(path)}")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("pytest-finetunebench", "vcrpy", "openai", "google-genai"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
