"""Fixtures shared by the plugin's tests."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

# pytester's in-process runs (``runpytest``) drop every module first imported inside them. httpx2
# imports httpcore2 lazily and caches the exception classes of the first copy it saw, so an
# in-process run that loaded httpcore2 first left the rest of this process raising a second
# copy's exceptions that httpx2 no longer maps (a raw httpcore2.RemoteProtocolError instead of
# the SDK's APIConnectionError); numpy refuses outright to be imported a second time, and so do
# torch.distributed's op libraries (DTensor, FSDP, symmetric memory), which transformers' model
# loading imports. A real session imports each module once and cannot see this; importing these
# here, once, keeps the tests independent of their order.
for _lazy in ("httpcore2", "httpcore", "numpy", "transformers.modeling_utils"):
    try:
        importlib.import_module(_lazy)
    except ImportError:
        pass

# The paper's published data (no license): read here at test time, never copied into the repo. It
# sits in ../shared beside the clone; the nearest one up from here also serves mutmut's copy of the
# tests (mutants/tests, a level deeper).
_BESIDE = [folder / "shared" / "upstream-finetunebench" for folder in Path(__file__).resolve().parents[1:]]
UPSTREAM = next((path for path in _BESIDE if path.is_dir()), _BESIDE[1])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (skipped without one; bench/gpu_check.sh runs them)")


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs inside our tests must not append to a real CI job summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="session")
def clone() -> Path:
    """A FineTuneBench clone at ../shared/upstream-finetunebench.

    The tests that need it skip where it is absent, except under CI (``CI`` set), where a
    missing copy fails them: the grader's only checks on real published answers must not
    vanish silently.
    """
    if not ((UPSTREAM / "datasets").is_dir() and (UPSTREAM / "model_responses").is_dir()):
        message = f"no upstream FineTuneBench copy at {UPSTREAM}"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}; CI must provide ../shared beside the clone", pytrace=False)
        pytest.skip(message)
    return UPSTREAM


@pytest.fixture(autouse=True)
def _fresh_normalizer_cache() -> None:
    """Under mutation testing (mutmut sets MUTANT_UNDER_TEST) each mutant runs in a process forked
    from one whose normalizer cache is already warm: clear it, or a mutant of the code behind the
    cache would never run."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        from pytest_finetunebench.grading.normalize import analyze

        analyze.cache_clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under mutation testing, the unit tests run before those that run pytest inside pytest
    (pytester): mutmut stops a mutant's run at its first failing test (``-x``), so the fast tests
    should get the first chance to kill it."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        items.sort(key=lambda item: "pytester" in getattr(item, "fixturenames", ()))
