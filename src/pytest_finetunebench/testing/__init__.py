"""Test doubles for the providers' APIs (no network, no cost): see :mod:`.openai_emulator`."""

from __future__ import annotations

from typing import Any

__all__ = ["OpenAIEmulator"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m pytest_finetunebench.testing.openai_emulator`` runs the module only once.
    if name == "OpenAIEmulator":
        from .openai_emulator import OpenAIEmulator

        return OpenAIEmulator
    raise AttributeError(name)
