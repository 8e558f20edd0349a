"""How a request is recognised on replay: its fingerprint (method, origin, path, query without secrets, canonical
body)."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from .scrub import _query, is_auth, scrub_uri


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
    origin = (
        f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    )
    digest = "" if is_auth(uri, body) else hashlib.sha256(canonical_body(body, content_type)).hexdigest()[:32]
    return f"{method.upper()} {origin}{parts.path}?{_query(parts.query)}#{digest}"


def describe(method: str, uri: str) -> str:
    """``POST /v1/chat/completions`` (with its query, secrets removed, cut to a readable length)."""
    parts = urlsplit(scrub_uri(uri))
    text = f"{method.upper()} {parts.path}" + (f"?{parts.query}" if parts.query else "")
    return text if len(text) <= 160 else text[:157] + "..."
