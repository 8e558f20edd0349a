"""Provider registry: maps a model name, as the user types it, to the provider that serves it.

Provider modules are imported only when a model needs them, so each provider's SDK stays an
optional extra.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..store.jobstore import JobStore
from ..usercode import describe
from .base import SYSTEM_PROMPT, Provider, ProviderError, TuneRequest

OPENAI_URL = "https://api.openai.com/v1"  # OpenAI itself: its own rules apply, not a compatible server's


def _no_recording(provider: str, request: TuneRequest) -> AbstractContextManager[None]:
    return nullcontext()


def _no_replay(provider: str, request: TuneRequest | str) -> JobStore | None:
    return None


@dataclass
class RunContext:
    """What a provider gets from the session: the job store, the ``--ftb-*`` options, a progress line.

    ``recording(provider, request)`` wraps every call into a provider for the model ``request``
    tunes (the tuning and each answer batch), so HTTP traffic can be recorded or replayed.

    ``replay_store(provider, request)`` is the session's replay seam (set by the cassette
    recorder): ``None`` while calls for the model go live (or are being recorded), else the job
    store to use instead of ``store`` for job ledgers. Providers call :meth:`replaying` and
    :meth:`ledger_store`, not it.
    """

    store: JobStore
    options: Mapping[str, Any] = field(default_factory=dict)
    # providers added by plugins and conftest.py files (the ``pytest_ftb_providers`` hook), looked
    # up before the built-in ones
    extra: tuple[ProviderSpec, ...] = ()
    progress: Callable[[str], None] = lambda line: None
    recording: Callable[[str, TuneRequest], AbstractContextManager[None]] = _no_recording
    replay_store: Callable[[str, TuneRequest | str], JobStore | None] = _no_replay

    def replaying(self, provider: str, request: TuneRequest | str) -> bool:
        """Whether every HTTP call for ``request``'s model is answered from a cassette, none sent.

        ``request`` is the :class:`TuneRequest` (in ``endpoints``) or the model name (in
        ``answer``: ``endpoint.model``). While replaying, send no real credentials (nothing checks
        them; use static or anonymous ones, never a credential lookup) and skip sleeps.
        """
        return self.replay_store(provider, request) is not None

    def ledger_store(self, provider: str, request: TuneRequest | str) -> JobStore:
        """The job store for ``request``'s ledger records: :attr:`store`, or while replaying a
        private store of this session (empty at first, deleted at its end), so a replayed job is
        never recorded in, nor reused from, the live ledger."""
        found = self.replay_store(provider, request)
        return self.store if found is None else found


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: which names it serves, where its factory lives, which extra installs it."""

    name: str
    matches: Callable[[str, RunContext], bool]
    factory: str | Callable[[RunContext], Provider]  # "module:function" (imported when needed), or the function
    examples: tuple[str, ...]
    extra: str = ""
    trains: bool = True  # tunes models (a provider that replays answers does not: no recipe, no training pairs needed)
    http: bool = True  # speaks HTTP: its calls are recorded and replayed as cassettes
    scores: bool = False  # implements ``score`` (--ftb-scoring=likelihood)
    nll: bool = False  # implements ``nll`` (forgetting by likelihood: Δ NLL beside the retention split)
    untuned: bool = True  # has the untuned model (the base stage: --ftb-baseline, the retention split)
    replay_env: tuple[str, ...] = ()  # credentials its SDK insists on: a placeholder while a cassette replays
    sdks: tuple[str, ...] = ()  # the distributions that speak to its API: their versions go into its cassettes
    # the system message its prompts are sent (and trained) with; None: the user turn alone
    system_message: Callable[[], str | None] = lambda: None


