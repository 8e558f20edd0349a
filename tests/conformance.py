"""Conformance of the emulators' traffic to schemas the vendors publish (never to the emulators themselves).

* OpenAI: every JSON response is validated by the ``openai`` SDK's own response model with extra
  fields forbidden (``model_validate``, then no ``model_extra`` anywhere in the tree); list pages
  by the SDK's page fields plus the spec's ``object``, their items by the item model; error bodies
  by ``ErrorObject``. Request bodies must use only the keys of the SDK's ``*Params`` TypedDicts.
* Vertex AI and Cloud Storage: requests and responses are walked against the discovery documents
  shipped in ``google-api-python-client`` (``aiplatform.v1beta1``/``v1``, ``storage.v1``): no field
  the schema does not define (proto JSON names: lowerCamel, or the snake_case original), and each
  value of the schema's type (int64 as a decimal string, enums from their list).

A :class:`Checker` is an emulator observer: it records one line per violation in ``failures``.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from pytest_finetunebench.testing.server import Reply, Request

Route = tuple[Any, Any]  # (request schema, response schema); None: not checked


class Checker:
    """Collects schema violations of the requests and replies an emulator sees."""

    def __init__(
        self,
        routes: Callable[[Request], Route | None],
        request_check: Callable[[Any, Any, str], list[str]],
        response_check: Callable[[Any, Any, str], list[str]],
        error_check: Callable[[Any, str], list[str]],
    ) -> None:
        self.routes, self.request_check, self.response_check, self.error_check = (
            routes,
            request_check,
            response_check,
            error_check,
        )
        self.failures: list[str] = []
        self.checked = 0

    def __call__(self, req: Request, reply: Reply) -> None:
        route = self.routes(req)
        where = f"{req.method} {req.path}"
        if route is None:
            self.failures.append(f"{where}: no published schema is mapped to this route")
            return
        request_schema, response_schema = route
        problems: list[str] = []
        if request_schema is not None and req.body and "json" in (req.headers.get("Content-Type") or ""):
            problems += self.request_check(request_schema, json.loads(req.body), "request")
        if reply.content_type == "application/json" and reply.body:
            body = json.loads(reply.body)
            if reply.status >= 400:
                problems += self.error_check(body, "error")
            elif response_schema is not None:
                problems += self.response_check(response_schema, body, "response")
        self.checked += 1
        self.failures += [f"{where}: {p}" for p in problems]


# -- OpenAI: the SDK's models ------------------------------------------------------------------


def _extras(value: Any, path: str) -> list[str]:
    """Fields a validated SDK model kept as extras (an emulator field the SDK does not define)."""
    from pydantic import BaseModel

    out: list[str] = []
    if isinstance(value, BaseModel):
        out += [f"{path}.{name}: not a field of {type(value).__name__}" for name in (value.model_extra or {})]
        for name in type(value).model_fields:
            out += _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            out += _extras(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            out += _extras(item, f"{path}.{key}")
    return out


def _sdk_model(model: Any, data: Any, path: str) -> list[str]:
    from pydantic import ValidationError

    if isinstance(model, tuple):  # a list page: (page class, item model)
        page, item = model
        allowed = set(page.model_fields) | {"object", "first_id", "last_id"}  # the spec's list envelope
        out = [f"{path}.{k}: not a field of {page.__name__}" for k in data if k not in allowed]
        for i, entry in enumerate(data.get("data", [])):
            out += _sdk_model(item, entry, f"{path}.data[{i}]")
        return out
    try:
        parsed = model.model_validate_json(
            json.dumps(data), strict=True
        )  # JSON mode: ISO dates are dates, as on the wire
    except ValidationError as exc:
        return [f"{path}: {model.__name__}: {' '.join(str(exc).split())}"]
    return _extras(parsed, path)


def _sdk_params(params: Any, data: Any, path: str) -> list[str]:
    known = params.__required_keys__ | params.__optional_keys__
    out = [f"{path}.{k}: not a parameter of {params.__name__}" for k in data if k not in known]
    out += [f"{path}: missing required {k}" for k in params.__required_keys__ if k not in data]
    return out


def _openai_error(body: Any, path: str) -> list[str]:
    from openai.types.shared import ErrorObject

    if set(body) != {"error"}:
        return [f'{path}: an error body is {{"error": {{...}}}}, got keys {sorted(body)}']
    return _sdk_model(ErrorObject, body["error"], f"{path}.error")


def openai_checker() -> Checker:
    """A :class:`Checker` for the OpenAI emulator, from the installed ``openai`` SDK."""
    from openai.pagination import SyncCursorPage
    from openai.types import FileObject
    from openai.types.chat import ChatCompletion
    from openai.types.chat.completion_create_params import CompletionCreateParamsBase
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
    from openai.types.fine_tuning.job_create_params import JobCreateParams
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

    table: list[tuple[str, str, Route]] = [
        ("POST", r"/v1/files", (None, FileObject)),
        ("GET", r"/v1/files/[^/]+", (None, FileObject)),
        ("POST", r"/v1/fine_tuning/jobs", (JobCreateParams, FineTuningJob)),
        ("GET", r"/v1/fine_tuning/jobs", (None, (SyncCursorPage, FineTuningJob))),
        ("GET", r"/v1/fine_tuning/jobs/[^/]+", (None, FineTuningJob)),
        ("GET", r"/v1/fine_tuning/jobs/[^/]+/events", (None, (SyncCursorPage, FineTuningJobEvent))),
        ("GET", r"/v1/fine_tuning/jobs/[^/]+/checkpoints", (None, (SyncCursorPage, FineTuningJobCheckpoint))),
        ("POST", r"/v1/fine_tuning/jobs/[^/]+/cancel", (None, FineTuningJob)),
        ("POST", r"/v1/chat/completions", (CompletionCreateParamsBase, ChatCompletion)),
    ]

    def routes(req: Request) -> Route | None:
        return next(
            (route for method, pattern, route in table if method == req.method and re.fullmatch(pattern, req.path)),
            None,
        )

    return Checker(routes, _sdk_params, _sdk_model, _openai_error)


# -- Google: discovery documents ---------------------------------------------------------------


@cache
def discovery(name: str) -> dict:
    """A discovery document shipped in google-api-python-client (``aiplatform.v1beta1``, ``storage.v1``)."""
    documents = importlib.resources.files("googleapiclient.discovery_cache") / "documents"
    return json.loads((documents / f"{name}.json").read_text(encoding="utf-8"))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def walk(doc: dict, schema: dict, value: Any, path: str, parsing: bool = False) -> list[str]:
    """Violations of ``schema`` (a discovery-document schema) by ``value``.

    ``parsing``: ``value`` is a request, which the service parses as proto JSON, where an int64 may
    also be a JSON number (the SDKs send numbers); a response always prints it as a decimal string.
    """
    if "$ref" in schema:
        return walk(doc, doc["schemas"][schema["$ref"]], value, path, parsing)
    kind = schema.get("type")
    if kind == "any" or value is None:
        return []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        out: list[str] = []
        for key, item in value.items():
            field = props.get(key) or props.get(_camel(key))
            if field is not None:
                out += walk(doc, field, item, f"{path}.{key}", parsing)
            elif extra is not None:
                out += walk(doc, extra, item, f"{path}.{key}", parsing)
            else:
                out.append(f"{path}.{key}: not a field of {schema.get('id', 'this object')}")
        return out
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {type(value).__name__}"]
        return [
            p for i, item in enumerate(value) for p in walk(doc, schema.get("items", {}), item, f"{path}[{i}]", parsing)
        ]
    if (
        kind == "string"
        and parsing
        and schema.get("format") in ("int64", "uint64")
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        return []
    if kind == "string":
        if not isinstance(value, str):
            return [
                f"{path}: expected a string{' (' + schema['format'] + ')' if 'format' in schema else ''}, got {value!r}"
            ]
        if schema.get("format") in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
            return [f"{path}: expected a decimal {schema['format']} string, got {value!r}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: {value!r} is not one of the enum's {len(schema['enum'])} values"]
        return []
    if kind == "integer":
        return (
            []
            if isinstance(value, int) and not isinstance(value, bool)
            else [f"{path}: expected an integer, got {value!r}"]
        )
    if kind == "number":
        return (
            []
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else [f"{path}: expected a number, got {value!r}"]
        )
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    return []


def _google_error(body: Any, path: str) -> list[str]:
    """Google's JSON error envelope: ``{"error": {"code": int, "message": str, "status": str, ...}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if (
        not isinstance(error, dict)
        or not isinstance(error.get("code"), int)
        or not isinstance(error.get("message"), str)
    ):
        return [f"{path}: not Google's error envelope: {body!r}"]
    return [
        f"{path}.error.{k}: not a field of Google's error envelope"
        for k in error
        if k not in ("code", "message", "status", "details", "errors")
    ]


