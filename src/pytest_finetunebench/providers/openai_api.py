"""OpenAI's rules for fine-tuning (December 2026), as pure functions the provider applies.

Which snapshots tune (retired ones, completion models, the 2026 policy line for a refused create),
the minimum training set, prices, the training JSONL, the ``n_epochs="auto"`` rule, and the API's
error text in one line.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

import openai

from .base import TrainingPair

MIN_EXAMPLES = 10  # fewer: the API creates the job, then fails it (invalid_n_examples)

# Retired snapshots: neither tuned nor asked any more. Their cassettes and published answers still replay.
RETIRED: dict[str, str] = {
    "gpt-3.5-turbo-0125": "2026-10-23",
    "gpt-4.1-nano": "2026-10-23",
    "gpt-4.1-nano-2025-04-14": "2026-10-23",
}
REFUSED_HINT = (
    "; since 2026-05-07 (and 2026-07-02 for organisations without recent fine-tuned-model use) most"
    " organisations can no longer create fine-tuning jobs, and nobody can after 2027-01-06: replay a"
    " recorded run (cassettes), re-grade published answers (--ftb-responses), or tune with Gemini or a local model"
)

TUNABLE = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14")
COMPLETION_MODELS = ("davinci-002", "babbage-002")

# USD per 1M training tokens (supervised fine-tuning, OpenAI's price list). Matched by the longest
# prefix of the model name; --ftb-price MODEL:USD overrides or adds entries.
PRICES_PER_1M: dict[str, float] = {
    "gpt-4o-mini": 3.00,
    "gpt-4o": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
}


def api_model(name: str) -> str:
    """The model name as the API spells it (``openai:<name>`` -> ``<name>``)."""
    return name[len("openai:") :] if name.startswith("openai:") else name


def training_jsonl(pairs: Sequence[TrainingPair]) -> bytes:
    """The chat-format JSONL OpenAI trains on: one user/assistant exchange per pair."""
    lines = (
        json.dumps({"messages": [{"role": "user", "content": p.prompt}, {"role": "assistant", "content": p.answer}]}, ensure_ascii=False)
        for p in pairs
    )
    return ("\n".join(lines) + "\n").encode()


def estimate_tokens(pairs: Sequence[TrainingPair]) -> int:
    """Training tokens per epoch, estimated without a tokenizer (~4 UTF-8 bytes a token, plus the chat format's overhead)."""
    total = 0
    for p in pairs:
        total += 3 + 2 * 4  # priming + per-message overhead
        total += math.ceil(len(p.prompt.encode()) / 4) + math.ceil(len(p.answer.encode()) / 4)
    return total


def auto_epochs(n_examples: int) -> int:
    """OpenAI's rule for ``n_epochs="auto"``: 3, stretched so small sets see ~100 examples (at most 25)."""
    if n_examples * 3 < 100:
        return min(25, math.ceil(100 / max(n_examples, 1)))
    if n_examples * 3 > 25000:
        return max(1, 25000 // n_examples)
    return 3


def api_message(exc: BaseException) -> str:
    """The API's own error text (``HTTP 400: <message>``), else the exception's."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    if isinstance(exc, openai.APIError):
        cause = exc.__cause__
        return f"{exc.message}" + (f" ({type(cause).__name__}: {cause})" if cause else "")
    return f"{type(exc).__name__}: {exc}"
