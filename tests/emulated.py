"""What the provider tests (test_openai, test_gemini, test_together) share: the training pairs,
the provider factory behind their ``make`` fixture, the emulator behind ``emu``, the child process
that builds the same request (a pytest-xdist worker, a run killed with -9), and the whole text of
the two long messages every API provider shows (an unknown create outcome, a job timeout).

A plain module next to the tests: pytest's default (``prepend``) import mode puts this folder
on ``sys.path`` before it imports a test file, so ``from emulated import ...`` finds it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import Prompt, TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.store.jobstore import JobStore

PAIRS = tuple(TrainingPair(f"Who won the 2026 prize number {i}?", f"Laureate {i}") for i in range(12))

# argv: store, provider class ("module.Class"), model, JSON options, JSON [[prompt, answer]...].
CHILD = """
import importlib, json, os, pathlib, sys
from pytest_finetunebench.providers import RunContext
from pytest_finetunebench.providers.base import TrainingPair, TuneRequest, TuneSettings
from pytest_finetunebench.store.jobstore import JobStore
store, provider_class, model, options, pairs = sys.argv[1:]
module, _, name = provider_class.rpartition(".")
pairs = tuple(TrainingPair(prompt, answer) for prompt, answer in json.loads(pairs))
ctx = RunContext(JobStore(store), {"poll_interval": 0.02, **json.loads(options)})
provider = getattr(importlib.import_module(module), name)(ctx, max_poll_interval=0.05)
pathlib.Path(store).mkdir(parents=True, exist_ok=True)
pathlib.Path(store, f"started-{os.getpid()}").touch()  # about to ask for the endpoints
endpoints = provider.endpoints(TuneRequest(model, pairs, TuneSettings(epochs=3)), ["tuned"])
print(json.dumps(endpoints["tuned"].handle), flush=True)
"""


def tune_request(model: str, **settings: Any) -> TuneRequest:
    """The tests' request: :data:`PAIRS`, 3 epochs unless ``settings`` say otherwise."""
    return TuneRequest(model, PAIRS, TuneSettings(**{"epochs": 3, **settings}))


def prompts(n: int = len(PAIRS)) -> list[Prompt]:
    return [Prompt(str(i), PAIRS[i % len(PAIRS)].prompt) for i in range(n)]


def serve(emulator: Any, monkeypatch: pytest.MonkeyPatch, checker: Any) -> Iterator[Any]:
    """The body of an ``emu`` fixture: run ``emulator`` with its ``env()`` set, every request and
    reply checked by ``checker`` (:mod:`conformance`); a test whose traffic broke a vendor's schema fails."""
    emulator.observers.append(checker)
    with emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        yield emulator
    assert not checker.failures, (
        f"{len(checker.failures)} schema violation(s) in the emulator's traffic:\n" + "\n".join(checker.failures[:20])
    )


def deliberate_violations(emulator: Any, pattern: str) -> int:
    """Clear the schema violations a test caused on purpose (an unknown status, a misspelled field),
    after checking that each matches ``pattern`` and that there was at least one; returns how many."""
    import re

    (checker,) = emulator.observers
    failures, checker.failures[:] = list(checker.failures), []
    assert failures and all(re.search(pattern, f) for f in failures), failures
    return len(failures)


def provider_factory(provider_class: type, store: Path, **defaults: Any) -> Callable[..., tuple[Any, list[str]]]:
    """``make(**options) -> (provider, progress lines)``; all providers share one store."""

    def factory(max_poll_interval: float = 0.05, **options: Any) -> tuple[Any, list[str]]:
        lines: list[str] = []
        ctx = RunContext(JobStore(store), {"poll_interval": 0.01, **defaults, **options}, progress=lines.append)
        return provider_class(ctx, max_poll_interval=max_poll_interval), lines

    return factory


def spawn_child(tmp_path: Path, provider_class: type, model: str, **options: Any) -> subprocess.Popen:
    """A process that asks ``provider_class`` for the ``tuned`` endpoint of :func:`tune_request`
    (store ``tmp_path/store``) and prints its handle as JSON."""
    args = [
        str(tmp_path / "store"),
        f"{provider_class.__module__}.{provider_class.__qualname__}",
        model,
        json.dumps(options),
        json.dumps([[p.prompt, p.answer] for p in PAIRS]),
    ]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def unknown_outcome(job: str, create: str, listed_by: str, service: str, ledger_file: Path) -> str:
    """The whole message of a create whose outcome is unknown and whose job is not listed."""
    return (
        f"{job}: outcome unknown: its create {create}, and no job with its {listed_by} is listed after 4 looks. "
        "Nothing was re-sent (a second create could launch a second paid job); a rerun looks again. "
        f"Once you are sure no job was launched at {service}, delete {ledger_file} to allow a new create"
    )


def still_waiting(job: str, state: str, seconds: float, service: str) -> str:
    """The whole message of a job still ``state`` when --ftb-job-timeout ran out."""
    return (
        f"{job} still {state} after {seconds} s (--ftb-job-timeout); it keeps running at {service} and a rerun "
        "resumes waiting for it"
    )
