"""Asking a Gemini model once: ``generate_content`` with retries, and the text or why there is none.

408, 429 and 5xx (and dropped connections) are retried with exponential backoff and jitter, a
``retry-after`` honored, each wait at most :data:`MAX_RETRY_DELAY`; an answer that still fails
records the API's message. An empty reply is never graded: :func:`answer_of` names why.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from google.genai import errors, types

from ..base import Answer, Prompt
from ..hosted.api import sleep
from .rules import TRANSPORT_ERRORS, api_message

MAX_RETRY_DELAY = 30.0
RETRY_CODES = frozenset({408, 429, 500, 502, 503, 504})


def answerer(
    client: Any, model: str, config: types.GenerateContentConfig, *, retries: int, first_delay: float
) -> Callable[[Prompt], Answer]:
    """A thread-safe function answering one prompt with ``model``, never raising."""

    def one(prompt: Prompt) -> Answer:
        for attempt in range(retries + 1):
            try:
                return answer_of(
                    client.models.generate_content(model=model, contents=prompt.text, config=config),
                    config.max_output_tokens,
                )
            except Exception as exc:  # every prompt gets an Answer: the API's message if it failed
                retryable = (isinstance(exc, errors.APIError) and exc.code in RETRY_CODES) or isinstance(
                    exc, TRANSPORT_ERRORS
                )
                if not retryable or attempt == retries:
                    return Answer(None, error=api_message(exc))
                sleep(retry_delay(exc, attempt, first_delay))
        raise AssertionError("unreachable")

    return one


def retry_delay(exc: BaseException, attempt: int, first_delay: float) -> float:
    """The wait before retry ``attempt`` (0-based): ``retry-after`` if given, else backoff with jitter; 0 if
    ``first_delay`` is."""
    if first_delay <= 0:
        return 0.0
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        after = float(headers.get("retry-after")) if headers.get("retry-after") else None
    except (TypeError, ValueError):
        after = None
    if after is not None:
        return min(after, MAX_RETRY_DELAY)
    return min(first_delay * 2**attempt, MAX_RETRY_DELAY) * (0.5 + random.random() / 2)


def answer_of(response: Any, cap: int | None) -> Answer:
    """The text of a reply; an error naming why there is none (blocked prompt, output cap, safety stop).

    An empty reply is never graded: it says nothing about what the model knows.
    """
    text = response.text
    if text:
        return Answer(text)
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        return Answer(
            None,
            error=f"Vertex AI blocked the prompt: {getattr(feedback.block_reason, 'value', feedback.block_reason)} "
            f"{feedback.block_reason_message or ''}".strip(),
        )
    candidate = response.candidates[0] if response.candidates else None
    finish = getattr(candidate.finish_reason, "value", candidate.finish_reason) if candidate is not None else None
    if finish == "MAX_TOKENS":
        thoughts = (
            getattr(response.usage_metadata, "thoughts_token_count", None)
            if response.usage_metadata is not None
            else None
        )
        spent = f" ({thoughts} of them on thinking)" if thoughts else ""
        return Answer(
            None,
            error=f"Vertex AI returned no text: the output cap of {cap} tokens was used up{spent} (finish reason "
            "MAX_TOKENS); raise --ftb-max-new-tokens",
        )
    return Answer(None, error=f"Vertex AI returned no text (finish reason {finish or 'none'})")
