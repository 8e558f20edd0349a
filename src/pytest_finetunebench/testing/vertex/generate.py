"""The answering half of the Vertex AI emulator: generateContent on base models and tuned endpoints.

:class:`GenerateContentMixin` is mixed into :class:`~.emulator.VertexEmulator`, which owns
the state it uses (``_endpoints``, ``_jobs``, the lock and ``thinking_tokens``). A tuned endpoint
answers a training prompt with its trained answer and anything else with ``NO_ANSWER``.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..server import Reply, json_reply
from .storage import google_reply, now, unknown_field

NO_ANSWER = "emulator: no trained answer"

# Retired models: asking one answers 404.
RETIRED_PREFIXES = ("gemini-1.0", "gemini-1.5", "gemini-2.0", "gemini-pro")
# Thinking tokens a 3.x answer spends before its text, by thinkingLevel (unset: the model's default).
THINKING_TOKENS = {None: 200, "MINIMAL": 8, "LOW": 64, "MEDIUM": 120, "HIGH": 200}
# Request fields generateContent knows (camelCase, as google-genai sends them); anything else is a 400.
# fmt: off
GENERATE_FIELDS = frozenset({"contents", "generationConfig", "systemInstruction", "safetySettings", "tools",
                             "toolConfig", "labels", "cachedContent", "continuationToken", "modelArmorConfig",
                             "outputConfig"})
# fmt: on


class GenerateContentMixin:
    """generateContent: the request check, the memorized answer, thinking tokens and the output cap."""

    _lock: Any
    _jobs: dict[str, dict[str, Any]]
    _endpoints: dict[str, dict[str, str]]
    thinking_tokens: dict[str | None, int]

    def _thinks(self, model: str) -> bool:
        """Whether ``model`` (a base model or a tuned endpoint) is a Gemini 3.x that thinks."""
        if "/endpoints/" not in model:
            return _thinks_by_name(model)
        with self._lock:
            return any(
                j.get("tunedModel") and j["baseModel"].startswith("gemini-3") and model in _endpoints_of(j)
                for j in self._jobs.values()
            )

    def _generate(self, model: str, p: dict) -> Reply:
        contents = p.get("contents") or []
        if refused := unknown_field(p, GENERATE_FIELDS):
            return refused
        if not contents:
            return google_reply(400, "Request contains an invalid argument: contents is not specified. (emulated)")
        if "/endpoints/" in model:
            with self._lock:
                memory = self._endpoints.get(model)
            if memory is None:
                return google_reply(404, f"Endpoint `{model}` not found. (emulated)")
        else:
            base = model.rsplit("/", 1)[-1]
            if not base.startswith("gemini-") or base.startswith(RETIRED_PREFIXES):
                return google_reply(
                    404,
                    f"Publisher Model `{model}` was not found or your project does not have access to it. (emulated)",
                )
            memory = {}
        user = next((c for c in reversed(contents) if c.get("role", "user") == "user"), {})
        prompt = "".join(part.get("text", "") for part in user.get("parts") or [])
        answer = memory.get(prompt, memory.get(prompt.strip(), NO_ANSWER))
        config = p.get("generationConfig") or {}
        finish = "STOP"
        limit = int(config["maxOutputTokens"]) if config.get("maxOutputTokens") else None
        # A 3.x model thinks first (tuned endpoints of 3.x models too), and thinking counts against the cap.
        thinks = self._thinks(model)
        thoughts = self.thinking_tokens.get(_thinking_level(config), self.thinking_tokens[None]) if thinks else 0
        if limit is not None and thoughts >= limit:
            thoughts, answer, finish = limit, "", "MAX_TOKENS"
        elif limit is not None and len(answer.split()) > limit - thoughts:
            answer, finish = " ".join(answer.split()[: limit - thoughts]), "MAX_TOKENS"
        content: dict[str, Any] = {"role": "model", "parts": [{"text": answer}]} if answer else {"role": "model"}
        usage = {
            "promptTokenCount": len(prompt) // 4 + 1,
            "candidatesTokenCount": len(answer) // 4 + 1 if answer else 0,
            "totalTokenCount": (len(prompt) + len(answer)) // 4 + 2 + thoughts,
        }
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return json_reply(
            200,
            {
                "candidates": [{"content": content, "finishReason": finish}],
                "usageMetadata": usage,
                "modelVersion": model.rsplit("/", 1)[-1],
                "createTime": now(),
                "responseId": secrets.token_urlsafe(12),
            },
        )


def _thinking_level(config: dict) -> str | None:
    """The thinking level asked for (google-genai writes this field in snake_case; the API takes both)."""
    thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
    return thinking.get("thinkingLevel", thinking.get("thinking_level"))


def _endpoints_of(job: dict) -> set[str]:
    tuned = job["tunedModel"]
    return {tuned["endpoint"], *(c["endpoint"] for c in tuned.get("checkpoints", []))}


def _thinks_by_name(model: str) -> bool:
    return model.rsplit("/", 1)[-1].startswith("gemini-3")
