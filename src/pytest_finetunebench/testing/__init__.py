"""Test doubles for the providers' APIs (no network, no cost).

One package per vendor: :mod:`.openai` speaks OpenAI's files and chat API (its fine-tuning jobs in
:mod:`.openai.jobs`); :mod:`.vertex` speaks Vertex AI (generateContent in :mod:`.vertex.generate`,
its tuning jobs in :mod:`.vertex.jobs`, the Cloud Storage upload in :mod:`.vertex.storage`);
:mod:`.together` speaks Together AI's files and chat (its fine-tunes in :mod:`.together.jobs`);
:mod:`.server` holds the HTTP plumbing and test controls they share;
:mod:`.record_shipped` records the shipped cassettes against them. All of them memorize what they
were trained on and say they are test doubles: never present their output as a model's.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OpenAIEmulator", "VertexEmulator"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m pytest_finetunebench.testing.<vendor>.emulator`` runs each module only once.
    if name == "OpenAIEmulator":
        from .openai.emulator import OpenAIEmulator

        return OpenAIEmulator
    if name == "VertexEmulator":
        from .vertex.emulator import VertexEmulator

        return VertexEmulator
    raise AttributeError(name)
