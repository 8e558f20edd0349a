"""Vertex AI's rules for Gemini tuning (December 2026), as pure functions the provider applies.

Which models tune (retired ones and their replacements), Gemini 3.x's two tuning regions and
multi-region serving, adapter sizes, the 2.5 tuning prices, the epochs Vertex AI exports
checkpoints after, each family's thinking setting for answers, the training JSONL, and the API's
error text in one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import google.auth.exceptions
from google.genai import errors, types

from ..base import ProviderError, TrainingPair

# Retired models and what to use instead (Google shut down Gemini 1.0 and 1.5 in 2025, then 2.0).
RETIRED = {
    "gemini-2.0-flash-lite": "gemini-2.5-flash-lite",
    "gemini-2.0-flash": "gemini-2.5-flash",
    "gemini-2.0-pro": "gemini-2.5-pro",
    "gemini-1.5-pro": "gemini-2.5-pro",
    "gemini-1.5-flash": "gemini-2.5-flash",
    "gemini-1.0-pro": "gemini-2.5-flash",
    "gemini-pro": "gemini-2.5-flash",
}
TUNABLE = ("gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-3.5-flash", "gemini-3.1-flash-lite")
TUNABLE_HINT = ", ".join(TUNABLE)

# Gemini 3.x tunes in two regions only, and its tuned models are served from the multi-region endpoint.
GEMINI3_TUNING_REGIONS = {"us-central1": "us", "europe-west4": "eu"}

# USD per 1M training tokens (Vertex AI's supervised tuning price list for 2.5, as published in 2025;
# an estimate: tokens are counted without a tokenizer). Matched by the longest prefix. The 3.x
# tuning prices could not be checked here, so they are absent: --ftb-max-cost with a 3.x model
# refuses until --ftb-price MODEL:USD gives one.
PRICES_PER_1M: dict[str, float] = {"gemini-2.5-pro": 25.00, "gemini-2.5-flash": 5.00, "gemini-2.5-flash-lite": 1.50}

ADAPTER_SIZES = {
    1: "ADAPTER_SIZE_ONE",
    2: "ADAPTER_SIZE_TWO",
    4: "ADAPTER_SIZE_FOUR",
    8: "ADAPTER_SIZE_EIGHT",
    16: "ADAPTER_SIZE_SIXTEEN",
}
MAX_ADAPTER_SIZE = {"gemini-2.5-pro": 8}  # by model prefix; others: the largest in ADAPTER_SIZES

CREDENTIALS_HINT = "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"


def retired(model: str) -> str | None:
    """The one-line error for a retired model name, or ``None``."""
    for prefix in sorted(RETIRED, key=len, reverse=True):
        if model == prefix or model.startswith(prefix + "-"):
            return (
                f"{model} is retired: Google shut down the Gemini 1.0, 1.5 and 2.0 models, so it can be neither "
                "tuned nor asked;"
                f" use {RETIRED[prefix]} instead (Vertex AI tunes {TUNABLE_HINT}); its cassettes and published "
                "answers still replay"
            )
    return None


def gemini3(model: str) -> bool:
    """Gemini 3.x: tuned in two regions only, served from a multi-region endpoint, thinking by default."""
    return model.startswith("gemini-3")


def checkpoint_epochs(epochs: int) -> tuple[int, ...]:
    """The epochs Vertex AI exports a checkpoint after: each epoch up to 10, else 10 evenly spaced ending at the
    last."""
    if epochs <= 10:
        return tuple(range(1, epochs + 1))
    return tuple(sorted({math.ceil(epochs * i / 10) for i in range(1, 11)}))


def endpoint_location(endpoint: str) -> str | None:
    """The location in a resource name ``projects/P/locations/L/endpoints/E``, else ``None``."""
    parts = endpoint.split("/")
    return parts[3] if len(parts) > 3 and parts[0] == "projects" and parts[2] == "locations" else None


def thinking_for(model: str) -> tuple[types.ThinkingConfig | None, int]:
    """The thinking setting for answers from ``model`` and the tokens it adds to the output budget.

    The output cap covers thinking, so a model that thinks gets room for it on top of the answer.
    """
    if gemini3(model):  # 3.x thinks unless told otherwise; MINIMAL is its lowest level
        return types.ThinkingConfig(thinking_level=types.ThinkingLevel.MINIMAL), 256
    if model.startswith("gemini-2.5-pro"):
        return types.ThinkingConfig(thinking_budget=128), 128  # Pro cannot turn thinking off
    if model.startswith("gemini-2.5-flash"):
        return types.ThinkingConfig(thinking_budget=0), 0
    return None, 0


def training_jsonl(pairs: Sequence[TrainingPair]) -> bytes:
    """Vertex AI's supervised-tuning JSONL: one user/model exchange per pair."""
    lines = (
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": p.prompt}]},
                    {"role": "model", "parts": [{"text": p.answer}]},
                ]
            },
            ensure_ascii=False,
        )
        for p in pairs
    )
    return ("\n".join(lines) + "\n").encode()


