"""The provider protocol: tune a model once on a training set, answer many prompts in one call."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

# The system message every case is asked with: the local provider's chat template (training and
# answering) and the OpenAI-compatible servers that serve such models (the same messages, so the
# same weights give the same answers however they are served). SmolLM2's template adds a 20-token
# default system prompt when there is none. Official OpenAI and Together AI keep the user turn
# alone, as their models were trained and their recordings (no longer re-recordable) were made.
SYSTEM_PROMPT = "Answer briefly."


def chat_messages(text: str, system: str | None = SYSTEM_PROMPT) -> list[dict[str, str]]:
    """The chat messages a prompt is sent as: the system message (unless ``None``), then the user turn."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


@dataclass(frozen=True, slots=True)
class TrainingPair:
    """One supervised example: the prompt text as sent to the model and the answer to learn."""

    prompt: str
    answer: str


@dataclass(frozen=True)
class TuneSettings:
    """Hyperparameters; ``None`` leaves the provider's default. ``extra`` holds provider-specific ones."""

    epochs: int | None = None
    learning_rate: float | None = None  # an absolute rate (--ftb-learning-rate: local models, Together)
    batch_size: int | None = None
    seed: int = 0
    checkpoint_epochs: tuple[int, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    # a multiple of the service's default rate (--ftb-learning-rate-multiplier: OpenAI, Vertex AI)
    learning_rate_multiplier: float | None = None


@dataclass(frozen=True)
class TuneRequest:
    """What to tune: a model name as the provider spells it, the pairs and the settings."""

    model: str
    pairs: tuple[TrainingPair, ...]
    settings: TuneSettings = TuneSettings()

    def key(self, salt: str = "") -> str:
        """A stable hash of everything that determines the tuned weights (plus a provider salt)."""
        settings = asdict(self.settings)
        if settings["learning_rate_multiplier"] is None:  # so keys from before the field existed still hold
            del settings["learning_rate_multiplier"]
        blob = json.dumps(
            {
                "model": self.model,
                "pairs": [[p.prompt, p.answer] for p in self.pairs],
                "settings": settings,
                "salt": salt,
            },
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Endpoint:
    """Something that answers: a tuned model, a checkpoint or the base model.

    ``handle`` is the provider's own reference (an ``ft:`` id, a directory, ...).
    """

    model: str
    stage: str
    handle: Any
    precision: str | None = None  # local models: fp32 or bf16, what it was trained in
    generates_in: str | None = None  # local models: fp32 or bf16, what its answers are generated in


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt to answer; ``key`` lets the caller match answers back to items."""

    key: str
    text: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A model's reply; or why there is none: ``error`` (the API's own message), ``skip`` or ``tie``."""

    text: str | None
    error: str | None = None
    skip: str | None = None
    tie: str | None = None  # likelihood scoring: the choices' scores, too close to pick one (no text)


class ProviderError(Exception):
    """A provider-level failure (a failed job, a missing dependency); the message is shown as is."""


class Provider(Protocol):
    """What every provider implements. Implementations live one per module in this package; what a
    provider can do (train, speak HTTP, score by likelihood, ...) is said by its
    :class:`~pytest_finetunebench.providers.ProviderSpec`."""

    name: str

    def endpoints(self, request: TuneRequest, stages: Sequence[str]) -> Mapping[str, Endpoint]:
        """Tune once if any stage needs it (reusing earlier work), return one endpoint per stage.

        Raise :class:`ProviderError` with the API's message when tuning fails.
        """
        ...

    def answer(self, endpoint: Endpoint, prompts: Sequence[Prompt]) -> list[Answer]:
        """Answer all prompts (batched or concurrent), one :class:`Answer` per prompt, in order."""
        ...


class TextScorer(Protocol):
    """A provider that can give the likelihood of a plain text (forgetting by likelihood)."""

    def nll(self, endpoint: Endpoint, text: str) -> float:
        """The mean per-token negative log-likelihood of ``text`` (nats), in fp32."""
        ...


class Scorer(Protocol):
    """A provider that can also score closed questions by likelihood (``--ftb-scoring=likelihood``)."""

    def score(
        self, endpoint: Endpoint, prompts: Sequence[Prompt], choices: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """Per prompt, the log-likelihood of each of its choices as the whole reply (summed over tokens)."""
        ...
