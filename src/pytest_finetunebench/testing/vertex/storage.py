"""The Cloud Storage half of the Vertex AI emulator: buckets, uploads (multipart and resumable), objects.

:class:`CloudStorageMixin` is mixed into :class:`~.emulator.VertexEmulator`, which owns the
lock and the base URL; Google's error body, timestamps and ids for both halves are here too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Collection
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote

from ..server import Reply, json_reply

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def digits(n: int = 19) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))


def google_error(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def google_reply(status: int, message: str) -> Reply:
    """A Google API error: ``status`` with its JSON error body."""
    return json_reply(status, google_error(status, message))


def unknown_field(payload: dict, known: Collection[str]) -> Reply | None:
    """Google's 400 for a JSON body with a field the API does not define (the first, sorted), else None."""
    if unknown := sorted(set(payload) - set(known)):
        return google_reply(
            400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field. (emulated)'
        )
    return None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}Z"


class CloudStorageMixin:
    """Bucket metadata, object uploads and downloads, kept in memory."""

    _lock: Any
    url: str
    buckets: set[str] | None
    uploads: int
    _objects: dict[tuple[str, str], dict[str, Any]]
    _resumable: dict[str, dict[str, Any]]

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

    def _gcs(self, method: str, route: str, args: dict, query: dict, headers: Any, body: bytes) -> Reply:
        bucket = args["bucket"]
        if self.buckets is not None and bucket not in self.buckets:
            return google_reply(404, "The specified bucket does not exist.")
        if route == "bucket" and method == "GET":
            return json_reply(
                200,
                {
                    "kind": "storage#bucket",
                    "id": bucket,
                    "name": bucket,
                    "projectNumber": "0",
                    "location": "US",
                    "storageClass": "STANDARD",
                    "metageneration": "1",
                    "timeCreated": now(),
                    "updated": now(),
                    "etag": "CAE=",
                },
            )
        if route == "upload" and method == "POST" and query.get("uploadType") == "multipart":
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
            )
            if not msg.is_multipart():
                return google_reply(400, "Multipart upload needs a multipart/related body. (emulated)")
            parts = list(msg.iter_parts())
            meta = json.loads(parts[0].get_payload(decode=True) or b"{}")
            data = parts[1].get_payload(decode=True) or b""
            return self._finish_upload(
                bucket, meta.get("name") or query.get("name"), data, meta, parts[1].get_content_type()
            )
        if route == "upload" and method == "POST" and query.get("uploadType") == "resumable":
            meta = json.loads(body) if body else {}
            upload_id = secrets.token_hex(12)
            with self._lock:
                self._resumable[upload_id] = {
                    "bucket": bucket,
                    "meta": meta,
                    "name": meta.get("name") or query.get("name"),
                    "data": b"",
                    "type": headers.get("X-Upload-Content-Type")
                    or meta.get("contentType")
                    or "application/octet-stream",
                }
            location = f"{self.url}/upload/storage/v1/b/{quote(bucket)}/o?uploadType=resumable&upload_id={upload_id}"
            return Reply(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})
        if route == "upload" and method == "PUT" and query.get("upload_id"):
            with self._lock:
                state = self._resumable.get(query["upload_id"])
            if state is None:
                return google_reply(404, "No such upload session. (emulated)")
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
                return google_reply(404, f"No such object: {bucket}/{args['name']}")
            if query.get("alt") == "media":
                return Reply(200, obj["_data"], {}, obj["contentType"])
            return json_reply(200, self._public(obj))
        return google_reply(400, "Unsupported Cloud Storage request (emulated).")

    def _finish_upload(self, bucket: str, name: str | None, data: bytes, meta: dict, content_type: str) -> Reply:
        if not name:
            return google_reply(400, "Required object name is missing. (emulated)")
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if meta.get("md5Hash") and meta["md5Hash"] != md5:
            return google_reply(400, "Provided MD5 hash does not match the calculated MD5 hash of the data. (emulated)")
        crc = crc32c(data)
        if meta.get("crc32c") and crc is not None and meta["crc32c"] != crc:
            return google_reply(400, "Provided CRC32C does not match the calculated CRC32C of the data. (emulated)")
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
            "mediaLink": f"{self.url}/download/storage/v1/b/{quote(bucket)}/o/{quote(name, safe='')}"
            f"?generation={generation}&alt=media",
            "name": name,
            "bucket": bucket,
            "generation": generation,
            "metageneration": "1",
            "contentType": content_type,
            "storageClass": "STANDARD",
            "size": str(len(data)),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "timeCreated": now(),
            "updated": now(),
            "etag": secrets.token_hex(6),
            "_data": data,
        }
        crc = crc32c(data)
        if crc is not None:
            obj["crc32c"] = crc
        self._objects[(bucket, name)] = obj
        return obj


def crc32c(data: bytes) -> str | None:
    try:
        import google_crc32c
    except ImportError:  # the emulator runs without it: no CRC32C checks
        return None
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()