def openai_system_message() -> str | None:
    """The system message of the openai provider: an OpenAI-compatible server gets the local provider's (the
    same weights, the same prompt); OpenAI itself none (as its models were tuned and its runs recorded)."""
    url = (os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
    return None if url == OPENAI_URL else SYSTEM_PROMPT


def _is_openai(name: str, ctx: RunContext) -> bool:
    return name.startswith(("gpt-", "ft:", "openai:", "o1", "o3", "o4", "davinci-", "babbage-"))


REGISTRY: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "published",
        lambda name, ctx: bool(ctx.options.get("responses")),
        "pytest_finetunebench.providers.published:create",
        ("<model> with --ftb-responses=DIR",),
        trains=False,
        http=False,
        untuned=False,
    ),
    ProviderSpec(
        "local",
        lambda name, ctx: name.startswith("local:"),
        "pytest_finetunebench.providers.local.provider:create",
        ("local:smollm2-135m", "local:<dir of a Hugging Face causal LM>"),
        "local",
        http=False,
        scores=True,
        nll=True,
        system_message=lambda: SYSTEM_PROMPT,
    ),
    ProviderSpec(
        "openai",
        _is_openai,
        "pytest_finetunebench.providers.openai.provider:create",
        ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "ft:..."),
        "openai",
        scores=True,  # yes/no by the first token's logprobs
        replay_env=("OPENAI_API_KEY",),
        sdks=("openai",),
        system_message=openai_system_message,
    ),
    ProviderSpec(
        "gemini",
        lambda name, ctx: name.startswith("gemini-"),
        "pytest_finetunebench.providers.gemini.provider:create",
        ("gemini-2.5-flash", "gemini-3.5-flash"),
        "gemini",
        replay_env=("GEMINI_API_KEY",),
        sdks=("google-genai", "google-cloud-storage"),
    ),
    ProviderSpec(
        "together",
        lambda name, ctx: name.startswith("together:"),
        "pytest_finetunebench.providers.together:create",
        ("together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "together:Qwen/Qwen3-8B"),
        "together",
        replay_env=("TOGETHER_API_KEY",),
        sdks=("together",),
    ),
)


def spec_for(model: str, ctx: RunContext) -> ProviderSpec:
    """The provider spec that serves ``model``; a one-line :class:`ProviderError` if none does."""
    for spec in (*ctx.extra, *REGISTRY):
        try:
            if spec.matches(model, ctx):
                return spec
        except Exception as exc:  # a team's spec: its own one line, not a traceback from every caller
            raise ProviderError(f"the {spec.name} provider's `matches` raised {describe(exc)} on `{model}`") from None
    known = "; ".join(f"{s.name}: {', '.join(s.examples)}" for s in (*ctx.extra, *REGISTRY))
    raise ProviderError(f"unknown model `{model}`; known models are {known}")


def create(model: str, ctx: RunContext) -> Provider:
    """Instantiate the provider for ``model`` (importing its module only now)."""
    spec = spec_for(model, ctx)
    if callable(spec.factory):
        return spec.factory(ctx)
    module_name, _, func = spec.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if spec in ctx.extra:  # a team's own provider: its module path or its dependencies
            raise ProviderError(
                f"model `{model}`: the {spec.name} provider's factory `{spec.factory}` cannot be imported ({exc.name} "
                "is missing); fix: correct the module in its ProviderSpec, or install what it needs"
            ) from None
        if exc.name and exc.name.startswith("pytest_finetunebench"):
            raise ProviderError(f"the {spec.name} provider is not part of this version") from None
        hint = f"pip install 'pytest-finetunebench[{spec.extra}]'" if spec.extra else "reinstall the plugin"
        raise ProviderError(
            f"model `{model}` needs the {spec.name} provider's dependencies ({exc.name} is missing); fix: {hint}"
        ) from None
    if not callable(factory := getattr(module, func, None)):
        raise ProviderError(
            f"model `{model}`: the {spec.name} provider's factory `{spec.factory}` names nothing callable in"
            f" {module_name}; fix: correct the function in its ProviderSpec"
        )
    return factory(ctx)
