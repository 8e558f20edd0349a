"""The cassette: one tuned model's recorded HTTP traffic, its index of fingerprints, its file format and persistence."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import threading
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..providers.base import ProviderError
from ..store.jobstore import JobStore, atomic_write
from .match import describe, fingerprint, origin
from .scrub import (
    _USERINFO,
    SCRUBBED,
    SECRET_HEADERS,
    SECRET_PARAMS,
    SECRET_RESPONSE_HEADERS,
    _auth_secrets,
    _scrub_body,
    is_auth,
    replay_token_response,
    scrub_uri,
)

FORMAT = "pytest-finetunebench cassette 1"

# Request headers worth keeping (matching never looks at headers; the rest is SDK noise, or
# credentials under a name nobody listed).
KEPT_REQUEST_HEADERS = frozenset({"content-type", "accept", "openai-beta", "anthropic-version", "anthropic-beta"})


GZIP_OVER = 256 * 1024  # bytes of JSON above which a cassette is written gzipped (under the same name)

GZIP_MAGIC = b"\x1f\x8b"


class CassetteError(ProviderError):
    """A cassette is missing, unreadable or unusable (the message is one line, shown as is)."""


class CassetteMiss(Exception):
    """A replayed request the cassette has no (more) responses for.

    A plain ``Exception`` on purpose: SDKs retry their transport errors, not this, so a miss
    fails at once instead of after minutes of backoff.
    """


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


class Cassette:
    """One model's interactions, indexed for replay; duck-types the cassette vcrpy's stubs call.

    ``replayable`` interactions (those loaded, unless the mode is ``all``) are served from a
    ``{fingerprint: deque of responses}`` index in recorded order; new ones are appended to
    ``new`` and written at :meth:`save`.
    """

    custom_patches: tuple = ()
    skip_patchers: tuple = ()
    allow_playback_repeats = False

    def __init__(
        self,
        path: Path,
        mode: str,
        meta: dict[str, Any],
        data: dict[str, Any] | None = None,
        session: str | None = None,
    ) -> None:
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
            request._ftb_response = replay_token_response()
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
        return (
            f"cassette miss: no recorded response for {what} in {self.display} ({why}); "
            f"record what is missing with --ftb-record-mode=new_episodes, or all of it again with --ftb-record-mode=all"
        )

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
            meta.update(
                format=FORMAT, session=session, updated_at=_now(), interactions_count=len(interactions), origins=origins
            )
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
            raise CassetteError(
                f"cassette {_relative(candidate)} is unreadable ({type(exc).__name__}: {exc}); re-record it with "
                "--ftb-record-mode=all"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise CassetteError(
                f"cassette {_relative(candidate)} is not a pytest-finetunebench cassette (no interactions list)"
            )
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
