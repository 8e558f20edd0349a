"""Test doubles for the providers' APIs (no network, no cost).

:mod:`.openai_emulator` speaks OpenAI's files and chat API (its fine-tuning jobs in
:mod:`.openai_jobs`); :mod:`.vertex_emulator` speaks Vertex AI (generateContent in
:mod:`.vertex_generate`, its tuning jobs in :mod:`.vertex_jobs`, the Cloud Storage upload in
:mod:`.gcs_emulator`); :mod:`.together_emulator` speaks Together AI's files and chat (its fine-tunes
in :mod:`.together_jobs`); :mod:`.server` holds the HTTP plumbing and test controls they share;
:mod:`.record_shipped` records the shipped cassettes against them. All of them memorize what they
were trained on and say they are test doubles: never present their output as a model's.
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