def estimate_tokens(pairs: Sequence[TrainingPair]) -> int:
    """Training tokens per epoch, estimated without a tokenizer (~4 UTF-8 bytes a token, plus a little per turn)."""
    return sum(8 + math.ceil(len(p.prompt.encode()) / 4) + math.ceil(len(p.answer.encode()) / 4) for p in pairs)


def api_message(exc: BaseException) -> str:
    """The API's own error text (``HTTP 429 RESOURCE_EXHAUSTED: <message>``), else the exception's."""
    if isinstance(exc, errors.APIError):
        status = f" {exc.status}" if exc.status else ""
        return f"HTTP {exc.code}{status}: {exc.message or exc.details}"
    code = getattr(exc, "code", None)
    if isinstance(code, int) and hasattr(
        exc, "message"
    ):  # google.api_core.exceptions.GoogleAPICallError (Cloud Storage)
        return f"HTTP {code}: {exc.message}"
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return f"Google Cloud credentials: {one_line(exc)} ({CREDENTIALS_HINT})"
    return f"{type(exc).__name__}: {exc}"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The transport errors of whichever HTTP client google-genai uses (httpx or httpx2)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx", "httpx2"):
        try:
            found.append(__import__(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()


def check_config(
    model: str,
    project: str | None,
    location: str | None,
    *,
    tuning: bool,
    bucket: str | None,
    training_uri: str | None,
    adapter_size: Any,
) -> None:
    """One-line errors for what cannot work: a retired model, no project or region, no bucket."""
    if msg := retired(model):
        raise ProviderError(msg)
    if not project:
        raise ProviderError(
            f"{model} runs on Vertex AI and needs a Google Cloud project: pass --ftb-gcp-project PROJECT or set "
            "GOOGLE_CLOUD_PROJECT"
        )
    if not location:
        raise ProviderError(
            f"{model} runs on Vertex AI and needs a region that tunes Gemini: pass --ftb-gcp-location (e.g. "
            "us-central1) or set GOOGLE_CLOUD_LOCATION"
        )
    if training_uri and not str(training_uri).startswith("gs://"):
        raise ProviderError(f"--ftb-gcs-training-uri must be a gs:// URI, got {training_uri!r}")
    if tuning and not bucket and not training_uri:
        raise ProviderError(
            f"tuning {model} on Vertex AI needs a Cloud Storage bucket for the training file: pass --ftb-gcs-bucket "
            "BUCKET[/PREFIX] (or --ftb-gcs-training-uri gs://... for a file already there)"
        )
    if tuning and gemini3(model) and location not in GEMINI3_TUNING_REGIONS:
        raise ProviderError(
            f"{model} tunes only in {' or '.join(GEMINI3_TUNING_REGIONS)}, not {location}: pass --ftb-gcp-location "
            "us-central1 (or europe-west4)"
        )
    if adapter_size is not None:
        largest = next((n for prefix, n in MAX_ADAPTER_SIZE.items() if model.startswith(prefix)), max(ADAPTER_SIZES))
        allowed = [n for n in ADAPTER_SIZES if n <= largest]
        if int(adapter_size) not in allowed:
            raise ProviderError(
                f"--ftb-adapter-size={adapter_size}: {model} takes adapter sizes {', '.join(map(str, allowed))}; "
                "nothing was uploaded"
            )
