"""Secrets never reach a cassette: credential headers, query parameters and JSON fields scrubbed, credential
exchanges recognised."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Scrubbed before anything is written.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "openai-organization",
        "openai-project",
        "cookie",
    }
)

SECRET_RESPONSE_HEADERS = frozenset({"set-cookie", "openai-organization", "openai-project"})

SECRET_PARAMS = frozenset(
    {"key", "api_key", "access_token", "refresh_token", "client_secret", "assertion", "subject_token"}
)

# JSON fields holding credentials, wherever they appear in a recorded body.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "accessToken",
        "id_token",
        "idToken",
        "refresh_token",
        "refreshToken",
        "client_secret",
        "clientSecret",
        "subject_token",
        "subjectToken",
        "assertion",
        "private_key",
        "private_key_id",
    }
)

# A form or JSON body with one of these top-level fields is a credential exchange.
AUTH_BODY_FIELDS = frozenset({"grant_type", "subject_token", "assertion", "refresh_token", "client_secret"})

_AUTH_BODY_BYTES = tuple(name.encode() for name in AUTH_BODY_FIELDS)

# Hosts that only ever serve credentials (Google's OAuth, STS, IAM credentials, the GCE metadata server).
AUTH_HOSTS = frozenset(
    {
        "oauth2.googleapis.com",
        "accounts.google.com",
        "sts.googleapis.com",
        "iamcredentials.googleapis.com",
        "metadata.google.internal",
        "metadata",
        "169.254.169.254",
        "fd00:ec2::254",
    }
)

AUTH_PATH_ENDS = ("/token", "/oauthtoken", ":generateAccessToken", ":generateIdToken", ":signJwt", ":signBlob")

SCRUBBED = "<scrubbed>"

_SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|_SECRET|_KEY)$")

_CREDENTIAL_NAME = re.compile(r"token|secret|assertion|password|private_key|^key$|api_?key")

_USERINFO = re.compile(r"(\w+://)[^/\s@]+@")


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


# What a replay answers a credential request with (nothing is sent; the token opens nothing).
REPLAY_TOKEN = "ftb-cassette-replay-token"


def replay_token_response() -> dict[str, Any]:
    """What a replay answers any credential request with: a placeholder token that opens nothing."""
    expires = datetime.fromtimestamp(time.time() + 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "access_token": REPLAY_TOKEN,
        "accessToken": REPLAY_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "expireTime": expires,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"], "metadata-flavor": ["Google"]},
        "body": json.dumps(body),
    }