def vertex_checker() -> Checker:
    """A :class:`Checker` for the Vertex AI + Cloud Storage emulator, from the discovery documents."""

    def routes(req: Request) -> Route | None:
        path = req.path
        if path == "/token":
            return (None, None)  # the OAuth token exchange: not a Vertex AI or Cloud Storage method
        if path.startswith(("/storage/v1/", "/upload/storage/v1/", "/download/storage/v1/")):
            doc = discovery("storage.v1")
            schema = "Bucket" if re.fullmatch(r"/storage/v1/b/[^/]+", path) else "Object"
            return (None, (doc, schema))
        m = re.match(r"^/(v1|v1beta1)/projects/[^/]+/locations/[^/]+/(.+)$", path)
        if not m:
            return None
        doc, prefix = (
            discovery(f"aiplatform.{m[1]}"),
            "GoogleCloudAiplatform" + m[1].replace("v1beta1", "V1beta1").replace("v1", "V1"),
        )
        rest = m[2]
        if rest == "tuningJobs":
            return (
                (doc, f"{prefix}TuningJob"),
                (doc, f"{prefix}TuningJob" if req.method == "POST" else f"{prefix}ListTuningJobsResponse"),
            )
        if re.fullmatch(r"tuningJobs/[^/:]+", rest):
            return (None, (doc, f"{prefix}TuningJob"))
        if re.fullmatch(r"tuningJobs/[^/:]+:cancel", rest):
            return ((doc, f"{prefix}CancelTuningJobRequest"), (doc, "GoogleProtobufEmpty"))
        if rest.endswith(":generateContent"):
            return ((doc, f"{prefix}GenerateContentRequest"), (doc, f"{prefix}GenerateContentResponse"))
        return None

    def check(schema: Any, data: Any, path: str) -> list[str]:
        doc, name = schema
        return walk(doc, {"$ref": name}, data, path, parsing=path == "request")

    return Checker(routes, check, check, _google_error)


