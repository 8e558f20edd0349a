"""Fixtures shared by the plugin's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# The paper's published data (no license): read here at test time, never copied into the repo.
UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream-finetunebench"


@pytest.fixture(scope="session")
def clone() -> Path:
    """A FineTuneBench clone at ../shared/upstream-finetunebench; the test skips where it is absent."""
    if not ((UPSTREAM / "datasets").is_dir() and (UPSTREAM / "model_responses").is_dir()):
        pytest.skip(f"no upstream FineTuneBench copy at {UPSTREAM}")
    return UPSTREAM
