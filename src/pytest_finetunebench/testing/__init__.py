"""Test doubles for the providers' APIs (no network, no cost).

:mod:`.openai_emulator` speaks OpenAI's files, fine-tuning and chat API; :mod:`.vertex_emulator`
speaks Vertex AI tuning and generateContent plus the Cloud Storage upload; :mod:`.server` holds
the HTTP plumbing and test controls they share. Both memorize what they were trained on and say
they are test doubles: never present their output as a model's.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OpenAIEmulator", "VertexEmulator"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m pytest_finetunebench.testing.<emulator>`` runs each module only once.
    if name == "OpenAIEmulator":
        from .openai_emulator import OpenAIEmulator

        return OpenAIEmulator
    if name == "VertexEmulator":
        from .vertex_emulator import VertexEmulator

        return VertexEmulator
    raise AttributeError(name)