# -- Together: the together SDK's models (Stainless-generated from Together's OpenAPI spec) ------


def _pydantic_request(model: Any, data: Any, path: str) -> list[str]:
    """A request body against an SDK request model: only its fields (by name or alias)."""
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return [f"{path}.{k}: not a field of {model.__name__}" for k in data if k not in known]


def _together_error(body: Any, path: str) -> list[str]:
    """Together's error body (``{"error": {"message": ...}}``), or a 409 upload's ``{"message", "file_id"}`` the SDK
    reads."""
    if isinstance(body, dict) and set(body) == {"message", "file_id"}:
        return []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return [f"{path}: not Together's error body: {body!r}"]
    return [f"{path}.error.{k}: unexpected" for k in error if k not in ("message", "type", "param", "code")]


def _union(*models: Any) -> Any:
    """A response that must validate as one of ``models`` (a TypeAlias union in the SDK)."""

    class OneOf:
        __name__ = " | ".join(m.__name__ for m in models)

        @staticmethod
        def check(data: Any, path: str) -> list[str]:
            results = [_sdk_model(m, data, path) for m in models]
            return [] if any(not r for r in results) else min(results, key=len)

    return OneOf


def together_checker() -> Checker:
    """A :class:`Checker` for the Together emulator, from the installed ``together`` SDK."""
    from together.lib.types.fine_tuning import FinetuneRequest
    from together.types import FileResponse
    from together.types.chat import ChatCompletion
    from together.types.chat.completion_create_params import CompletionCreateParamsBase
    from together.types.fine_tuning_estimate_price_response import AvailableEstimate, UnavailableEstimate
    from together.types.fine_tuning_list_checkpoints_response import FineTuningListCheckpointsResponse
    from together.types.fine_tuning_list_events_response import FineTuningListEventsResponse
    from together.types.fine_tuning_list_response import FineTuningListResponse
    from together.types.finetune_model_limits import FinetuneModelLimits  # what fine_tuning.model_limits() casts to
    from together.types.finetune_response import FinetuneResponse

    table: list[tuple[str, str, Route]] = [
        ("POST", r"/v1/files", (None, None)),  # multipart form; answered by a 302 to the upload URL (no body)
        ("PUT", r"/upload-target/[^/]+", (None, None)),  # the presigned upload URL: storage, not the API
        ("POST", r"/v1/files/[^/]+/preprocess", (None, FileResponse)),
        ("GET", r"/v1/files/[^/]+", (None, FileResponse)),
        ("GET", r"/v1/fine-tunes/models/limits", (None, FinetuneModelLimits)),
        ("POST", r"/v1/fine-tunes/estimate-price", (None, _union(AvailableEstimate, UnavailableEstimate))),
        ("POST", r"/v1/fine-tunes", ((FinetuneRequest, "model"), FinetuneResponse)),
        ("GET", r"/v1/fine-tunes", (None, FineTuningListResponse)),
        ("GET", r"/v1/fine-tunes/[^/]+", (None, FinetuneResponse)),
        ("GET", r"/v1/fine-tunes/[^/]+/events", (None, FineTuningListEventsResponse)),
        ("GET", r"/v1/fine-tunes/[^/]+/checkpoints", (None, FineTuningListCheckpointsResponse)),
        ("POST", r"/v1/fine-tunes/[^/]+/cancel", (None, FinetuneResponse)),
        ("POST", r"/v1/chat/completions", (CompletionCreateParamsBase, ChatCompletion)),
    ]

    def routes(req: Request) -> Route | None:
        return next(
            (route for method, pattern, route in table if method == req.method and re.fullmatch(pattern, req.path)),
            None,
        )

    def request_check(schema: Any, data: Any, path: str) -> list[str]:
        if isinstance(schema, tuple):  # a pydantic request model
            return _pydantic_request(schema[0], data, path)
        return _sdk_params(schema, data, path)

    def response_check(schema: Any, data: Any, path: str) -> list[str]:
        return schema.check(data, path) if hasattr(schema, "check") else _sdk_model(schema, data, path)

    return Checker(routes, request_check, response_check, _together_error)
